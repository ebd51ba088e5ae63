"""Build the standalone (one-folder) Inpaint Studio app with PyInstaller, then self-test it.

    python -m pip install -e ".[package]"     # PyInstaller, once
    python packaging/build.py                 # -> dist/inpaint-studio/inpaint-studio

Options: --dist DIR (where the app folder goes, default dist/), --work DIR (PyInstaller's
scratch folder, default build/pyinstaller), --clean (rebuild from scratch), --no-self-test.
Both default folders are ignored by git. Prints the app's size and the self-test's result;
exits non-zero when the build or the self-test fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "packaging" / "inpaint-studio.spec"
APP_FOLDER = "inpaint-studio"
MIN_PYINSTALLER = (6, 10)


def executable_name() -> str:
    return "inpaint-studio.exe" if sys.platform == "win32" else "inpaint-studio"


def app_executable(dist: Path) -> Path:
    """Where the built app's command is (inside the .app bundle on macOS)."""
    if sys.platform == "darwin":
        return dist / "Inpaint Studio.app" / "Contents" / "MacOS" / executable_name()
    return dist / APP_FOLDER / executable_name()


def folder_size(folder: Path) -> int:
    """Bytes on disk of every regular file below `folder` (links not followed)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def check_pyinstaller() -> str | None:
    """None when a recent enough PyInstaller is importable, else what to do about it."""
    hint = 'Install it with: python -m pip install -e ".[package]"  (or: python -m pip install "pyinstaller>=6.10")'
    if importlib.util.find_spec("PyInstaller") is None:
        return f"PyInstaller is not installed. {hint}"
    from PyInstaller import __version__ as version

    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < MIN_PYINSTALLER:
        return f"PyInstaller {version} is too old (need {'.'.join(map(str, MIN_PYINSTALLER))} or newer). {hint}"
    return None


def build(dist: Path, work: Path, clean: bool = False) -> Path:
    """Run PyInstaller on the spec; return the app's executable."""
    command = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work)]
    if clean:
        command.append("--clean")
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=REPO)
    executable = app_executable(dist)
    if not executable.is_file():
        raise SystemExit(f"build.py: the build finished but {executable} is missing")
    if sys.platform.startswith("linux"):
        # Beside the executable, so a user of the unpacked app can add it to the menu.
        shutil.copy2(REPO / "packaging" / "install-desktop-entry.sh", executable.parent / "install-desktop-entry.sh")
    return executable


def self_test(executable: Path) -> int:
    print(f"$ {executable} --self-test", flush=True)
    return subprocess.run([str(executable), "--self-test"], cwd=executable.parent).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the standalone Inpaint Studio app with PyInstaller.")
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="output folder (default: dist/)")
    parser.add_argument(
        "--work", type=Path, default=REPO / "build" / "pyinstaller", help="scratch folder (default: build/pyinstaller)"
    )
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache and scratch folder first")
    parser.add_argument("--no-self-test", action="store_true", help="do not run the built app's --self-test")
    args = parser.parse_args(argv)

    problem = check_pyinstaller()
    if problem:
        print(f"build.py: {problem}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        executable = build(args.dist.resolve(), args.work.resolve(), clean=args.clean)
    except subprocess.CalledProcessError as error:
        print(f"build.py: PyInstaller failed (exit status {error.returncode}); see its output above", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    app_folder = args.dist.resolve() / ("Inpaint Studio.app" if sys.platform == "darwin" else APP_FOLDER)
    print(f"Built {app_folder} in {seconds:.0f} s: {folder_size(app_folder) / 1e6:.0f} MB on disk. Run {executable}")
    if args.no_self_test:
        return 0
    status = self_test(executable)
    if status != 0:
        print(f"build.py: the built app's self-test failed (exit status {status})", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())

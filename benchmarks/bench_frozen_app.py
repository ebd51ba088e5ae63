"""The standalone app: bundle size, start to window shown (under Xvfb), self-test time; frozen vs normal install.

    python packaging/build.py                       # once: builds dist/inpaint-studio
    python benchmarks/bench_frozen_app.py [--runs 5] [--app dist/inpaint-studio/inpaint-studio]

Start-up: each run starts the app in a fresh process on an Xvfb display (X11, as on a Linux
desktop) with INPAINT_STUDIO_STARTUP_PROBE=1, which makes the window print how long after process
start it was first exposed and quit. Timed from outside too (launch to that line). Settings, data,
cache and log folders are private temporary ones, so no recovery prompt or saved state interferes.
Self-test: `--self-test` wall time, the frozen app's first run with an empty numba cache (it compiles
the PatchMatch kernels) and later runs with the cache warm, against the normal install.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_APP = REPO / "dist" / "inpaint-studio" / ("inpaint-studio.exe" if sys.platform == "win32" else "inpaint-studio")
START_TIMEOUT_S = 60
PROBE = re.compile(r"startup-probe: window shown ([0-9.]+) s after process start")


def bundle_size(folder: Path) -> tuple[float, float, int]:
    """(MB on disk, MB apparent, number of files) of `folder` (links not followed)."""
    blocks = apparent = count = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if path.is_symlink():
                continue
            st = path.stat()
            blocks += getattr(st, "st_blocks", 0) * 512 or st.st_size
            apparent += st.st_size
            count += 1
    return blocks / 1e6, apparent / 1e6, count


class Xvfb:
    """A private X server for the duration of a `with` block."""

    def __enter__(self) -> str:
        if shutil.which("Xvfb") is None:
            raise SystemExit("Xvfb is not installed (apt-get install xvfb)")
        read, write = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(write)
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise SystemExit("Xvfb did not start")
        return f":{number}"

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(10)


def private_env(base: Path, display: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "NUMBA_CACHE_DIR")}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[name] = str(base / name.lower())
    env["INPAINT_STUDIO_LOG_DIR"] = str(base / "logs")
    if display:
        env["DISPLAY"] = display
    else:
        env.pop("DISPLAY", None)
    return env


def start_to_window(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds reported by the app since its process started, seconds from launch to the report line)."""
    env = dict(env, INPAINT_STUDIO_STARTUP_PROBE="1")
    launched = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir()
    )
    watchdog = threading.Timer(START_TIMEOUT_S, process.kill)
    watchdog.start()
    try:
        for line in process.stdout:
            match = PROBE.search(line)
            if match:
                seen = time.perf_counter() - launched
                process.wait(60)
                return float(match.group(1)), seen
        process.wait(60)
    finally:
        watchdog.cancel()
    raise SystemExit(f"{command[0]} never reported its window (exit {process.returncode}): {process.stderr.read()[-2000:]}")


def self_test_seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command + ["--self-test"], env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"self-test failed:\n{result.stdout}{result.stderr}")
    return seconds


def describe(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", type=Path, default=DEFAULT_APP, help="the built app's executable")
    parser.add_argument("--runs", type=int, default=5, help="runs per start-up figure (default 5)")
    parser.add_argument("--self-test-runs", type=int, default=3, help="warm self-test runs (default 3)")
    args = parser.parse_args()
    if not args.app.is_file():
        raise SystemExit(f"{args.app} does not exist: build it with `python packaging/build.py`")

    frozen = [str(args.app)]
    normal = [sys.executable, "-m", "inpaint_studio"]
    disk, apparent, files = bundle_size(args.app.parent)
    print(f"bundle {args.app.parent}: {disk:.0f} MB on disk ({apparent:.0f} MB apparent), {files} files")

    with tempfile.TemporaryDirectory(prefix="bench-frozen-") as temp:
        base = Path(temp)
        with Xvfb() as display:
            for label, command in (("frozen app", frozen), ("normal install", normal)):
                env = private_env(base / label.replace(" ", "-"), display)
                start_to_window(command, env)  # warm the disk cache; not counted
                reported, launched = zip(*(start_to_window(command, env) for _ in range(args.runs)), strict=True)
                print(f"start to window shown, {label}: {describe(list(reported))} by the app; "
                      f"launch to report {describe(list(launched))}")

        for label, command in (("frozen app", frozen), ("normal install", normal)):
            env = private_env(base / f"selftest-{label.replace(' ', '-')}", None)
            cold = self_test_seconds(command, env)  # the frozen app's numba cache starts empty
            warm = [self_test_seconds(command, env) for _ in range(args.self_test_runs)]
            print(f"--self-test, {label}: first run {cold:.2f} s; then {describe(warm)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

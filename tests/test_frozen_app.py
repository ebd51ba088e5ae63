"""Build the standalone app with PyInstaller and check it like a user would (slow: about 3.5 minutes).

Runs wherever PyInstaller is installed (`pip install -e ".[package]"`; CI installs it) and is
skipped otherwise; `python -m pytest -m "not slow"` leaves it out. The build goes to a temporary
folder that is deleted afterwards (about 1.2 GB).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from PIL import Image

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("PyInstaller") is None, reason='PyInstaller is not installed (pip install -e ".[package]")'
    ),
]


def _load_build_script():
    spec = importlib.util.spec_from_file_location("packaging_build", REPO / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def frozen_app(tmp_path_factory):
    """The built app's executable; the whole build is removed after the module's tests."""
    root = tmp_path_factory.mktemp("frozen-app")
    build = _load_build_script()
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable, str(REPO / "packaging" / "build.py"),
            "--dist", str(root / "dist"), "--work", str(root / "work"), "--no-self-test",
        ],
        capture_output=True, text=True, cwd=REPO, timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    executable = build.app_executable(root / "dist")
    megabytes = build.folder_size(executable.parent) / 1e6
    print(f"\nbuilt {executable} in {time.perf_counter() - started:.0f} s, {megabytes:.0f} MB")
    shutil.rmtree(root / "work", ignore_errors=True)
    yield executable
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def user_env(tmp_path):
    """No display, and private settings, data, cache (numba's too) and log folders."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "NUMBA_CACHE_DIR")}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[name] = str(tmp_path / name.lower())
    env["INPAINT_STUDIO_LOG_DIR"] = str(tmp_path / "logs")
    return env


def test_the_bundle_passes_its_self_test(frozen_app, user_env, tmp_path):
    started = time.perf_counter()
    result = subprocess.run(
        [str(frozen_app), "--self-test"], capture_output=True, text=True, env=user_env, cwd=tmp_path, timeout=600
    )
    print(f"\n{result.stdout}(frozen self-test: {time.perf_counter() - started:.1f} s with an empty numba cache)")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test (frozen app;" in result.stdout
    assert "Self-test passed: 7 checks" in result.stdout
    # numba cached the compiled kernels in the user cache folder, not inside the bundle.
    cache = Path(user_env["XDG_CACHE_HOME"]) / "inpaint-studio" / "numba"
    assert any(cache.rglob("*.nbi"))
    assert not any(frozen_app.parent.rglob("*.nbi"))
    assert "frozen app" in (tmp_path / "logs" / "inpaint-studio.log").read_text()


def test_the_bundle_carries_resources_and_the_desktop_installer(frozen_app):
    resources = frozen_app.parent / "_internal" / "inpaint_studio" / "resources"
    for name in (
        "sample.jpg", "sample_mask.png", "inpaint-studio.desktop", "icons/inpaint-studio-256.png", "icons/inpaint-studio.svg"
    ):
        assert (resources / name).is_file(), name
    assert os.access(frozen_app.parent / "install-desktop-entry.sh", os.X_OK)
    internal = frozen_app.parent / "_internal"
    assert not (internal / "torch" / "include").exists() and not (internal / "tkinter").exists()
    # Neither the cluster extra nor the GTK stack that only Qt's (dropped) GTK theme plugin needs.
    assert not (internal / "ray").exists() and not (internal / "pyarrow").exists()
    assert not [path.name for path in internal.glob("lib*.so*") if path.name.startswith(("libgtk-3", "libgdk-3", "libcairo"))]


def test_the_bundle_carries_the_third_party_licences(frozen_app):
    """Regenerated for the bundle by the spec: where About reads it, and beside the executable."""
    notices = (frozen_app.parent / "_internal" / "inpaint_studio" / "resources" / "THIRD_PARTY_NOTICES.txt").read_text("utf-8")
    assert (frozen_app.parent / "THIRD_PARTY_NOTICES.txt").read_text("utf-8") == notices
    for expected in (
        "PySide6_Essentials", "LGPL-3.0", "GNU LESSER GENERAL PUBLIC LICENSE", "opencv-python-headless",
        "FFmpeg is redistributed", "torch", "numba", "llvmlite", "Python 3.", "pyinstaller",
    ):
        assert expected in notices, expected
    if shutil.which("dpkg"):  # the system libraries PyInstaller copied from this machine, with their copyright files
        assert "It includes the system libraries" in " ".join(notices[:3000].split()) and "(Debian package)" in notices
    if importlib.util.find_spec("pi_heif") is not None:
        assert "pi_heif" in notices and "libde265" in notices


def test_batch_with_two_worker_processes(frozen_app, user_env, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    sample = Image.open(REPO / "resources" / "sample.jpg")
    for i in range(3):
        sample.save(photos / f"launch{i}.jpg", quality=90)
    out = tmp_path / "out"
    result = subprocess.run(
        [
            str(frozen_app), "batch", str(photos), "--mask", str(REPO / "resources" / "sample_mask.png"),
            "-o", str(out), "--workers", "2", "--engine", "telea",
        ],
        capture_output=True, text=True, env=user_env, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 written, 0 skipped, 0 failed" in result.stdout
    for i in range(3):
        with Image.open(out / f"launch{i}.jpg") as written:
            assert written.size == sample.size
    # The spawned workers ran the batch and exited: no window, no stray process output.
    assert "Traceback" not in result.stderr


def test_the_window_starts_and_reports_its_start_up_time(frozen_app, user_env):
    env = dict(user_env, QT_QPA_PLATFORM="offscreen", INPAINT_STUDIO_STARTUP_PROBE="1")
    result = subprocess.run([str(frozen_app)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "startup-probe: window shown" in result.stdout
    print("\n" + result.stdout.strip())


def test_the_moebius_engine_reports_missing_weights_in_words(frozen_app, user_env, tmp_path):
    result = subprocess.run(
        [
            str(frozen_app), "remove", str(REPO / "resources" / "sample.jpg"),
            "--mask", str(REPO / "resources" / "sample_mask.png"), "-o", str(tmp_path / "o.jpg"), "--engine", "moebius",
        ],
        capture_output=True, text=True, env=user_env, timeout=300,
    )
    assert result.returncode == 1
    assert "inpaint-studio: error:" in result.stderr and "models download" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_file_gives_a_one_line_error(frozen_app, user_env, tmp_path):
    result = subprocess.run(
        [str(frozen_app), "remove", str(tmp_path / "missing.jpg"), "--mask", str(tmp_path / "m.png")],
        capture_output=True, text=True, env=user_env, timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("inpaint-studio: error:") and result.stderr.count("\n") == 1

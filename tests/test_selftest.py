"""`inpaint-studio --self-test` on the normal install: it passes here, and says what failed when something is broken."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from inpaint_studio.engines.fake import FakeEngine
from inpaint_studio.engines.registry import register_engine, unregister_engine
from inpaint_studio.selftest import CHECKS, run_self_test

CHECK_NAMES = [name for name, _, _ in CHECKS]
LEARNED = "learned-engine runtime"
DETECTOR = "damage detector"


def _run(**kwargs) -> tuple[int, str]:
    out = io.StringIO()
    status = run_self_test(out=out, **kwargs)
    return status, out.getvalue()


def test_the_command_passes_every_check_headless(tmp_path):
    # The real command in a fresh process, as a packager or user runs it (no display: DISPLAY unset).
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "inpaint_studio", "--self-test"], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Inpaint Studio 0.1.0 self-test (Python install")
    for name in CHECK_NAMES:
        assert any(line.strip().startswith(f"ok   {name}") for line in lines), (name, result.stdout)
    assert "PatchMatch (default engine)" in result.stdout
    assert "platform plugins: xcb" in result.stdout
    assert lines[-1].startswith("Self-test passed: 7 checks in ")
    assert list(cwd.iterdir()) == []  # the result went to a temporary folder that is gone
    assert "self-test passed" in (Path(os.environ["INPAINT_STUDIO_LOG_DIR"]) / "inpaint-studio.log").read_text()


def test_each_check_prints_its_time_and_what_it_found():
    status, text = _run(skip=(LEARNED,))
    assert status == 0, text
    result_line = next(line for line in text.splitlines() if "result checked" in line)
    assert " s  same size, 0 pixels changed away from the mask" in result_line
    assert LEARNED not in text


def test_a_fill_that_does_not_match_its_surroundings_fails(monkeypatch):
    register_engine(FakeEngine)  # fills the mast with magenta: written, but implausible
    monkeypatch.setattr("inpaint_studio.engines.registry.DEFAULT_ENGINE", "fake")
    try:
        status, text = _run(skip=(LEARNED, DETECTOR, "window (offscreen)"))
    finally:
        unregister_engine("fake")
    assert status == 1
    assert "FAIL result checked" in text
    assert "does not match its surroundings" in text
    assert text.splitlines()[-1].startswith("Self-test FAILED: 1 of 4 checks")


def test_a_failing_engine_is_reported_and_later_checks_are_not_run(monkeypatch):
    class Broken(FakeEngine):
        def inpaint(self, *args, **kwargs):
            raise RuntimeError("kaboom")

    register_engine(Broken)
    monkeypatch.setattr("inpaint_studio.engines.registry.DEFAULT_ENGINE", "fake")
    try:
        status, text = _run(skip=(LEARNED,))
    finally:
        unregister_engine("fake")
    assert status == 1
    # The worker reports a library's error in plain words (issue 18); its text goes to the log only.
    assert "FAIL default engine through the background worker" in text and "The engine stopped: an unexpected problem" in text
    assert "not run: needs 'default engine through the background worker'" in text
    assert "ok   sample photo and mask" in text


def test_missing_resources_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr("inpaint_studio.resources.FOLDER", tmp_path)
    status, text = _run(skip=(LEARNED,))
    assert status == 1
    assert f"{tmp_path / 'sample.jpg'} is missing from the installation" in text


def test_missing_detector_weights_are_named(monkeypatch, tmp_path):
    missing = tmp_path / "damage_detector.safetensors"
    monkeypatch.setattr("inpaint_studio.restore.damage_net.default_weights", lambda: missing)
    status, text = _run(skip=(LEARNED, "window (offscreen)"))
    assert status == 1
    assert f"FAIL {DETECTOR}" in text and f"{missing} is missing from the installation" in text


@pytest.mark.parametrize("argv", [["--self-test"], ["--debug", "--self-test"]])
def test_self_test_is_a_top_level_option(argv, monkeypatch):
    from inpaint_studio import cli

    calls = []
    monkeypatch.setattr("inpaint_studio.selftest.run_self_test", lambda: calls.append(1) or 0)
    assert cli.main(argv) == 0
    assert calls == [1]


def test_help_mentions_the_self_test(capsys):
    from inpaint_studio import cli

    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "--self-test" in capsys.readouterr().out


def test_the_frozen_entry_script_runs_the_same_command():
    result = subprocess.run(
        [sys.executable, str(REPO / "packaging" / "entry.py"), "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "inpaint-studio 0.1.0"

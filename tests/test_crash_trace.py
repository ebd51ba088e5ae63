"""Native crashes and Qt's own messages leave a trace in the log file.

A segmentation fault is caused on purpose in a child process (`ctypes.string_at(0)` reads address 0).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO


def _crash(tmp_path, body: str) -> subprocess.CompletedProcess:
    """Run `body` in a Python process whose log folder is tmp_path/logs, then crash it."""
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(body) + "\nimport ctypes\nctypes.string_at(0)\n", encoding="utf-8")
    env = dict(os.environ, INPAINT_STUDIO_LOG_DIR=str(tmp_path / "logs"))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)


@pytest.mark.skipif(sys.platform == "win32", reason="the access violation's code differs; the trace is the same")
def test_a_segfault_in_the_app_writes_its_traceback_to_the_log(tmp_path):
    result = _crash(
        tmp_path,
        """
        from inpaint_studio.session import logs
        logs.setup_logging()
        logs.trace_native_crashes()
        logs.log.info("before the rotation")
        logs._handler.doRollover()  # the trace follows the log file to its new self
        """,
    )
    assert result.returncode != 0
    log = (tmp_path / "logs" / "inpaint-studio.log").read_text(encoding="utf-8")
    assert "Fatal Python error: Segmentation fault" in log
    assert 'crash.py", line' in log  # the Python traceback of the thread that crashed
    assert "Fatal Python error" not in (tmp_path / "logs" / "inpaint-studio.log.1").read_text(encoding="utf-8")
    assert "Fatal Python error" not in result.stderr  # the log has it, not the terminal


@pytest.mark.skipif(sys.platform == "win32", reason="the access violation's code differs; the trace is the same")
def test_a_segfault_in_a_batch_worker_writes_its_traceback_to_the_log(tmp_path):
    (tmp_path / "logs").mkdir()  # the app made it
    result = _crash(
        tmp_path,
        """
        from inpaint_studio.batch.runner import BatchSettings, _init_worker
        _init_worker(BatchSettings(engine_id="telea"))
        """,
    )
    assert result.returncode != 0
    log = (tmp_path / "logs" / "inpaint-studio.log").read_text(encoding="utf-8")
    assert "Fatal Python error: Segmentation fault" in log and 'crash.py", line' in log


def test_qt_warnings_go_to_the_log_and_debug_messages_do_not(qapp, capsys):
    from PySide6.QtCore import qCritical, qDebug, qInstallMessageHandler, qWarning

    from inpaint_studio.session.logs import setup_logging
    from inpaint_studio.ui.application import route_qt_messages

    path = setup_logging()
    previous = route_qt_messages()
    try:
        qWarning("a test warning from Qt")
        qDebug("Qt chatter nobody needs")
        qCritical("a test error from Qt")
    finally:
        qInstallMessageHandler(previous)  # pytest-qt's own
    log = path.read_text(encoding="utf-8")
    assert "WARNING inpaint_studio.qt: a test warning from Qt" in log
    assert "ERROR inpaint_studio.qt: a test error from Qt" in log
    assert "Qt chatter" not in log
    # An error, which may be the last thing Qt says before it ends the process, is shown in the terminal too.
    assert capsys.readouterr().err == "inpaint-studio: Qt: a test error from Qt\n"

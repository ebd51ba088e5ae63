"""The log file and the crash handler (Qt-free), and the message box the window shows (offscreen)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from inpaint_studio.core import paths
from inpaint_studio.session import logs


@pytest.fixture
def crash_hooks():
    """Crash handlers installed for one test, Python's own restored afterwards."""
    reports = []
    logs.install_crash_handlers(reports.append)
    yield reports
    logs.uninstall_crash_handlers()


def _raise(exc: BaseException):
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001
        return type(caught), caught, caught.__traceback__


def test_the_log_goes_to_the_user_log_folder_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.LOG_DIR_ENV)
    monkeypatch.setattr("platformdirs.user_log_dir", lambda name, appauthor=None: str(tmp_path / "state" / name / "log"))
    assert logs.log_file() == tmp_path / "state" / "inpaint-studio" / "log" / "inpaint-studio.log"


def test_setup_logging_writes_a_rotating_log_in_the_log_folder(tmp_path):
    path = logs.setup_logging()
    assert path == Path(os.environ[paths.LOG_DIR_ENV]) / "inpaint-studio.log"  # a private folder (conftest)
    logging.getLogger("inpaint_studio.test").info("hello from a test")
    logging.getLogger("some.library").info("library chatter")  # below WARNING: not logged
    logs.shutdown_logging()
    text = path.read_text()
    assert "Inpaint Studio 0.1.0 starting (Python install" in text
    assert "INFO inpaint_studio.test: hello from a test" in text
    assert "library chatter" not in text


def test_setup_logging_is_idempotent_and_follows_the_folder(tmp_path, monkeypatch):
    first = logs.setup_logging()
    assert logs.setup_logging() == first
    assert sum(isinstance(h, logging.handlers.RotatingFileHandler) for h in logging.getLogger().handlers) >= 1
    monkeypatch.setenv(paths.LOG_DIR_ENV, str(tmp_path / "elsewhere"))
    second = logs.setup_logging()
    assert second == tmp_path / "elsewhere" / "inpaint-studio.log"
    assert logs.active_log_file() == second
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "baseFilename", None) == str(first)]
    assert handlers == []


def test_rotation_keeps_the_log_small(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "MAX_LOG_BYTES", 2000)
    path = logs.setup_logging()
    for i in range(200):
        logs.log.info("line %d %s", i, "x" * 50)
    logs.shutdown_logging()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["inpaint-studio.log", "inpaint-studio.log.1", "inpaint-studio.log.2", "inpaint-studio.log.3"]
    assert all(p.stat().st_size <= 2200 for p in path.parent.iterdir())


def test_a_log_folder_that_cannot_be_created_does_not_stop_the_app(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    monkeypatch.setenv(paths.LOG_DIR_ENV, str(blocker / "logs"))
    assert logs.setup_logging() is None
    assert str(blocker / "logs" / "inpaint-studio.log") in logs.setup_error()
    # A crash is then reported on stderr, traceback included, saying why there is no file.
    report = logs.report_crash(*_raise(ValueError("no disk")))
    assert report.log_path is None
    err = capsys.readouterr().err
    assert "ValueError: no disk" in err and "Traceback" in err
    assert "could not be written to a log file" in err


def test_report_crash_writes_the_traceback_and_tells_the_user_where(tmp_path, crash_hooks):
    path = logs.setup_logging()
    report = logs.report_crash(*_raise(KeyError("layer 7")))
    assert report.summary == "KeyError: 'layer 7'"
    assert report.log_path == path
    assert crash_hooks == [report]
    text = path.read_text()
    assert "CRITICAL inpaint_studio: Unexpected error on thread MainThread" in text
    assert "Traceback (most recent call last)" in text and "KeyError: 'layer 7'" in text
    message = report.message()
    assert "Inpaint Studio 0.1.0 ran into an unexpected problem: KeyError: 'layer 7'." in message
    assert str(path) in message


def test_sys_excepthook_is_routed_to_the_log(tmp_path, crash_hooks):
    path = logs.setup_logging()
    assert sys.excepthook is logs._excepthook
    sys.excepthook(*_raise(ZeroDivisionError("division by zero")))
    assert "ZeroDivisionError: division by zero" in path.read_text()
    assert crash_hooks[0].summary == "ZeroDivisionError: division by zero"


def test_an_exception_on_another_thread_is_logged_with_the_thread_name(tmp_path, crash_hooks):
    path = logs.setup_logging()

    def work():
        raise RuntimeError("worker broke")

    thread = threading.Thread(target=work, name="autosave-writer")
    thread.start()
    thread.join()
    assert crash_hooks and crash_hooks[0].thread == "autosave-writer"
    assert "Unexpected error on thread autosave-writer" in path.read_text()


def test_a_failing_notifier_falls_back_to_stderr(tmp_path, capsys):
    logs.setup_logging()

    def broken(report):
        raise RuntimeError("Qt is gone")

    logs.install_crash_handlers(broken)
    try:
        report = logs.report_crash(*_raise(OSError("disk")))
    finally:
        logs.uninstall_crash_handlers()
    err = capsys.readouterr().err
    assert report.message() in err and "Qt is gone" in err


def test_keyboard_interrupt_keeps_pythons_behaviour(crash_hooks, monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "__excepthook__", lambda *exc: seen.append(exc[0]))
    sys.excepthook(*_raise(KeyboardInterrupt()))
    assert seen == [KeyboardInterrupt] and crash_hooks == []


def test_an_uncaught_exception_in_a_process_ends_up_in_the_log(tmp_path):
    code = (
        "from inpaint_studio.session import logs\n"
        "logs.setup_logging(); logs.install_crash_handlers()\n"
        "def deep(): raise LookupError('nothing here')\n"
        "deep()\n"
    )
    env = dict(os.environ, INPAINT_STUDIO_LOG_DIR=str(tmp_path / "proc-logs"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    log_path = tmp_path / "proc-logs" / "inpaint-studio.log"
    assert "in deep" in log_path.read_text() and "LookupError: nothing here" in log_path.read_text()
    assert f"The details were written to the log file {log_path}" in result.stderr


def test_the_cli_logs_an_internal_error_and_names_the_file(monkeypatch, capsys, tmp_path):
    from inpaint_studio import cli

    def broken(args):
        raise AttributeError("'NoneType' object has no attribute 'width'")

    monkeypatch.setattr(cli, "cmd_engines", broken)
    assert cli.main(["engines"]) == 1
    err = capsys.readouterr().err
    log_path = Path(os.environ[paths.LOG_DIR_ENV]) / "inpaint-studio.log"
    assert f"the traceback is in {log_path}" in err
    assert "in broken" in log_path.read_text()


# ------------------------------------------------------------------ the window's message box


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_is_logged_and_shown_in_a_message_box(qtbot, tmp_path):
    from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

    from inpaint_studio.ui.crash_dialog import CrashNotifier

    path = logs.setup_logging()
    notifier = CrashNotifier()
    qtbot.waitUntil(lambda: notifier.event_loop_running)  # the box must not block the event loop
    logs.install_crash_handlers(notifier.notify)
    try:
        button = QPushButton("Remove")
        qtbot.addWidget(button)

        def slot():
            raise ValueError("mask and photo differ in size")

        button.clicked.connect(slot)
        button.click()  # PySide calls sys.excepthook for the slot's exception and carries on
        qtbot.waitUntil(lambda: notifier.box is not None and notifier.box.isVisible())
        box = notifier.box
        assert box.icon() == QMessageBox.Icon.Critical
        assert "ValueError: mask and photo differ in size" in box.text()
        assert str(path) in box.text()
        assert "in slot" in box.detailedText()
        assert "ValueError: mask and photo differ in size" in path.read_text()
        assert any(b.text() == "Open Log Folder" for b in box.buttons())

        # A second error while the box is open is logged, not shown again.
        button.click()
        QApplication.processEvents()
        assert path.read_text().count("mask and photo differ in size") >= 2
        assert notifier.shown == 1
        box.close()
        qtbot.waitUntil(lambda: notifier.box is None)
    finally:
        logs.uninstall_crash_handlers()


def test_a_report_from_a_worker_thread_reaches_the_gui_thread(qtbot, tmp_path):
    from PySide6.QtCore import QThread

    from inpaint_studio.ui.crash_dialog import CrashNotifier

    logs.setup_logging()
    notifier = CrashNotifier()
    qtbot.waitUntil(lambda: notifier.event_loop_running)
    shown_on = []
    notifier.reported.connect(lambda report: shown_on.append(QThread.currentThread()))
    report = logs.CrashReport("RuntimeError: x", "Traceback ...", "engine-worker", Path(tmp_path / "x.log"))
    thread = threading.Thread(target=notifier.notify, args=(report,))
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: notifier.box is not None)
    assert shown_on == [notifier.thread()]
    notifier.box.close()

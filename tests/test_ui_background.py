"""Reports from worker threads reach the GUI thread, and a deleted owner never crashes them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from PySide6.QtCore import QCoreApplication, QEvent, QObject

from inpaint_studio.ui.background import on_gui_thread, run_in_background

# Threads report as fast as they can while the GUI thread deletes their owner, many times over: the
# way a dialog closed during detection is deleted while the detection still reports progress.
# Emitting on the owner's own object raced its destructor and crashed CI (exit 139) one run in a few.
_RACE = textwrap.dedent(
    """
    import sys, threading, time
    from PySide6.QtCore import QCoreApplication, QEvent, QObject
    from inpaint_studio.ui.background import on_gui_thread

    app = QCoreApplication(sys.argv)
    for _ in range(400):
        owner = QObject()
        send = on_gui_thread(owner, lambda *args: None)
        stop = threading.Event()

        def report():
            while not stop.is_set():
                send(1)

        threads = [threading.Thread(target=report) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(0.002)
        owner.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
        app.processEvents()
        stop.set()
        for thread in threads:
            thread.join()
    print("survived")
    """
)


def test_threads_reporting_while_their_owner_is_deleted_do_not_crash():
    run = subprocess.run([sys.executable, "-c", _RACE], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-2000:]}"
    assert "survived" in run.stdout


def test_a_report_runs_on_the_gui_thread_while_its_owner_lives(qtbot):
    owner = QObject()
    arrived: list[tuple[int, bool]] = []
    send = on_gui_thread(owner, lambda value: arrived.append((value, threading.current_thread() is threading.main_thread())))
    thread = threading.Thread(target=send, args=(7,))
    thread.start()
    thread.join()
    assert arrived == []  # queued, not run on the reporting thread
    qtbot.waitUntil(lambda: arrived == [(7, True)], timeout=2000)


def test_a_report_whose_owner_was_deleted_is_dropped(qtbot):
    owner = QObject()
    arrived: list[int] = []
    send = on_gui_thread(owner, arrived.append)
    thread = threading.Thread(target=send, args=(1,))
    thread.start()
    thread.join()  # the report is queued ...
    owner.deleteLater()  # ... and the owner goes before it is delivered
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    qtbot.wait(50)
    assert arrived == []


def test_background_work_delivers_its_result_or_its_error(qtbot):
    owner = QObject()
    results: list[object] = []
    run_in_background(owner, lambda: 6 * 7, results.append, results.append, name="answer")
    run_in_background(owner, lambda: 1 / 0, results.append, results.append, name="broken")
    qtbot.waitUntil(lambda: len(results) == 2, timeout=2000)
    assert 42 in results
    assert any(isinstance(result, ZeroDivisionError) for result in results)


def test_reports_do_not_keep_their_owner_alive(qtbot):
    import gc
    import weakref

    arrived: list[int] = []
    owner = QObject()
    gone = weakref.ref(owner)
    send = on_gui_thread(owner, arrived.append)
    del owner
    gc.collect()
    assert gone() is None  # Python owned it: the pending-report machinery did not keep it
    send(1)
    qtbot.wait(50)
    assert arrived == []

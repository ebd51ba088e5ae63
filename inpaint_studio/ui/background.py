"""Work off the GUI thread, and the one way back to it.

Widgets may only be touched on the GUI thread, while engines, detectors,
downloads, autosaves and thumbnails report from threads of their own. Every
such report comes back through `on_gui_thread`: a Qt signal queued to the
GUI thread through one dispatcher that is never deleted; a report whose owner
was deleted meanwhile (a dialog closed) is dropped there, on the GUI thread.
`run_in_background` starts a job on a daemon thread and delivers its result or
its error that way.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal
from shiboken6 import isValid

T = TypeVar("T")


class _GuiCalls(QObject):
    """Runs the callables it is sent on the thread it lives on (the GUI thread)."""

    call = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    @staticmethod
    def _run(function: Callable[[], object]) -> None:
        function()


_dispatcher: _GuiCalls | None = None


def _gui_calls() -> _GuiCalls:
    """The one dispatcher, living on the GUI thread and never deleted.

    Threads must never emit on an object the GUI thread may be deleting: emitting races
    the destructor and crashes the process (a dialog closed while its detection still
    reports progress did, in CI). So all reports go through this object, and whether the
    owner still exists is asked on the GUI thread, where owners are deleted.
    """
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = _GuiCalls()
        application = QCoreApplication.instance()
        if application is not None:
            _dispatcher.moveToThread(application.thread())
    return _dispatcher


def on_gui_thread(owner: QObject, callback: Callable[..., object]) -> Callable[..., None]:
    """A function any thread may call: it runs `callback` with the same arguments on the GUI thread.

    Calls stop arriving once `owner` is deleted.
    """
    calls = _gui_calls()
    alive = weakref.ref(owner)  # the reports do not keep the owner alive

    def deliver(args: tuple[Any, ...]) -> None:
        current = alive()
        if current is not None and isValid(current):  # on the GUI thread: not deleted while this runs
            callback(*args)

    def send(*args: Any) -> None:
        calls.call.emit(functools.partial(deliver, args))

    return send


def run_in_background(
    owner: QObject,
    work: Callable[[], T],
    done: Callable[[T], object],
    failed: Callable[[Exception], object],
    name: str,
) -> threading.Thread:
    """Run `work()` on a daemon thread named `name`; `done(result)` or `failed(error)` follow on the GUI thread."""
    deliver_result = on_gui_thread(owner, done)
    deliver_error = on_gui_thread(owner, failed)

    def run() -> None:
        try:
            result = work()
        except Exception as error:  # noqa: BLE001 - handed to `failed`, never lost on this thread
            deliver_error(error)
        else:
            deliver_result(result)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread

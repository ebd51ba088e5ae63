"""Work off the GUI thread, and the one way back to it.

Widgets may only be touched on the GUI thread, while engines, detectors,
downloads, autosaves and thumbnails report from threads of their own. Every
such report comes back through `on_gui_thread`: a Qt signal queued to the
GUI thread, owned by a QObject whose life bounds the delivery (a dialog closed
meanwhile receives nothing). `run_in_background` starts a job on a daemon
thread and delivers its result or its error that way.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal

T = TypeVar("T")


class _GuiCalls(QObject):
    """Runs the callables it is sent on the thread it lives on (the GUI thread)."""

    call = Signal(object)

    def __init__(self, owner: QObject) -> None:
        super().__init__(owner)
        self.call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    @staticmethod
    def _run(function: Callable[[], object]) -> None:
        function()


def on_gui_thread(owner: QObject, callback: Callable[..., object]) -> Callable[..., None]:
    """A function any thread may call: it runs `callback` with the same arguments on the GUI thread.

    Calls stop arriving once `owner` is deleted. Create it on the GUI thread.
    """
    calls = _GuiCalls(owner)

    def send(*args: Any) -> None:
        try:
            calls.call.emit(functools.partial(callback, *args))
        except RuntimeError:  # the owner (and with it `calls`) was deleted meanwhile
            pass

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

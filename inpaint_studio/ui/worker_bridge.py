"""Delivers the engine worker's messages to the GUI thread.

`EngineWorker` calls its callback on the worker thread; emitting a Qt signal
from there queues the message to the receiver's (GUI) thread, so handlers can
touch widgets safely.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from inpaint_studio.worker import EngineWorker, FillRequest


class WorkerBridge(QObject):
    message = Signal(object)  # a WorkerMessage, delivered on the GUI thread

    def __init__(self, parent: QObject | None = None, model_store=None) -> None:
        super().__init__(parent)
        self.worker = EngineWorker(self.message.emit, model_store=model_store)

    def submit(self, request: FillRequest) -> int:
        return self.worker.submit(request)

    def cancel(self, job_id: int | None = None) -> None:
        self.worker.cancel(job_id)

    @property
    def busy(self) -> bool:
        return self.worker.busy

    def shutdown(self) -> None:
        self.worker.shutdown()

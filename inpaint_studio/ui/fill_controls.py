"""A fill as the window shows it: Remove, the progress bar and Cancel, the emerging preview, the outcome.

Which document a fill lands on and when a run asked for meanwhile starts are
the session's rules (`session.fills`); this turns the worker's messages into
what the user sees.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMainWindow, QMessageBox, QProgressBar, QPushButton

from inpaint_studio.core.retouch import retouch_layer
from inpaint_studio.session.fills import FillAsk
from inpaint_studio.session.workspace import Workspace
from inpaint_studio.ui.canvas import CanvasView
from inpaint_studio.ui.engine_controls import EngineControls
from inpaint_studio.worker import JobCancelledMessage, JobFailed, JobFinished, JobPreview, JobProgress, JobStarted, WorkerMessage

Status = Callable[[str, int], None]


class FillControls(QObject):
    filled = Signal(object)  # the layer a fill landed in (new, its tries', Retouch), on the document shown

    def __init__(
        self, workspace: Workspace, engines: EngineControls, canvas: CanvasView, window: QMainWindow, status: Status
    ) -> None:
        super().__init__(window)
        self.workspace, self.engines, self.canvas, self.window, self.status = workspace, engines, canvas, window, status
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setFixedWidth(220)
        self._started = 0.0  # when the fill in flight started (time.monotonic)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the fill (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        window.statusBar().addPermanentWidget(self.progress)
        window.statusBar().addPermanentWidget(self.cancel_button)

    def run(self) -> None:
        """Fill the shown document's mask with the selected engine, in the background."""
        ask = self.workspace.ask_fill()
        if ask == FillAsk.NOTHING:
            self.status("Paint over what you want to remove first.", 4000)
        elif ask == FillAsk.NOW and self.engines.ensure_models():
            self.workspace.start_fill(self.engines.engine_id, self.engines.device, self.engines.params)

    def cancel(self) -> None:
        self.workspace.fills.cancel()

    def handle(self, message: WorkerMessage) -> None:
        """A message from the worker, on the GUI thread."""
        fills = self.workspace.fills
        job = fills.handle(message)
        if job is None:
            return  # from a job that was cancelled or replaced
        shown = job.document is self.workspace.document
        if isinstance(message, JobStarted):
            self._started = time.monotonic()
            self.progress.setValue(0)
            self.progress.setFormat("Filling… %p%")
            self.progress.show()
            self.cancel_button.show()
        elif isinstance(message, JobProgress):
            self.progress.setValue(round(message.fraction * 100))
            self.progress.setFormat(f"Filling… %p%{time_left(time.monotonic() - self._started, message.fraction)}")
        elif isinstance(message, JobPreview):
            if shown:  # never drawn over another photo of the folder
                self.canvas.set_preview_patch(message.patch)
            return
        if fills.busy:
            return
        self.canvas.set_preview_patch(None)
        self.progress.hide()
        self.cancel_button.hide()
        if isinstance(message, JobFinished):
            landed = retouch_layer(job.document) if job.retouch else job.try_of or job.document.layers[-1]
            if shown and landed is not None:
                self.filled.emit(landed)
            note = f" {message.notice}" if message.notice else ""
            where = "" if shown else f" {job.document.photo.path.name}"
            self.status(f"{message.engine_name}: filled{where} in {message.seconds:.2f} s.{note}", 8000 if note else 4000)
        elif isinstance(message, JobFailed):
            QMessageBox.warning(self.window, "The fill failed", message.message)
        elif isinstance(message, JobCancelledMessage):
            self.status("Cancelled.", 3000)
        if fills.take_wanted(self.workspace.document):
            self.run()


def time_left(elapsed: float, fraction: float) -> str:
    """' · about 12 s left', once the progress so far says enough to tell (else nothing)."""
    if elapsed < 1.0 or fraction < 0.05 or fraction >= 1.0:
        return ""
    seconds = elapsed * (1.0 - fraction) / fraction
    if seconds < 1.5:
        return " · almost done"
    return f" · about {seconds:.0f} s left" if seconds < 90 else f" · about {seconds / 60:.0f} min left"

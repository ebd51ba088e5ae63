"""Object selection with Segment Anything (MobileSAM) in the window: clicks and a box become a candidate.

The photo shown (the document's composite) is embedded once, in the background, when the
method is chosen with the object selection tool, when another photo is shown, and again
on the next prompt after the composite changed (a fill landed): the GUI never waits on it,
and a prompt given meanwhile is kept and answered once the photo is ready. Each prompt
(a click on the object, Alt+click on what is not, a dragged box) adds to the ones before,
and the mask for all of them is predicted off the GUI thread, the newest prompts winning.
The result is only a candidate, drawn in its own colour over the photo: the selection tools
add it to the mask (Enter, or Add) or drop it (Esc, or another tool, method or photo).

torch is imported only by the background job that loads the model, never by this module.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMessageBox

from inpaint_studio.core.boxes import Box
from inpaint_studio.core.document import Document, DocumentEvent
from inpaint_studio.core.errors import InpaintStudioError, JobCancelled
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.models import ModelStore
from inpaint_studio.selection.sam import MODEL_ID
from inpaint_studio.ui.background import run_in_background
from inpaint_studio.ui.canvas import CanvasView

if TYPE_CHECKING:  # imports torch: only the background job loads it
    from inpaint_studio.selection.sam.session import SamSession

log = logging.getLogger(__name__)

GRABCUT, SAM = "grabcut", "sam"  # object selection's methods, as the settings store them
METHOD_NAMES = {GRABCUT: "GrabCut", SAM: "Segment Anything (MobileSAM)"}
SAM_NAME = "Segment Anything"
LABEL = "Object selection (Segment Anything)"  # the undo step
CANDIDATE = "candidate"  # the canvas overlay's name
CANDIDATE_COLOR = QColor(0, 215, 255)  # cyan: apart from the mask's magenta
CANDIDATE_OPACITY = 0.45
PREPARING = "Preparing the photo for Segment Anything…"

Click = tuple[float, float, bool]  # x, y in photo pixels, True for a part of the object
Target = tuple[Document, int]  # a document and the version of its composite


class ModelOffer(Protocol):
    """Where the model store is, and the question that offers a missing model (EngineControls)."""

    model_store: ModelStore

    def ensure_model(self, model_id: str, needed_by: str) -> bool: ...


class SamSelect(QObject):
    candidate_changed = Signal(bool)  # a candidate is shown (True) or not
    message = Signal(str, int)  # status bar text, and for how many milliseconds (0: until replaced)
    unavailable = Signal()  # the model is missing or cannot be used: object selection goes back to GrabCut

    def __init__(self, canvas: CanvasView, models: ModelOffer) -> None:
        super().__init__(canvas)
        self.canvas, self.models = canvas, models
        self.document: Document | None = None
        self.active = False  # the method is chosen: prepare photos, answer prompts
        self.candidate: np.ndarray | None = None
        self._session: SamSession | None = None  # loaded on first use, kept
        self._version = 0  # grows when another photo is shown or the composite changes
        self._ready: Target | None = None  # what the session's embedding is of
        self._preparing: tuple[Target, CancelToken] | None = None  # an embedding in flight
        self._points: list[Click] = []
        self._box: Box | None = None
        self._request = 0  # grows with every change of the prompts: older predictions are dropped
        self._predicting = False

    # ------------------------------------------------------------ state

    @property
    def busy(self) -> bool:
        """Prompts were given: a candidate is shown or on its way."""
        return bool(self._points) or self._box is not None or self.candidate is not None

    @property
    def ready(self) -> bool:
        return self._ready is not None and self._ready == self._target()

    @property
    def prompts(self) -> tuple[list[Click], Box | None]:
        return list(self._points), self._box

    def model_installed(self) -> bool:
        return self.models.model_store.is_installed(MODEL_ID)

    def ensure_model(self) -> bool:
        """True when the model is installed, after offering the download; otherwise says so (GrabCut stays)."""
        if self.models.ensure_model(MODEL_ID, f"{SAM_NAME} (click-to-select)"):
            return True
        text = f"Object selection uses GrabCut: {SAM_NAME} needs its model. Run > Models… downloads or imports it."
        self.message.emit(text, 10000)
        return False

    def set_document(self, document: Document | None) -> None:
        self.drop()
        if self.document is not None and self._document_changed in self.document.listeners:
            self.document.listeners.remove(self._document_changed)
        self.document = document
        if document is not None:
            document.listeners.append(self._document_changed)
        self._version += 1
        self._ready = None  # the embedding is of another photo now
        self._cancel_preparing()

    def _document_changed(self, what: DocumentEvent, box: Box | None) -> None:
        if what == DocumentEvent.IMAGE:
            self._version += 1  # the composite changed: embedded again on the next prompt

    def _target(self) -> Target | None:
        return (self.document, self._version) if self.document is not None else None

    def deactivate(self) -> None:
        """Another method: drop the prompts and stop preparing (the loaded model is kept)."""
        self.active = False
        self.drop()
        self._cancel_preparing()

    def _cancel_preparing(self) -> None:
        if self._preparing is not None:
            self._preparing[1].cancel()

    # ------------------------------------------------------------ the embedding

    def prepare(self) -> None:
        """Embed the photo shown in the background, unless that is done or under way."""
        target = self._target()
        if not self.active or target is None or self.ready:
            return
        if self._preparing is not None:
            if self._preparing[0] != target:
                self._preparing[1].cancel()  # an older photo: when it stops, this one starts
            return
        session = self._session
        path = None
        if session is None:
            if not self.ensure_model():
                self._give_up()
                return
            try:
                path = self.models.model_store.require(MODEL_ID)
            except InpaintStudioError as error:
                self._failed(error)
                return
        cancel = CancelToken()
        self._preparing = (target, cancel)
        image = target[0].composite.copy()  # the job reads it while editing goes on

        def work() -> tuple[SamSession, bool]:
            loaded = session
            if loaded is None:
                from inpaint_studio.engines.devices import resolve_device
                from inpaint_studio.selection.sam.session import SamSession  # imports torch, here off the GUI thread

                assert path is not None
                loaded = SamSession(path, resolve_device("auto", ("cpu", "cuda", "mps"), "MobileSAM"))
            try:
                loaded.embed(image, cancel)
            except JobCancelled:
                return loaded, False  # the model stays loaded for the photo that replaced this one
            return loaded, True

        run_in_background(self, work, lambda result: self._prepared(result, target), self._prepare_failed, name="sam-embed")
        self.message.emit(PREPARING, 0)

    def _prepared(self, result: tuple[SamSession, bool], target: Target) -> None:
        self._session, embedded = result
        self._preparing = None
        if not self.active:
            return
        if not embedded or target != self._target():
            self.prepare()  # the photo or its composite changed meanwhile
            return
        self._ready = target
        if self._points or self._box is not None:
            self.message.emit("", 0)  # the note that the photo is being prepared
            self._predict()  # what was clicked while the photo was prepared
        else:
            self.message.emit(f"{SAM_NAME} is ready: click the object (Alt/Ctrl+click: not it), or drag a box.", 5000)

    def _prepare_failed(self, error: Exception) -> None:
        self._preparing = None
        self._failed(error)

    def _failed(self, error: Exception) -> None:
        """The model cannot be used (a damaged file, a device error): say so plainly, and back to GrabCut."""
        if not isinstance(error, InpaintStudioError):
            log.error("Segment Anything failed", exc_info=error)
        text = str(error) if isinstance(error, InpaintStudioError) else f"{SAM_NAME} failed: {error}"
        self._session = None
        self._give_up(f"Object selection uses GrabCut: {SAM_NAME} could not run.")  # before the box, which waits
        QMessageBox.warning(self.canvas.window(), SAM_NAME, f"{text}\n\nObject selection uses GrabCut instead.")

    def _give_up(self, text: str | None = None) -> None:
        self.deactivate()
        self.unavailable.emit()
        if text:
            self.message.emit(text, 8000)

    # ------------------------------------------------------------ prompts and the candidate

    def add_point(self, x: float, y: float, inside: bool) -> None:
        """A click: (x, y) is part of the object (inside) or not."""
        if self.document is None or not (0 <= x < self.document.mask.shape[1] and 0 <= y < self.document.mask.shape[0]):
            self._draw_box()
            return
        self._points.append((x, y, inside))
        self._prompts_changed()

    def set_box(self, box: Box) -> None:
        """A dragged box around the object (replacing an earlier one; the clicks stay)."""
        if self.document is None:
            return
        height, width = self.document.mask.shape
        x0, y0, x1, y1 = max(box.x0, 0), max(box.y0, 0), min(box.x1, width), min(box.y1, height)
        if x1 <= x0 or y1 <= y0:
            return
        self._box = Box(x0, y0, x1, y1)
        self._prompts_changed()

    def _draw_box(self) -> None:
        """The box stays drawn while the candidate is refined."""
        if self._box is not None:
            x0, y0, x1, y1 = self._box
            self.canvas.set_preview_path([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], closed=True)

    def _prompts_changed(self) -> None:
        self._request += 1
        self._draw_box()
        if not self.active:
            return
        if self.ready:
            self._predict()
        else:
            self.prepare()  # the prompts are kept and answered once the photo is ready
            if self._preparing is not None:
                self.message.emit(PREPARING, 0)

    def _predict(self) -> None:
        """The mask for the prompts, off the GUI thread; one at a time, the newest prompts next."""
        if self._predicting or not self.ready or self._session is None or not (self._points or self._box is not None):
            return
        session, document, request = self._session, self.document, self._request
        points, box = list(self._points), self._box
        self._predicting = True

        def predicted(mask: np.ndarray) -> None:
            self._predicting = False
            if request != self._request or document is not self.document:
                self._predict()  # newer prompts (or none): this answer is stale
            elif document is not None and mask.shape == document.mask.shape:
                self._show(mask)

        def failed(error: Exception) -> None:
            self._predicting = False
            self._failed(error)

        run_in_background(self, lambda: session.predict(points, box), predicted, failed, name="sam-predict")

    def _show(self, mask: np.ndarray) -> None:
        first = self.candidate is None
        self.candidate = mask
        self.canvas.set_extra_overlay(CANDIDATE, mask, CANDIDATE_COLOR, CANDIDATE_OPACITY)
        self.candidate_changed.emit(True)
        if not mask.any():
            self.message.emit(f"{SAM_NAME} found nothing there; click on the object or drag a box around it.", 5000)
        elif first:
            text = "Enter adds the candidate (cyan) to the mask, Esc drops it; click to refine (Alt/Ctrl+click: not the object)."
            self.message.emit(text, 8000)

    def take_candidate(self) -> np.ndarray | None:
        """The candidate to add to the mask (None if there is none yet); the prompts start again."""
        candidate = self.candidate
        if candidate is not None:
            self.drop()
        return candidate

    def drop(self) -> None:
        """Esc, another tool, method or photo: forget the prompts and the candidate."""
        had = self.busy
        self._points, self._box, self.candidate = [], None, None
        self._request += 1
        self.canvas.set_extra_overlay(CANDIDATE, None)
        if had:
            self.canvas.set_preview_path(None)
            self.candidate_changed.emit(False)

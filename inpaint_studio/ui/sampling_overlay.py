"""The sampling area on the canvas: green where fills may copy from, amber where they must not.

Shown while the sampling-area brush is chosen (as Photoshop's Content-Aware
Fill shows its sampling overlay in its own workspace), and kept in step with
strokes, undo and redo through the document's SAMPLING events. The rules are
in `core.sampling`; the brush is in `ui.mask_tools`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QColor

from inpaint_studio.core.boxes import Box
from inpaint_studio.core.document import Document, DocumentEvent
from inpaint_studio.core.sampling import SamplingMark
from inpaint_studio.ui.canvas import CanvasView
from inpaint_studio.ui.mask_tools import SAMPLING_OVERLAYS, MaskToolController, Tool

COLOURS = {SamplingMark.INCLUDE: QColor(40, 200, 90), SamplingMark.EXCLUDE: QColor(255, 170, 0)}
OPACITY = 0.45


class SamplingOverlay(QObject):
    def __init__(self, canvas: CanvasView, tools: MaskToolController) -> None:
        super().__init__(canvas)
        self.canvas, self.tools = canvas, tools
        self.document: Document | None = None
        tools.tool_changed.connect(lambda tool: self._show())

    def set_document(self, document: Document | None) -> None:
        if self.document is not None and self._heard in self.document.listeners:
            self.document.listeners.remove(self._heard)
        self.document = document
        if document is not None:
            document.listeners.append(self._heard)
        self._show()

    @property
    def shown(self) -> bool:
        return self.document is not None and self.tools.tool == Tool.SAMPLING

    def _show(self) -> None:
        for mark, name in SAMPLING_OVERLAYS.items():
            mask = self.document.sampling_mask(mark) if self.shown and self.document is not None else None
            self.canvas.set_extra_overlay(name, mask, COLOURS[mark], OPACITY)

    def _heard(self, what: DocumentEvent, box: Box | None) -> None:
        if what == DocumentEvent.SAMPLING and self.shown:
            for name in SAMPLING_OVERLAYS.values():
                self.canvas.update_extra_overlay_region(name, box)

"""The retouch tools: clone stamp (S), healing brush (J) and spot healing brush (Shift+J).

Alt+click sets the source for the clone stamp and the healing brush; with
Aligned (the default) the offset from the first stroke's start is kept for
every stroke after it, without it every stroke copies from the source point
again. The spot healing brush paints a small mask of its own and fills it
with the current engine. All three paint into the one Retouch layer
(`core.retouch`), one undo step a stroke.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QMouseEvent

from inpaint_studio.core.document import Document
from inpaint_studio.core.mask_edit import BrushStroke
from inpaint_studio.core.retouch import RetouchMode, RetouchStroke
from inpaint_studio.ui.canvas import CanvasView
from inpaint_studio.ui.mask_tools import MaskToolController, Tool
from inpaint_studio.ui.modifiers import alternate

RETOUCH_TOOLS = (Tool.CLONE, Tool.HEAL, Tool.SPOT_HEAL)
MARKER = 6.0  # half size of the source marker, in image pixels at 100 %


class RetouchTools(QObject):
    message = Signal(str)
    painted = Signal(object)  # the Retouch layer, after a clone or healing stroke landed in it

    def __init__(self, canvas: CanvasView, tools: MaskToolController, spot_heal: Callable[[np.ndarray], None]) -> None:
        super().__init__(canvas)
        self.canvas, self.tools, self.spot_heal = canvas, tools, spot_heal
        self.document: Document | None = None
        self.aligned = True
        self.source: tuple[float, float] | None = None  # where copying starts (Alt+click)
        self._offset: tuple[float, float] | None = None  # source minus target, kept while aligned
        self._stroke: RetouchStroke | None = None
        self._spot: tuple[BrushStroke, np.ndarray] | None = None  # the spot stroke and its own mask
        canvas.pointer_pressed.connect(self._pressed)
        canvas.pointer_moved.connect(self._moved)
        canvas.pointer_released.connect(self._released)
        canvas.cursor_moved.connect(self._hovered)

    @property
    def busy(self) -> bool:
        return self._stroke is not None or self._spot is not None

    def set_document(self, document: Document | None) -> None:
        self.cancel()
        self.document, self.source, self._offset = document, None, None

    def cancel(self) -> None:
        """Another tool or photo: end what is being painted (a clone stroke is kept, a spot stroke dropped)."""
        if self._stroke is not None:
            self._stroke.finish()
            self._stroke = None
        if self._spot is not None:
            self._spot = None
            self._restore_mask_view()
        self.canvas.set_preview_path(None)

    def _pressed(self, x: float, y: float, event: QMouseEvent | None) -> None:
        tool = self.tools.tool
        if tool not in RETOUCH_TOOLS or self.document is None:
            return
        size, hardness = self.tools.brush_size, self.tools.hardness
        if tool == Tool.SPOT_HEAL:
            mask = np.zeros(self.document.mask.shape, np.uint8)
            self._spot = (BrushStroke(mask, size, 1.0, record=False), mask)
            self.canvas.set_mask(mask)  # the spot's own mask shows while it is painted
            self._spot[0].add_point(x, y)
            self.canvas.update_mask_region(None)
            return
        if alternate(event):
            self.source, self._offset = (x, y), None
            self.message.emit("Source set: paint where it should be copied to.")
            return
        if self.source is None:
            self.message.emit("Alt+click (or Ctrl+click) where to copy from first.")
            return
        if self._offset is None or not self.aligned:
            self._offset = (self.source[0] - x, self.source[1] - y)
        mode = RetouchMode.HEAL if tool == Tool.HEAL else RetouchMode.CLONE
        self._stroke = RetouchStroke(self.document, self._offset, size, hardness, mode)
        self._stroke.add_point(x, y)

    def _moved(self, x: float, y: float, event: QMouseEvent | None) -> None:
        if self._stroke is not None:
            self._stroke.add_point(x, y)
        elif self._spot is not None:
            box = self._spot[0].add_point(x, y)
            if box is not None:
                self.canvas.update_mask_region(box)

    def _released(self, x: float, y: float, event: QMouseEvent | None) -> None:
        if self._stroke is not None:
            stroke, self._stroke = self._stroke, None
            stroke.add_point(x, y)
            if stroke.finish():
                self.painted.emit(stroke.layer)
        elif self._spot is not None:
            (brush, mask), self._spot = self._spot, None
            brush.add_point(x, y)
            self._restore_mask_view()
            self.spot_heal(mask)

    def _hovered(self, position: tuple[float, float] | None) -> None:
        """Where the source is: a cross at the pointer plus the offset (or at the source point)."""
        if self.tools.tool not in (Tool.CLONE, Tool.HEAL) or self.source is None or position is None:
            return
        if self._offset is not None and (self.aligned or self._stroke is not None):
            sx, sy = position[0] + self._offset[0], position[1] + self._offset[1]
        else:
            sx, sy = self.source
        half = MARKER / max(self.canvas.zoom, 0.05)
        self.canvas.set_preview_path([(sx - half, sy), (sx + half, sy), (sx, sy), (sx, sy - half), (sx, sy + half)])

    def _restore_mask_view(self) -> None:
        if self.document is not None:
            self.canvas.set_mask(self.document.mask)

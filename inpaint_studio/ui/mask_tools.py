"""The mask tools (brush, eraser, lasso, polygon lasso, rectangle) and the layer eraser
(the selection tools, which make masks from the photo, are `selection_tools.py`).

Turns the canvas's pointer signals (image coordinates) into edits of the
document's mask through `core.mask_edit`, repaints only what changed, and
records each finished stroke or shape as one undo step. Holding Alt (or the
subtract toggle) makes every mask tool remove from the mask instead of adding.
The layer eraser brushes away part of the selected fill layer instead, so the
photo shows through again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum

import numpy as np
from PySide6.QtCore import QObject, Signal

from inpaint_studio.core.document import Document, ResultLayer
from inpaint_studio.core.layer_eraser import LayerEraseStroke
from inpaint_studio.core.mask_edit import BrushStroke, fill_polygon, fill_rectangle
from inpaint_studio.core.sampling import SamplingMark, SamplingStroke
from inpaint_studio.ui.canvas import CanvasView
from inpaint_studio.ui.modifiers import alternate


class Tool(Enum):
    BRUSH = "Brush"
    ERASER = "Eraser"
    LASSO = "Lasso"
    POLYGON = "Polygon lasso"
    RECTANGLE = "Rectangle"
    OBJECT_SELECT = "Object selection"
    MAGIC_WAND = "Magic wand"
    MAGNETIC_LASSO = "Magnetic lasso"
    CLONE = "Clone stamp"
    HEAL = "Healing brush"
    SPOT_HEAL = "Spot healing brush"
    LAYER_ERASER = "Layer eraser"
    SAMPLING = "Sampling area"


BRUSH_TOOLS = (Tool.BRUSH, Tool.ERASER, Tool.LAYER_ERASER, Tool.CLONE, Tool.HEAL, Tool.SPOT_HEAL, Tool.SAMPLING)
# The canvas overlays that show the sampling area (see ui.sampling_overlay), by what they mark.
SAMPLING_OVERLAYS = {SamplingMark.INCLUDE: "sampling-include", SamplingMark.EXCLUDE: "sampling-exclude"}


# Clicking this close (in screen pixels) to the first vertex closes a polygon.
POLYGON_CLOSE_DISTANCE = 8.0
MIN_BRUSH, MAX_BRUSH = 1, 2000


class MaskToolController(QObject):
    mask_committed = Signal(bool)  # a stroke or shape was finished and recorded; True if it added to the mask
    tool_changed = Signal(object)  # the Tool now chosen
    message = Signal(str)  # something the user should read in the status bar

    def __init__(self, canvas: CanvasView) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.document: Document | None = None
        self.tool = Tool.BRUSH
        self.brush_size = 40
        self.hardness = 0.8
        self.subtract = False  # toolbar toggle; Alt does the same while held
        self._stroke: BrushStroke | LayerEraseStroke | SamplingStroke | None = None
        # Which layer the layer eraser works on (the window's selected layer).
        self.target_layer: Callable[[], ResultLayer | None] = lambda: None
        self._points: list[tuple[float, float]] = []
        canvas.pointer_pressed.connect(self._pressed)
        canvas.pointer_moved.connect(self._moved)
        canvas.pointer_released.connect(self._released)
        canvas.pointer_double_clicked.connect(self._double_clicked)
        canvas.cursor_moved.connect(self._hovered)

    # ------------------------------------------------------------ settings

    def set_document(self, document: Document | None) -> None:
        self.cancel_shape()
        self.document = document

    def set_tool(self, tool: Tool) -> None:
        self.cancel_shape()
        self.tool = tool
        self._update_cursor()
        self.tool_changed.emit(tool)

    def set_brush_size(self, size: float) -> None:
        self.brush_size = int(min(max(round(size), MIN_BRUSH), MAX_BRUSH))
        self._update_cursor()

    def grow_brush(self, factor: float) -> None:
        """`[` and `]`: size steps proportional to the size, at least one pixel."""
        new = self.brush_size * factor
        if round(new) == self.brush_size:
            new = self.brush_size + (1 if factor > 1 else -1)
        self.set_brush_size(new)

    def _update_cursor(self) -> None:
        brushy = self.tool in BRUSH_TOOLS
        self.canvas.set_brush_outline(self.brush_size if brushy else None)

    @property
    def busy(self) -> bool:
        """True while a stroke or shape is in progress."""
        return self._stroke is not None or bool(self._points)

    def cancel_shape(self) -> None:
        """Esc: drop an unfinished lasso/polygon/rectangle (a brush stroke is finished instead)."""
        if self._stroke is not None:
            self._finish_stroke()
        self._points = []
        self.canvas.set_preview_path(None)

    # ------------------------------------------------------------ events

    def _erasing(self, event) -> bool:
        return self.tool == Tool.ERASER or self.subtract != alternate(event)

    def _pressed(self, x: float, y: float, event) -> None:
        if self.document is None:
            return
        if self.tool == Tool.LAYER_ERASER:
            layer = self.target_layer()
            if layer is None or layer not in self.document.layers:
                self.message.emit("Select a fill layer in the Layers panel to erase part of it.")
                return
            self._stroke = LayerEraseStroke(self.document, layer, self.brush_size, self.hardness)
            self._paint_to(x, y)
        elif self.tool in (Tool.BRUSH, Tool.ERASER):
            self._stroke = BrushStroke(self.document.mask, self.brush_size, self.hardness, erase=self._erasing(event))
            self._paint_to(x, y)
        elif self.tool == Tool.SAMPLING:
            # Paint: copy from here (include); Alt or Subtract: never copy from here (exclude).
            mark = SamplingMark.EXCLUDE if self._erasing(event) else SamplingMark.INCLUDE
            include, exclude = (self.document.sampling_mask(m) for m in (SamplingMark.INCLUDE, SamplingMark.EXCLUDE))
            self._stroke = SamplingStroke(include, exclude, self.brush_size, self.hardness, mark)
            self._paint_to(x, y)
        elif self.tool in (Tool.LASSO, Tool.RECTANGLE):
            self._points = [(x, y)]
        elif self.tool == Tool.POLYGON:
            if self._points and self._near_first_vertex(x, y):
                self._commit_polygon(event)
            else:
                self._points.append((x, y))
                self._show_polygon((x, y))

    def _moved(self, x: float, y: float, event) -> None:
        if self._stroke is not None:
            self._paint_to(x, y)
        elif self.tool == Tool.LASSO and self._points:
            last = self._points[-1]
            if math.hypot(x - last[0], y - last[1]) * self.canvas.zoom >= 1.0:
                self._points.append((x, y))
                self.canvas.set_preview_path(self._points, closed=False)
        elif self.tool == Tool.RECTANGLE and self._points:
            self.canvas.set_preview_path(_rectangle_path(self._points[0], (x, y)), closed=True)

    def _released(self, x: float, y: float, event) -> None:
        if self._stroke is not None:
            self._paint_to(x, y)
            self._finish_stroke()
        elif self.tool == Tool.LASSO and self._points:
            points, self._points = self._points + [(x, y)], []
            self.canvas.set_preview_path(None)
            self._commit(fill_polygon(self._mask(), points, erase=self._erasing(event)), "Lasso")
        elif self.tool == Tool.RECTANGLE and self._points:
            start, self._points = self._points[0], []
            self.canvas.set_preview_path(None)
            self._commit(fill_rectangle(self._mask(), start, (x, y), erase=self._erasing(event)), "Rectangle")

    def _double_clicked(self, x: float, y: float, event) -> None:
        if self.tool == Tool.POLYGON and len(self._points) >= 3:
            self._commit_polygon(event)

    def _hovered(self, position) -> None:
        if self.tool == Tool.POLYGON and self._points and position is not None:
            self._show_polygon(position)

    def close_polygon(self) -> bool:
        """Enter: close the polygon being drawn. True if there was one."""
        if self.tool == Tool.POLYGON and len(self._points) >= 3:
            self._commit_polygon(None)
            return True
        return False

    # ------------------------------------------------------------ helpers

    def _mask(self) -> np.ndarray:
        """The document's mask: a shape is drawn only while there is a document (set_document cancels it)."""
        assert self.document is not None
        return self.document.mask

    def _paint_to(self, x: float, y: float) -> None:
        assert self._stroke is not None  # called only during a stroke
        box = self._stroke.add_point(x, y)
        # The layer eraser changes the composite, which the canvas hears about from the document.
        if box is not None and isinstance(self._stroke, BrushStroke):
            self.canvas.update_mask_region(box)
        elif box is not None and isinstance(self._stroke, SamplingStroke):
            for name in SAMPLING_OVERLAYS.values():
                self.canvas.update_extra_overlay_region(name, box)

    def _finish_stroke(self) -> None:
        stroke, self._stroke = self._stroke, None
        if isinstance(stroke, LayerEraseStroke):
            stroke.finish()
            return
        if isinstance(stroke, SamplingStroke):
            assert self.document is not None  # a stroke ends before the document changes (set_document)
            self.document.record_sampling_edits(stroke.finish(), "Sampling area")
            return
        assert stroke is not None  # called only during a stroke
        self._commit(stroke.finish(), "Eraser" if stroke.erase else "Brush")

    def _near_first_vertex(self, x: float, y: float) -> bool:
        fx, fy = self._points[0]
        return len(self._points) >= 3 and math.hypot(x - fx, y - fy) * self.canvas.zoom <= POLYGON_CLOSE_DISTANCE

    def _show_polygon(self, cursor: tuple[float, float]) -> None:
        self.canvas.set_preview_path(self._points + [(cursor[0], cursor[1])], closed=False)

    def _commit_polygon(self, event) -> None:
        points, self._points = self._points, []
        self.canvas.set_preview_path(None)
        self._commit(fill_polygon(self._mask(), points, erase=self._erasing(event)), "Polygon lasso")

    def _commit(self, edit, label: str) -> None:
        if edit is None or self.document is None:
            return
        self.canvas.update_mask_region(edit.box)
        self.document.record_mask_edit(edit, label)
        self.mask_committed.emit(bool(np.any(edit.after > edit.before)))


def _rectangle_path(a: tuple[float, float], b: tuple[float, float]) -> list[tuple[float, float]]:
    return [a, (b[0], a[1]), b, (a[0], b[1])]

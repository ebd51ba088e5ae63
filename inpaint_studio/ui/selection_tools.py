"""The selection tools: object selection (a box, then clicks), the magic wand and the magnetic lasso.

Each turns the user's box, clicks or anchors into a mask with `selection`
(off the GUI thread where it takes more than a moment) and adds it to the
document's mask, or takes it away with Alt or Subtract, as one undo step.
Object selection keeps its box: a click inside it afterwards marks a part as
the object (Alt+click: not the object) and selects again. With the Segment
Anything method (`sam_select.py`) its clicks and box make a candidate instead,
which Enter adds to the mask (or takes away, in Subtract mode) and Esc drops.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QMouseEvent

from inpaint_studio.core.boxes import Box
from inpaint_studio.core.document import Document
from inpaint_studio.core.mask_edit import fill_polygon
from inpaint_studio.selection.grabcut import Click, select_object
from inpaint_studio.selection.scissors import AnchorPaths
from inpaint_studio.selection.wand import DEFAULT_TOLERANCE, magic_wand
from inpaint_studio.ui.background import run_in_background
from inpaint_studio.ui.canvas import CanvasView
from inpaint_studio.ui.mask_tools import POLYGON_CLOSE_DISTANCE, MaskToolController, Tool
from inpaint_studio.ui.modifiers import alternate
from inpaint_studio.ui.sam_select import GRABCUT, LABEL, METHOD_NAMES, SAM, SAM_NAME, ModelOffer, SamSelect

SELECTION_TOOLS = (Tool.OBJECT_SELECT, Tool.MAGIC_WAND, Tool.MAGNETIC_LASSO)
CLICK_DISTANCE = 4.0  # screen pixels: a press and release closer than this is a click, not a box
# GrabCut loses thin objects (a pole, a wire, a diagonal mast): it keeps a few specks of them. Less than
# this share of the box is taken for that, said, and not added (with Auto on it would fill the specks).
ALMOST_NOTHING = 0.01
Point = tuple[float, float]


class SelectionTools(QObject):
    mask_committed = Signal(bool)  # a selection changed the mask; True if it added to it
    message = Signal(str, int)  # status bar text, and for how many milliseconds (0: until replaced)
    method_changed = Signal(str)  # object selection's method in use (GRABCUT or SAM), also when it falls back

    def __init__(self, canvas: CanvasView, tools: MaskToolController, models: ModelOffer) -> None:
        super().__init__(canvas)
        self.canvas, self.tools = canvas, tools
        self.document: Document | None = None
        self.tolerance = DEFAULT_TOLERANCE
        self.contiguous = True
        self.method = GRABCUT  # object selection's
        self.sam = SamSelect(canvas, models)
        self.sam.message.connect(self.message)
        self.sam.unavailable.connect(lambda: self._use_method(GRABCUT))
        self._press: Point | None = None
        self._object: tuple[Box, list[Click], np.ndarray] | None = None  # box, clicks, the mask before it
        self._anchors: list[Point] = []  # magnetic lasso: the path so far, anchor to anchor
        self._paths: AnchorPaths | None = None  # from the last anchor, once prepared
        self._busy = False
        canvas.pointer_pressed.connect(self._pressed)
        canvas.pointer_moved.connect(self._moved)
        canvas.pointer_released.connect(self._released)
        canvas.pointer_double_clicked.connect(self._double_clicked)
        canvas.cursor_moved.connect(self._hovered)

    @property
    def active(self) -> bool:
        return self.tools.tool in SELECTION_TOOLS

    @property
    def busy(self) -> bool:
        """A magnetic outline is being drawn, or Segment Anything's prompts or candidate are shown (Esc drops them)."""
        return bool(self._anchors) or self.sam.busy

    def set_document(self, document: Document | None) -> None:
        self.cancel()
        self._object = None
        self.document = document
        self.sam.set_document(document)
        self.prepare()

    def cancel(self) -> None:
        """Esc, or another tool: drop a magnetic outline in progress, or Segment Anything's prompts and candidate."""
        self._anchors, self._paths, self._press = [], None, None
        self.canvas.set_preview_path(None)
        self.sam.drop()

    def commit(self) -> bool:
        """Enter: close a magnetic outline, or add Segment Anything's candidate; False if there is neither."""
        if self.close_path(None):
            return True
        if not self.sam.busy:
            return False
        if self.sam.candidate is None:
            self.message.emit("The candidate is still being computed; press Enter again once it shows.", 4000)
        else:
            self.add_candidate()
        return True

    def add_candidate(self) -> None:
        """Enter or Add: the candidate into the mask (Subtract: out of it) as one undo step."""
        candidate = self.sam.take_candidate()
        if candidate is not None and self.document is not None:
            self.message.emit("Taken from the mask." if self.tools.subtract else "Added to the mask.", 3000)
            self._apply(self.document.mask.copy(), candidate, self.tools.subtract, LABEL)  # says so if nothing changed

    # ------------------------------------------------------------ object selection's method

    def set_method(self, method: str) -> None:
        """GrabCut or Segment Anything; Segment Anything only once its model is installed (offered if not)."""
        self._use_method(SAM if method == SAM and self.sam.ensure_model() else GRABCUT)

    def _use_method(self, method: str) -> None:
        self.cancel()
        self._object = None
        self.method = method
        if method == SAM:
            self.sam.active = True
            self.prepare()
        else:
            self.sam.deactivate()
        self.method_changed.emit(method)

    def restore_method(self, method: str) -> None:
        """The method remembered in the settings, without questions: GrabCut if Segment Anything's model is missing."""
        self.method = SAM if method == SAM and self.sam.model_installed() else GRABCUT
        self.sam.active = self.method == SAM

    def prepare(self) -> None:
        """With Segment Anything chosen and object selection in hand, embed the photo shown in the background."""
        if self.method == SAM and self.tools.tool == Tool.OBJECT_SELECT:
            self.sam.prepare()

    # ------------------------------------------------------------ pointer

    def _pressed(self, x: float, y: float, event: QMouseEvent | None) -> None:
        if not self.active or self.document is None:
            return
        tool = self.tools.tool
        if tool == Tool.MAGNETIC_LASSO:
            self._add_anchor((x, y))
        else:
            self._press = (x, y)

    def _moved(self, x: float, y: float, event: QMouseEvent | None) -> None:
        if self.active and self.tools.tool == Tool.OBJECT_SELECT and self._press is not None:
            x0, y0 = self._press
            self.canvas.set_preview_path([(x0, y0), (x, y0), (x, y), (x0, y)], closed=True)

    def _released(self, x: float, y: float, event: QMouseEvent | None) -> None:
        if not self.active or self._press is None or self.document is None:
            return
        start, self._press = self._press, None
        self.canvas.set_preview_path(None)
        click = math.hypot(x - start[0], y - start[1]) * self.canvas.zoom < CLICK_DISTANCE
        erase = self._erasing(event)
        if self.tools.tool == Tool.MAGIC_WAND:
            self._select_colour(int(x), int(y), erase)
        elif self.method == SAM:
            self._prompt_sam(start, (x, y), click, event)
        elif click:
            self._refine(x, y, erase)
        else:
            self._object = (_box(start, (x, y)), [], self.document.mask.copy())
            self._select_object(erase)

    def _prompt_sam(self, start: Point, end: Point, click: bool, event: QMouseEvent | None) -> None:
        """A click is a point on the object (Alt: not the object), a drag a box; both refine the candidate."""
        if click:
            self.sam.add_point(end[0], end[1], not alternate(event))
        else:
            self.sam.set_box(_box(start, end))

    def _double_clicked(self, x: float, y: float, event: QMouseEvent | None) -> None:
        if self.active and self.tools.tool == Tool.MAGNETIC_LASSO and len(self._anchors) >= 3:
            self.close_path(event)

    def _hovered(self, position: Point | None) -> None:
        if self.active and self.tools.tool == Tool.MAGNETIC_LASSO and self._anchors and position is not None:
            self.canvas.set_preview_path(self._anchors + self._path_to(position)[1:], closed=False)

    def _erasing(self, event: QMouseEvent | None) -> bool:
        return self.tools.subtract != alternate(event)

    # ------------------------------------------------------------ object selection and the wand

    def _select_object(self, erase: bool) -> None:
        assert self._object is not None and self.document is not None
        box, clicks, before = self._object
        image = self.document.composite.copy()
        least = 0 if erase else math.ceil(ALMOST_NOTHING * box.width * box.height)
        self._run(lambda: select_object(image, box, list(clicks)), before, erase, "Object selection", least)

    def _refine(self, x: float, y: float, erase: bool) -> None:
        """A click inside the last box: that part is (or with Alt, is not) the object; select again."""
        box = self._object[0] if self._object is not None else None
        if self._object is None or box is None or not (box.x0 <= x < box.x1 and box.y0 <= y < box.y1):
            self.message.emit("Drag a box around the object first; then click parts to add them (Alt or Ctrl: to remove).", 5000)
            return
        self._object[1].append((x, y, not erase))
        self._select_object(erase=self.tools.subtract)

    def _select_colour(self, x: int, y: int, erase: bool) -> None:
        assert self.document is not None
        image, tolerance, contiguous = self.document.composite.copy(), self.tolerance, self.contiguous
        self._run(lambda: magic_wand(image, x, y, tolerance, contiguous), self.document.mask.copy(), erase, "Magic wand")

    def _run(self, work: Callable[[], np.ndarray], before: np.ndarray, erase: bool, label: str, least: int = 0) -> None:
        """Compute a selection off the GUI thread, then apply it to the mask it started from (if `least` pixels or more)."""
        if self._busy:
            return
        self._busy = True
        document, revision = self.document, self.document.revision if self.document else -1

        def done(selection: np.ndarray) -> None:
            self._busy = False
            if document is self.document and document is not None and document.revision == revision:
                self._apply(before, selection, erase, label, least)

        def failed(error: Exception) -> None:
            self._busy = False
            self.message.emit(f"The selection failed: {error}", 5000)

        run_in_background(self, work, done, failed, name="selection")

    def _apply(self, before: np.ndarray, selection: np.ndarray, erase: bool, label: str, least: int = 0) -> None:
        assert self.document is not None
        if 0 < np.count_nonzero(selection) < least:
            self.message.emit(
                f"{METHOD_NAMES[GRABCUT]} found almost nothing in that box (it loses thin objects): "
                f"try {SAM_NAME} in Method, or paint it (B).",
                8000,
            )
            return
        combined = np.where(selection > 0, np.uint8(0), before) if erase else np.maximum(before, selection)
        if np.array_equal(combined, self.document.mask):
            self.message.emit("Nothing was selected there." if not selection.any() else "The mask already holds that.", 5000)
            return
        added = bool(np.any(combined > self.document.mask))
        self.document.replace_mask(combined, label)
        self.mask_committed.emit(added)

    # ------------------------------------------------------------ magnetic lasso

    def _add_anchor(self, point: Point) -> None:
        if len(self._anchors) >= 3 and self._near_first(point):
            self.close_path(None)
            return
        segment = self._path_to(point) if self._anchors else [point]
        self._anchors += segment if not self._anchors else segment[1:]
        self._paths = None
        assert self.document is not None
        image, anchor = self.document.composite, self._anchors[-1]

        def prepared(paths: AnchorPaths) -> None:
            if self._anchors and self._anchors[-1] == anchor:
                self._paths = paths

        run_in_background(self, lambda: AnchorPaths(image, anchor), prepared, lambda error: None, name="magnetic-lasso")
        self.canvas.set_preview_path(self._anchors, closed=False)

    def _path_to(self, point: Point) -> list[Point]:
        if self._paths is None:  # the anchor's map is still being prepared: straight for now
            return [self._anchors[-1], point]
        return self._paths.path_to(point)

    def _near_first(self, point: Point) -> bool:
        fx, fy = self._anchors[0]
        return math.hypot(point[0] - fx, point[1] - fy) * self.canvas.zoom <= POLYGON_CLOSE_DISTANCE

    def close_path(self, event: QMouseEvent | None) -> bool:
        """Enter, a double-click or a click on the first anchor: the outline becomes a selection."""
        if len(self._anchors) < 3 or self.document is None:
            return False
        outline = self._anchors + self._path_to(self._anchors[0])[1:]
        self.cancel()
        before = self.document.mask.copy()
        selection = np.zeros_like(before)
        fill_polygon(selection, outline)
        self._apply(before, selection, self._erasing(event), "Magnetic lasso")
        return True


def _box(start: Point, end: Point) -> Box:
    """The box two corners of a drag span, in whole pixels."""
    (x0, x1), (y0, y1) = sorted((start[0], end[0])), sorted((start[1], end[1]))
    return Box(int(x0), int(y0), math.ceil(x1), math.ceil(y1))

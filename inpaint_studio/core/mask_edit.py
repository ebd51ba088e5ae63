"""Editing a mask: brush strokes, filled shapes and whole-mask operations.

Every edit changes the mask array in place and returns a `MaskEdit` holding
only the rectangle it changed (before and after), which is what undo needs.
Masks are uint8 (H, W), 255 = fill; brush edges may be soft (0..255).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import cv2
import numpy as np

from inpaint_studio.core.boxes import Box, union


@dataclass(frozen=True)
class MaskEdit:
    """The pixels of one rectangle of a mask before and after an edit."""

    box: Box
    before: np.ndarray
    after: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.before.nbytes + self.after.nbytes

    def undo(self, mask: np.ndarray) -> None:
        x0, y0, x1, y1 = self.box
        mask[y0:y1, x0:x1] = self.before

    def redo(self, mask: np.ndarray) -> None:
        x0, y0, x1, y1 = self.box
        mask[y0:y1, x0:x1] = self.after


def changed_box(before: np.ndarray, after: np.ndarray) -> Box | None:
    """Bounding box of the pixels that differ, or None."""
    ys, xs = np.nonzero(before != after)
    if len(ys) == 0:
        return None
    return Box(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def edit_between(before: np.ndarray, after: np.ndarray) -> MaskEdit | None:
    """A MaskEdit for the changed part of two full masks (None if equal)."""
    box = changed_box(before, after)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    return MaskEdit(box, before[y0:y1, x0:x1].copy(), after[y0:y1, x0:x1].copy())


@lru_cache(maxsize=64)
def dab_stamp(diameter: float, hardness: float) -> np.ndarray:
    """float32 (k, k) coverage of one round dab: 1 inside hardness*radius, fading to 0 at the radius."""
    radius = max(diameter, 1.0) / 2
    size = int(math.ceil(radius)) * 2 + 1
    centre = size // 2
    y, x = np.mgrid[0:size, 0:size]
    distance = np.hypot(x - centre, y - centre)
    solid = radius * min(max(hardness, 0.0), 1.0)
    if radius - solid < 1.0:
        # A hard edge still gets one pixel of anti-aliasing.
        coverage = np.clip(radius + 0.5 - distance, 0.0, 1.0)
    else:
        coverage = np.clip((radius - distance) / (radius - solid), 0.0, 1.0)
    stamp: np.ndarray = coverage.astype(np.float32)
    stamp.flags.writeable = False
    return stamp


class BrushStroke:
    """One press-drag-release of the brush or eraser on a mask.

    Dabs are placed along the path every `spacing` x diameter, so fast mouse
    moves leave no gaps. `add_point` returns the box it changed, for repainting.
    """

    def __init__(
        self,
        mask: np.ndarray,
        diameter: float,
        hardness: float = 0.8,
        erase: bool = False,
        spacing: float = 0.15,
        record: bool = True,
    ):
        self.mask = mask
        self.diameter = max(float(diameter), 1.0)
        self.hardness = hardness
        self.erase = erase
        self.step = max(self.diameter * spacing, 0.5)
        self._stamp = np.rint(dab_stamp(self.diameter, hardness) * 255).astype(np.uint8)
        # One copy per stroke, the "before" of whatever it touches; not needed when
        # nobody records the stroke (`finish` then returns None).
        self._backup = mask.copy() if record else None
        self._last: tuple[float, float] | None = None
        self._carry = 0.0  # path length since the last dab
        self._touched: Box | None = None

    def add_point(self, x: float, y: float) -> Box | None:
        """Extend the stroke to (x, y) in image coordinates; returns the changed box."""
        if self._last is None:
            points = [(x, y)]
        else:
            lx, ly = self._last
            length = math.hypot(x - lx, y - ly)
            points = []
            travelled = self.step - self._carry
            while travelled <= length:
                t = travelled / length
                points.append((lx + (x - lx) * t, ly + (y - ly) * t))
                travelled += self.step
            self._carry = length - (travelled - self.step)
        self._last = (x, y)
        dirty = None
        for px, py in points:
            dirty = _union(dirty, self._dab(px, py))
        self._touched = _union(self._touched, dirty)
        return dirty

    def _dab(self, x: float, y: float) -> Box | None:
        height, width = self.mask.shape
        k = self._stamp.shape[0]
        left, top = int(round(x)) - k // 2, int(round(y)) - k // 2
        x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + k, width), min(top + k, height)
        if x0 >= x1 or y0 >= y1:
            return None
        stamp = self._stamp[y0 - top : y1 - top, x0 - left : x1 - left]
        region = self.mask[y0:y1, x0:x1]
        if self.erase:
            np.minimum(region, 255 - stamp, out=region)
        else:
            np.maximum(region, stamp, out=region)
        return Box(x0, y0, x1, y1)

    def finish(self) -> MaskEdit | None:
        """End the stroke; the edit to record in the history (None if nothing changed)."""
        box, self._touched = self._touched, None
        backup, self._backup = self._backup, None
        if box is None or backup is None:
            return None
        x0, y0, x1, y1 = box
        before, after = backup[y0:y1, x0:x1], self.mask[y0:y1, x0:x1]
        if np.array_equal(before, after):
            return None
        return MaskEdit(box, before.copy(), after.copy())


def _union(a: Box | None, b: Box | None) -> Box | None:
    if a is None:
        return b
    if b is None:
        return a
    return union((a, b))


def fill_polygon(mask: np.ndarray, points: Sequence[tuple[float, float]], erase: bool = False) -> MaskEdit | None:
    """Fill (or clear, with `erase`) the polygon through `points` (lasso, polygon lasso)."""
    if len(points) < 3:
        return None
    height, width = mask.shape
    # Sub-pixel vertices (4 fractional bits) keep the filled shape where it was drawn.
    shift = 4
    vertices = np.round(np.asarray(points, np.float64) * (1 << shift)).astype(np.int32)
    xs, ys = vertices[:, 0] >> shift, vertices[:, 1] >> shift
    x0, y0 = max(int(xs.min()) - 1, 0), max(int(ys.min()) - 1, 0)
    x1, y1 = min(int(xs.max()) + 2, width), min(int(ys.max()) + 2, height)
    if x0 >= x1 or y0 >= y1:
        return None
    region = mask[y0:y1, x0:x1]
    before = region.copy()
    offset = np.array([x0 << shift, y0 << shift], np.int32)
    cv2.fillPoly(region, [vertices - offset], 0 if erase else 255, lineType=cv2.LINE_8, shift=shift)
    if np.array_equal(before, region):
        return None
    return MaskEdit(Box(x0, y0, x1, y1), before, region.copy())


def fill_rectangle(
    mask: np.ndarray, corner_a: tuple[float, float], corner_b: tuple[float, float], erase: bool = False
) -> MaskEdit | None:
    """Fill (or clear) the pixels of the rectangle spanned by two corners."""
    height, width = mask.shape
    x0, x1 = sorted((corner_a[0], corner_b[0]))
    y0, y1 = sorted((corner_a[1], corner_b[1]))
    x0, y0 = max(int(math.floor(x0)), 0), max(int(math.floor(y0)), 0)
    x1, y1 = min(int(math.ceil(x1)), width), min(int(math.ceil(y1)), height)
    if x0 >= x1 or y0 >= y1:
        return None
    region = mask[y0:y1, x0:x1]
    before = region.copy()
    region[...] = 0 if erase else 255
    if np.array_equal(before, region):
        return None
    return MaskEdit(Box(x0, y0, x1, y1), before, region.copy())


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


class MaskOperation(StrEnum):
    """Whole-mask operations (Select menu)."""

    CLEAR = "clear"
    INVERT = "invert"
    GROW = "grow"  # by `amount` px
    SHRINK = "shrink"  # by `amount` px
    FEATHER = "feather"  # soften the edge over about `amount` px: the fill blends in there


def transformed_mask(mask: np.ndarray, operation: MaskOperation | str, amount: int = 0) -> np.ndarray:
    """A new mask, `mask` changed by `operation`."""
    operation = MaskOperation(operation)
    if operation == MaskOperation.CLEAR:
        return np.zeros_like(mask)
    if operation == MaskOperation.INVERT:
        return 255 - mask
    if amount <= 0:
        return mask.copy()
    if operation == MaskOperation.GROW:
        return cv2.dilate(mask, _disk(amount))
    if operation == MaskOperation.SHRINK:
        return cv2.erode(mask, _disk(amount))
    return cv2.GaussianBlur(mask, (0, 0), sigmaX=amount / 2)


def apply_operation(mask: np.ndarray, operation: MaskOperation | str, amount: int = 0) -> MaskEdit | None:
    """Apply a whole-mask operation in place; the edit covers only what changed."""
    result = transformed_mask(mask, operation, amount)
    edit = edit_between(mask, result)
    if edit is not None:
        edit.redo(mask)
    return edit

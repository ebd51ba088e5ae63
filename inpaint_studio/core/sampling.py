"""The sampling area: where an exemplar engine (PatchMatch) may copy texture from, as the user painted it.

Two masks the user paints with the sampling brush, as in Photoshop's
Content-Aware Fill workspace: "include" (copy only from here) and "exclude"
(never copy from here: the other person, the sky that does not belong). With
neither painted, every pixel outside the hole may be copied; with some
include painted, only those pixels; exclude always wins. Values > 127 count
as painted (the brush's soft edge is drawn, not meant).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from inpaint_studio.core.boxes import Box, union
from inpaint_studio.core.mask_edit import BrushStroke, MaskEdit

PAINTED = 127


class SamplingMark(StrEnum):
    INCLUDE = "include"
    EXCLUDE = "exclude"


@dataclass(frozen=True, eq=False)
class SamplingArea:
    """What the user painted; None where nothing was. Arrays are the photo's size, uint8."""

    include: np.ndarray | None = None
    exclude: np.ndarray | None = None

    @classmethod
    def of(cls, include: np.ndarray | None, exclude: np.ndarray | None) -> SamplingArea | None:
        """The area from the document's two masks: None when neither holds anything (no restriction)."""
        include = include if include is not None and (include > PAINTED).any() else None
        exclude = exclude if exclude is not None and (exclude > PAINTED).any() else None
        return None if include is None and exclude is None else cls(include, exclude)

    def copy(self) -> SamplingArea:
        return SamplingArea(*(None if a is None else a.copy() for a in (self.include, self.exclude)))

    def include_box(self) -> Box | None:
        """The bounding box of the included pixels: a fill's crop must reach it to copy from there."""
        if self.include is None:
            return None
        x, y, width, height = cv2.boundingRect((self.include > PAINTED).astype(np.uint8))
        return Box(x, y, x + width, y + height) if width else None

    def allowed(self, box: Box) -> np.ndarray:
        """Bool map of the pixels inside `box` that may be copied from."""
        rows_cols = box.slices
        allowed = self.include[rows_cols] > PAINTED if self.include is not None else np.ones((box.height, box.width), bool)
        if self.exclude is not None:
            allowed &= self.exclude[rows_cols] <= PAINTED
        return allowed


class SamplingStroke:
    """One press-drag-release of the sampling brush: paints one mark and clears the other where it goes,
    so a pixel is included, excluded or neither. `add_point` returns the box it changed."""

    def __init__(self, include: np.ndarray, exclude: np.ndarray, diameter: float, hardness: float, mark: SamplingMark) -> None:
        painted, cleared = (include, exclude) if mark == SamplingMark.INCLUDE else (exclude, include)
        other = SamplingMark.EXCLUDE if mark == SamplingMark.INCLUDE else SamplingMark.INCLUDE
        self.mark = mark
        self._strokes = [
            (mark, BrushStroke(painted, diameter, hardness)),
            (other, BrushStroke(cleared, diameter, hardness, erase=True)),
        ]

    def add_point(self, x: float, y: float) -> Box | None:
        boxes = [box for _, stroke in self._strokes if (box := stroke.add_point(x, y)) is not None]
        return union(boxes) if boxes else None

    def finish(self) -> list[tuple[SamplingMark, MaskEdit | None]]:
        """The edits made, for `Document.record_sampling_edits`."""
        return [(mark, stroke.finish()) for mark, stroke in self._strokes]

"""A selection from prompts given as numbers (points and a box): what `inpaint-studio select` runs.

The window's tools turn drags and clicks into the same calls; this module
only says how a list of prompts becomes one mask for each method:

- grabcut: the box around the object, refined by the points (1 = part of the
  object, 0 = not), as the object-selection tool's box and clicks;
- wand: each object point adds the colour region around it, each other point
  takes its region away; a box, if given, bounds the result;
- sam: MobileSAM's mask for the points and the box together (a `SamSession`
  the caller made from the installed model; the photo is embedded here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from inpaint_studio.core.boxes import Box, intersection
from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.selection.grabcut import select_object
from inpaint_studio.selection.wand import DEFAULT_TOLERANCE, magic_wand

if TYPE_CHECKING:  # the sam package imports torch; only a caller that selects with SAM loads it
    from inpaint_studio.selection.sam.session import SamSession


class SelectMethod(StrEnum):
    GRABCUT = "grabcut"
    WAND = "wand"
    SAM = "sam"


@dataclass(frozen=True)
class Point:
    x: int
    y: int
    inside: bool = True  # part of the object (1) or not (0)


def parse_point(text: str) -> Point:
    """'X,Y' or 'X,Y,1' (part of the object) or 'X,Y,0' (not); a clear error otherwise."""
    parts = [part.strip() for part in text.split(",")]
    try:
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("0", "1")):
            raise ValueError
        return Point(int(parts[0]), int(parts[1]), len(parts) == 2 or parts[2] == "1")
    except ValueError:
        raise InpaintStudioError(f"A point looks like X,Y or X,Y,1 (object) or X,Y,0 (not the object); got '{text}'.") from None


def parse_box(text: str) -> Box:
    """'X0,Y0,X1,Y1' (corners, in pixels, x1 > x0 and y1 > y0); a clear error otherwise."""
    try:
        x0, y0, x1, y1 = (int(part.strip()) for part in text.split(","))
    except ValueError:
        raise InpaintStudioError(f"A box looks like X0,Y0,X1,Y1 (two corners in pixels); got '{text}'.") from None
    if x1 <= x0 or y1 <= y0:
        raise InpaintStudioError(f"The box '{text}' is empty: its second corner must be right of and below the first.")
    return Box(x0, y0, x1, y1)


def select(
    image: np.ndarray,
    method: SelectMethod,
    points: Sequence[Point] = (),
    box: Box | None = None,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    contiguous: bool = True,
    sam: SamSession | None = None,
) -> np.ndarray:
    """The mask (uint8, 255 = selected, the photo's size) that `points` and `box` select with `method`;
    SelectMethod.SAM needs `sam`, a session of the installed model."""
    height, width = image.shape[:2]
    for point in points:
        if not (0 <= point.x < width and 0 <= point.y < height):
            raise InpaintStudioError(f"The point {point.x},{point.y} is outside the {width}x{height} photo.")
    if box is not None:
        inside = intersection(box, Box(0, 0, width, height))
        if inside is None:
            raise InpaintStudioError(f"The box {box.x0},{box.y0},{box.x1},{box.y1} is outside the {width}x{height} photo.")
        box = inside
    if method is SelectMethod.GRABCUT:
        if box is None:
            raise InpaintStudioError("GrabCut needs a --box around the object; points then mark parts of it (1) or not (0).")
        return select_object(image, box, [(point.x, point.y, point.inside) for point in points])
    if method is SelectMethod.SAM:
        if sam is None:
            raise InpaintStudioError("Selecting with SAM needs the MobileSAM model; none was given.")
        if box is None and not any(point.inside for point in points):
            raise InpaintStudioError("SAM needs a --box around the object or at least one point on it (X,Y or X,Y,1).")
        sam.embed(image)
        return sam.predict([(point.x, point.y, point.inside) for point in points], box)
    if not any(point.inside for point in points):
        raise InpaintStudioError("The magic wand needs at least one point on the object (X,Y or X,Y,1).")
    mask = np.zeros((height, width), np.uint8)
    for point in points:  # in the given order, as clicks with and without Alt
        region = magic_wand(image, point.x, point.y, tolerance, contiguous) > 0
        mask[region] = 255 if point.inside else 0
    if box is not None:
        bounded = np.zeros_like(mask)
        bounded[box.slices] = mask[box.slices]
        mask = bounded
    return mask

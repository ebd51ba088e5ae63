"""Axis-aligned boxes (x0, y0, x1, y1), half-open: where an edit or a layer touches the image."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class Box(NamedTuple):
    """Half-open pixel rectangle [x0, x1) x [y0, y1); unpacks as (x0, y0, x1, y1)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, columns): index an (H, W, ...) array with it."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def union(boxes: Iterable[Box]) -> Box:
    boxes = list(boxes)
    return Box(min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def intersection(a: Box, b: Box) -> Box | None:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return Box(x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def overlap_groups(boxes: list[Box]) -> list[list[int]]:
    """Indices of `boxes`, grouped so that the union boxes of different groups never overlap."""
    groups = [[i] for i in range(len(boxes))]
    extents = list(boxes)
    merged = True
    while merged:  # a handful of boxes at most: quadratic passes are fine
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if intersection(extents[i], extents[j]) is not None:
                    groups[i] += groups.pop(j)
                    extents[i] = union([extents[i], extents.pop(j)])
                    merged = True
                    break
            if merged:
                break
    return groups


def merge_overlapping(boxes: list[Box]) -> list[Box]:
    """Boxes covering the same pixels with no two overlapping: each pixel is visited once."""
    return [union(boxes[i] for i in group) for group in overlap_groups(boxes)]

"""The magic wand: select the pixels of a colour like the one clicked, touching it or anywhere."""

from __future__ import annotations

import cv2
import numpy as np

DEFAULT_TOLERANCE = 32  # per channel, in levels (0-255), as in Photoshop's default


def magic_wand(image: np.ndarray, x: int, y: int, tolerance: int = DEFAULT_TOLERANCE, contiguous: bool = True) -> np.ndarray:
    """Pixels whose colour is within `tolerance` of the clicked pixel's in every channel (uint8 mask, 255 =
    selected): the connected region around the click if `contiguous`, else every such pixel of the photo."""
    height, width = image.shape[:2]
    if not (0 <= x < width and 0 <= y < height):
        return np.zeros((height, width), np.uint8)
    tolerance = int(min(max(tolerance, 0), 255))
    if not contiguous:
        difference = np.abs(image.astype(np.int16) - image[y, x].astype(np.int16)).max(axis=2)
        return np.where(difference <= tolerance, np.uint8(255), np.uint8(0))
    flood = np.zeros((height + 2, width + 2), np.uint8)
    # Compared with the clicked pixel (fixed range), not step by step: a gradient does not leak away.
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (255 << 8)
    spread = (tolerance,) * 3
    cv2.floodFill(np.ascontiguousarray(image), flood, (x, y), (0, 0, 0), spread, spread, flags)
    return np.ascontiguousarray(flood[1:-1, 1:-1])

"""Mask conventions: uint8 (H, W), 0 = keep, anything above = fill.

A fill covers every pixel whose mask value is above 0: what the overlay shows
is what a fill uses, and a fill leaves no faint edge of mask behind. 255 is
filled fully; values in between (a soft brush edge, a feathered mask) blend
the fill into the photo by that much. Mask files follow the rule of other
inpainting tools instead: white (> 127) is "fill", and they are binarised
when read.
"""

from __future__ import annotations

import cv2
import numpy as np

MASK_THRESHOLD = 0  # a mask value above this is filled
FILE_MASK_THRESHOLD = 127  # in a mask file, brighter than this is "fill" (the rule of other inpainting tools)


def binarize(mask: np.ndarray) -> np.ndarray:
    """A 0/255 uint8 mask from any single-channel array, by the mask-file rule (> 127 = fill)."""
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {mask.shape}")
    return np.where(mask > FILE_MASK_THRESHOLD, np.uint8(255), np.uint8(0))


def resize_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with nearest neighbour and binarise, so no grey edges appear."""
    resized = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    return binarize(resized)


def is_empty(mask: np.ndarray) -> bool:
    return not np.any(mask > MASK_THRESHOLD)


def mask_fraction(mask: np.ndarray) -> float:
    return float(np.count_nonzero(mask > MASK_THRESHOLD)) / mask.size

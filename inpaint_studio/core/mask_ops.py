"""Mask conventions: uint8 (H, W), 255 = pixels to fill, 0 = keep."""

from __future__ import annotations

import cv2
import numpy as np

# Same rule as other inpainting tools: anything brighter than this is "fill".
MASK_THRESHOLD = 127


def binarize(mask: np.ndarray) -> np.ndarray:
    """A 0/255 uint8 mask from any single-channel array."""
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {mask.shape}")
    return np.where(mask > MASK_THRESHOLD, np.uint8(255), np.uint8(0))


def resize_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with nearest neighbour and binarise, so no grey edges appear."""
    resized = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    return binarize(resized)


def is_empty(mask: np.ndarray) -> bool:
    return not np.any(mask > MASK_THRESHOLD)


def mask_fraction(mask: np.ndarray) -> float:
    return float(np.count_nonzero(mask > MASK_THRESHOLD)) / mask.size

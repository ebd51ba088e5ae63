"""How well a detected damage mask matches the true one.

Matching rule: a pixel counts as matched when the other mask has a pixel
within `tolerance` pixels of it (chessboard distance; 0 = exact pixels).
Precision is the share of detected pixels near a true damage pixel, recall the
share of true damage pixels near a detected pixel. A one-pixel tolerance
forgives the anti-aliased rim of a scratch, whose faint edge pixels are in the
true mask but carry almost no signal; the benchmark reports exact figures too.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inpaint_studio.core.mask_ops import FILE_MASK_THRESHOLD


@dataclass(frozen=True)
class DetectionScore:
    precision: float
    recall: float
    f1: float
    detected: int  # pixels in the detected mask
    truth: int  # pixels in the true mask


def score_detection(detected: np.ndarray, truth: np.ndarray, tolerance: int = 1) -> DetectionScore:
    """Precision, recall and F1 of `detected` against `truth` (uint8 masks, > 127 = damage)."""
    if detected.shape != truth.shape:
        raise ValueError(f"mask shapes differ: {detected.shape} vs {truth.shape}")
    found = detected > FILE_MASK_THRESHOLD
    real = truth > FILE_MASK_THRESHOLD
    near_real, near_found = _near(real, tolerance), _near(found, tolerance)
    n_found, n_real = int(found.sum()), int(real.sum())
    # An empty detection is perfectly precise; an empty truth is perfectly recalled.
    precision = float((found & near_real).sum()) / n_found if n_found else 1.0
    recall = float((real & near_found).sum()) / n_real if n_real else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return DetectionScore(precision, recall, f1, n_found, n_real)


def _near(mask: np.ndarray, tolerance: int) -> np.ndarray:
    if tolerance <= 0:
        return mask
    kernel = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)

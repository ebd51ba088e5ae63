"""Objects pasted into photos, with the truth of where they are: the test set for selection tools.

An object is a piece of another photo cut out along a random smooth blob (a
soft alpha edge, as a real object's would look), pasted at a random place.
Selecting it from a box around it should give back the pasted alpha.
Deterministic for a seed, like `restore.degrade`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inpaint_studio.core.boxes import Box


@dataclass(frozen=True)
class PastedObject:
    image: np.ndarray  # the photo with the object in it
    truth: np.ndarray  # uint8 (H, W): 255 where the object is (alpha > half)
    box: Box  # the object's bounding box, with a small margin, as a user would drag it


def blob_alpha(size: int, rng: np.random.Generator) -> np.ndarray:
    """A random smooth closed shape in a size x size square, float32 alpha 0..1 with a 1-2 px soft edge."""
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    radii = rng.uniform(0.25, 0.47, angles.size)
    radii = np.convolve(np.r_[radii[-2:], radii, radii[:2]], np.ones(5) / 5, mode="valid")  # smooth, closed
    centre = size / 2
    points = np.stack([centre + radii * size * np.cos(angles), centre + radii * size * np.sin(angles)], 1)
    shape = np.zeros((size, size), np.uint8)
    cv2.fillPoly(shape, [np.round(points * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(shape.astype(np.float32) / 255, (0, 0), 0.8)


def paste_object(photo: np.ndarray, source: np.ndarray, seed: int, share: float = 0.12) -> PastedObject:
    """`photo` with a blob cut from `source` pasted in, its square about twice `share` of the photo's shorter side."""
    rng = np.random.default_rng(seed)
    height, width = photo.shape[:2]
    size = max(24, int(2 * share * min(height, width)))
    alpha = blob_alpha(size, rng)
    sy = int(rng.integers(0, max(source.shape[0] - size, 1)))
    sx = int(rng.integers(0, max(source.shape[1] - size, 1)))
    piece = cv2.resize(source, (max(source.shape[1], size), max(source.shape[0], size)))[sy : sy + size, sx : sx + size]
    y = int(rng.integers(0, height - size))
    x = int(rng.integers(0, width - size))
    result = photo.copy()
    region = result[y : y + size, x : x + size].astype(np.float32)
    blended = region * (1 - alpha[..., None]) + piece.astype(np.float32) * alpha[..., None]
    result[y : y + size, x : x + size] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    truth = np.zeros((height, width), np.uint8)
    truth[y : y + size, x : x + size] = np.where(alpha > 0.5, 255, 0).astype(np.uint8)
    ys, xs = np.nonzero(truth)
    margin = max(2, size // 25)
    box = Box(
        max(int(xs.min()) - margin, 0), max(int(ys.min()) - margin, 0),
        min(int(xs.max()) + 1 + margin, width), min(int(ys.max()) + 1 + margin, height),
    )
    return PastedObject(result, truth, box)


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two masks (> 127 = in)."""
    a, b = mask > 127, truth > 127
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b)) / union if union else 1.0

"""Draw realistic damage onto a clean photo and return the exact mask of what was drawn.

For tests and benchmarks of damage detection: scratches (long, thin, gently
curved lines, bright or dark, whose width and opacity vary along their length),
hairs (thin, dark, curly) and dust (small bright or dark specks and irregular
blobs). The same image and seed always give the same result.

The mask is exact: 255 on every pixel the generator painted, 0 on every pixel it
left bit-identical. Anti-aliased fringes fainter than `MIN_ALPHA`, and places
where the damage would barely differ from the photo (`MIN_CHANGE`), are not
painted at all, so the mask holds no pixel whose damage cannot be seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_ALPHA = 0.15  # fringe coverage below this is dropped rather than left out of the mask
# Where the damage would change no channel by this much (a dark hair on a dark
# coat, a white speck on white sky) it is not drawn: the change would be
# invisible, so no detector could, or needs to, find it there.
MIN_CHANGE = 10
_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_SCALE = 1 << _SHIFT


@dataclass(frozen=True)
class Degraded:
    image: np.ndarray  # uint8 (H, W, 3) RGB: the damaged photo
    mask: np.ndarray  # uint8 (H, W): 255 = a pixel the damage changed, 0 = untouched


def degrade(
    image: np.ndarray,
    seed: int = 0,
    *,
    scratches: int | None = None,
    hairs: int | None = None,
    dust: int | None = None,
) -> Degraded:
    """Damage a copy of `image` (uint8 RGB). Counts default to amounts that grow with the area.

    Sizes are in pixels of a 512-pixel short side and scale with the photo, so a
    24-megapixel scan gets proportionally wider scratches.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image, got {image.dtype} {image.shape}")
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    unit = max(1.0, min(height, width) / 512)  # pixels per "512-scale" pixel
    area = height * width / (unit * unit * 512 * 512)  # in 512x512 photos
    counts = {
        "scratches": scratches if scratches is not None else max(1, round(rng.integers(3, 8) * area)),
        "hairs": hairs if hairs is not None else round(rng.integers(1, 3) * area),
        "dust": dust if dust is not None else round(rng.integers(20, 60) * area),
    }

    result = image.copy()
    mask = np.zeros((height, width), np.uint8)
    for _ in range(counts["scratches"]):
        _paint(result, mask, *_scratch(rng, width, height, unit))
    for _ in range(counts["hairs"]):
        _paint(result, mask, *_hair(rng, width, height, unit))
    for _ in range(counts["dust"]):
        _paint(result, mask, *_speck(rng, width, height, unit))
    return Degraded(result, mask)


def _paint(image: np.ndarray, mask: np.ndarray, bounds: np.ndarray, draw, colour: np.ndarray) -> None:
    """Blend `colour` into `image` where `draw(canvas_shape, canvas_origin)` covers it.

    Drawing happens on a canvas around the shape's `bounds` (points whose box
    holds it) only, so a speck on a 24-megapixel photo costs a few hundred
    pixels, not the whole photo.
    """
    height, width = mask.shape
    x0, y0 = np.floor(bounds.min(0)).astype(int) - 1
    x1, y1 = np.ceil(bounds.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x0 >= x1 or y0 >= y1:
        return
    alpha = draw((y1 - y0, x1 - x0), np.array([x0, y0], np.float64))
    region = image[y0:y1, x0:x1]
    a = alpha[..., None].astype(np.float32)
    blended = np.clip(np.rint(region * (1 - a) + colour * a), 0, 255)
    change = np.abs(blended - region).max(axis=2)
    paint = (alpha >= MIN_ALPHA) & (change >= MIN_CHANGE)
    region[paint] = blended[paint].astype(np.uint8)
    mask[y0:y1, x0:x1][paint] = 255


def _colour(rng: np.random.Generator, bright: bool) -> np.ndarray:
    """Near-white (lost emulsion, dust on a negative) or near-black (dirt, hair), slightly tinted."""
    level = rng.uniform(215, 255) if bright else rng.uniform(5, 45)
    return np.clip(level + rng.normal(0, 6, 3), 0, 255).astype(np.float32)


def _curve(rng: np.random.Generator, width: int, height: int, length: float, bend: float) -> np.ndarray:
    """Points (N, 2) of a smooth random path: a heading that drifts by `bend` radians per step."""
    step = 2.0
    count = max(2, int(length / step))
    start = rng.uniform((0, 0), (width, height))
    heading = rng.uniform(0, 2 * np.pi)
    # Smoothed random turning: curvature changes slowly along the path.
    turns = np.convolve(rng.normal(0, bend, count + 20), np.ones(20) / 20, mode="same")[:count]
    headings = heading + np.cumsum(turns)
    steps = np.stack([np.cos(headings), np.sin(headings)], 1) * step
    return start + np.cumsum(steps, 0)


def _stroke(points: np.ndarray, widths: np.ndarray, opacities: np.ndarray):
    """A drawer for a polyline whose width and opacity change along it (anti-aliased)."""

    def draw(shape: tuple[int, int], offset: np.ndarray) -> np.ndarray:
        return _draw_stroke(shape, points - offset, widths, opacities)

    pad = widths.max() / 2 + 2
    return np.vstack([points.min(0) - pad, points.max(0) + pad]), draw


def _draw_stroke(shape: tuple[int, int], points: np.ndarray, widths: np.ndarray, opacities: np.ndarray) -> np.ndarray:
    alpha = np.zeros(shape, np.float32)
    layer = np.zeros(shape, np.uint8)
    fixed = np.rint(points * _SCALE).astype(np.int32)
    # Draw runs of segments with the same rounded width and opacity in one call.
    levels = np.rint(opacities * 10).astype(int)
    thick = np.maximum(1, np.rint(widths).astype(int))
    start = 0
    for end in range(1, len(points)):
        if end < len(points) - 1 and thick[end] == thick[start] and levels[end] == levels[start]:
            continue
        layer[:] = 0
        cv2.polylines(layer, [fixed[start : end + 1]], False, 255, int(thick[start]), cv2.LINE_AA, _SHIFT)
        np.maximum(alpha, layer * (levels[start] / 2550.0), out=alpha)
        start = end
    return alpha


def _scratch(rng: np.random.Generator, width: int, height: int, unit: float):
    length = rng.uniform(0.25, 0.9) * np.hypot(width, height)
    points = _curve(rng, width, height, length, bend=0.01)
    n = len(points)
    phase = rng.uniform(0, 2 * np.pi)
    along = np.linspace(0, rng.uniform(1, 4) * np.pi, n) + phase
    widths = unit * (rng.uniform(1.0, 2.5) + 0.6 * np.sin(along))
    opacities = np.clip(rng.uniform(0.6, 1.0) + 0.25 * np.sin(along * 1.7 + 1), 0.35, 1.0)
    return (*_stroke(points, widths, opacities), _colour(rng, bright=rng.random() < 0.7))


def _hair(rng: np.random.Generator, width: int, height: int, unit: float):
    length = rng.uniform(40, 180) * unit
    points = _curve(rng, width, height, length, bend=0.12)
    widths = np.full(len(points), unit * rng.uniform(1.0, 1.8))
    opacities = np.full(len(points), rng.uniform(0.75, 1.0))
    return (*_stroke(points, widths, opacities), _colour(rng, bright=False))


def _speck(rng: np.random.Generator, width: int, height: int, unit: float):
    """A round speck (most dust) or an irregular blob (a clump or fibre fragment)."""
    centre = rng.uniform((0, 0), (width, height))
    if rng.random() < 0.75:
        radius = rng.uniform(0.7, 2.5) * unit
        axes = (max(1, int(radius * _SCALE)), max(1, int(radius * rng.uniform(0.6, 1.0) * _SCALE)))
        angle = rng.uniform(0, 180)
        bounds = np.array([centre - radius - 1, centre + radius + 1])

        def draw(shape: tuple[int, int], offset: np.ndarray) -> np.ndarray:
            layer = np.zeros(shape, np.uint8)
            cx, cy = (int(v) for v in np.rint((centre - offset) * _SCALE))
            cv2.ellipse(layer, (cx, cy), axes, angle, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)
            return layer * (opacity / 255.0)

    else:
        corners = rng.integers(5, 9)
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        radii = rng.uniform(1.5, 4.5, corners) * unit
        bounds = centre + np.stack([np.cos(angles) * radii, np.sin(angles) * radii], 1)

        def draw(shape: tuple[int, int], offset: np.ndarray) -> np.ndarray:
            layer = np.zeros(shape, np.uint8)
            cv2.fillPoly(layer, [np.rint((bounds - offset) * _SCALE).astype(np.int32)], 255, cv2.LINE_AA, _SHIFT)
            return layer * (opacity / 255.0)

    opacity = rng.uniform(0.7, 1.0)
    return bounds, draw, _colour(rng, bright=rng.random() < 0.6)

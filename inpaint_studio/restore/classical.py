"""The classical damage detector: morphological filters, no weights.

Damage is thin or small, nearly neutral (lost emulsion is white, dirt and hair
dark) and differs sharply from what surrounds it. Bright damage is searched in
the weakest colour channel of each pixel (white lifts it even on saturated
colour), dark damage in the strongest:

1. Residual: the plane minus its morphological opening (bright) or closing
   (dark) with a 7 px disk; what is left are structures narrower than the disk.
2. Lines: the residual opened with 15 px line segments at 8 orientations keeps
   what is long and thin (scratches, hairs), drops short texture. A thin line
   that runs along an edge of the background (a cup rim, the border between
   two fabrics) is photo content, not damage: each orientation's response is
   reduced by the background's contrast across that orientation.
3. Spots: residual the lines do not explain, on a background without edges,
   counts only in small isolated blobs (dust).
4. Evidence: line or spot strength divided by the local texture level (the box
   mean of the residual, counting a line only 30 %, so that a wide scratch does
   not hide itself). Busy texture needs stronger evidence than a clear sky.
5. Scales: on photos with a short side of 1024 px or more the same analysis
   runs again on the photo halved (and halved again while the short side stays
   at least 512 px), and each pixel keeps its strongest evidence, so damage as
   wide as a scan's resolution makes it is found too (24 px scratches on 24 MP).

The result is evidence in units of local texture; `detect.DamageMap` thresholds it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import cv2
import numpy as np

_DISK = 7  # residual scale: structures narrower than this are candidates
_LINE = 15  # length of the line segments a scratch must hold
_ORIENTATIONS = 8
_EDGE_SIGMA = 2.0  # smoothing of the background before measuring its edges
_EDGE_SPAN = 6.0  # background contrast is taken over this many pixels
_EDGE_WEIGHT_LINE = 2.0  # how strongly an edge along a line vetoes it
_EDGE_WEIGHT_SPOT = 0.5
_TEXTURE_WINDOW = 31  # box over which the texture level is measured
_LINE_SHARE = 0.3  # how much line residual counts as texture
_TEXTURE_FLOOR = 1.2  # grey levels: the texture level of a flat area (noise, JPEG)
_SPOT_AREA = 100  # largest dust blob in pixels (a 4.5 px radius clump with its rim)
_SPOT_GATE = 11.0  # evidence at which a spot candidate's size is judged
# Coarser levels are added while the halved photo keeps this short side: a
# 24 MP scan is searched at 1, 1/2, 1/4 and 1/8 size, a 512 px photo only at full size.
_MIN_LEVEL_SIDE = 512
_BAND, _MARGIN = 512, 64  # rows per parallel band, and rows of context around it


def classical_evidence(image: np.ndarray) -> np.ndarray:
    """float32 (H, W): damage strength of `image` (uint8 RGB) in units of its local texture."""
    # Damage is nearly neutral: white damage lifts even the weakest channel, dark
    # damage pulls down even the strongest, which on coloured content stands out
    # more than in grey.
    red, green, blue = cv2.split(image)  # OpenCV: 10x faster than numpy's min over the channel axis
    bright = cv2.min(cv2.min(red, green), blue)
    dark = cv2.max(cv2.max(red, green), blue)
    evidence = _banded_evidence(bright, dark)
    coarse = _coarse_evidence(bright, dark)
    if coarse is not None:
        height, width = bright.shape
        np.maximum(evidence, cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR), out=evidence)
    return evidence


def _coarse_evidence(bright: np.ndarray, dark: np.ndarray) -> np.ndarray | None:
    """Evidence from the planes halved once and more, at half size; None when too small.

    Each halving doubles the widest damage found. Levels are combined coarse
    to fine at their own size, so only one map is scaled to the full photo.
    """
    height, width = bright.shape
    if min(height, width) // 2 < _MIN_LEVEL_SIDE:
        return None
    size = (width // 2, height // 2)
    bright, dark = (cv2.resize(plane, size, interpolation=cv2.INTER_AREA) for plane in (bright, dark))
    evidence = _banded_evidence(bright, dark)
    coarser = _coarse_evidence(bright, dark)
    if coarser is not None:
        np.maximum(evidence, cv2.resize(coarser, size, interpolation=cv2.INTER_LINEAR), out=evidence)
    return evidence


def _banded_evidence(bright: np.ndarray, dark: np.ndarray) -> np.ndarray:
    """Evidence of one pyramid level (bright damage searched in `bright`, dark in `dark`), in row bands."""
    height = bright.shape[0]
    evidence = np.empty(bright.shape, np.float32)

    def band(top: int) -> None:
        # Each band is computed with a margin wider than every filter's reach and
        # than a dust blob, so bands join without seams.
        bottom = min(top + _BAND, height)
        lo, hi = max(0, top - _MARGIN), min(height, bottom + _MARGIN)
        result = _evidence(bright[lo:hi], cv2.MORPH_OPEN)
        np.maximum(result, _evidence(dark[lo:hi], cv2.MORPH_CLOSE), out=result)
        evidence[top:bottom] = result[top - lo : bottom - lo]

    # OpenCV and numpy release the GIL, so bands run in parallel on threads.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(band, range(0, height, _BAND)))
    return evidence


def _evidence(grey: np.ndarray, operation: int) -> np.ndarray:
    """Evidence for one polarity: MORPH_OPEN finds bright damage, MORPH_CLOSE dark damage.

    Works in saturating uint8 arithmetic (negative responses are no evidence
    anyway) until the final division: a quarter of the memory traffic of float.
    """
    background = cv2.morphologyEx(grey, operation, _disk())
    residual = cv2.absdiff(grey, background)
    # Background derivatives, 8x scaled by the Sobel kernel.
    smooth = cv2.GaussianBlur(background, (0, 0), _EDGE_SIGMA)
    gx = cv2.Sobel(smooth, cv2.CV_16S, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_16S, 0, 1, ksize=3)

    lines = np.zeros_like(residual)  # line response minus the background edge along it
    raw_lines = np.zeros_like(residual)  # line response alone
    weight = _EDGE_WEIGHT_LINE * _EDGE_SPAN / 8
    for angle, kernel in _line_kernels():
        opened = cv2.morphologyEx(residual, cv2.MORPH_OPEN, kernel)
        cv2.max(raw_lines, opened, dst=raw_lines)
        # |background gradient along the line's normal (-sin, cos)|, saturated to uint8.
        across = cv2.convertScaleAbs(cv2.addWeighted(gy, weight * np.cos(angle), gx, -weight * np.sin(angle), 0.0))
        cv2.max(lines, cv2.subtract(opened, across), dst=lines)

    texture = cv2.addWeighted(residual, 1.0, raw_lines, _LINE_SHARE - 1.0, 0.0, dtype=cv2.CV_32F)
    level = _local_mean(texture, _TEXTURE_WINDOW)
    np.maximum(level, _TEXTURE_FLOOR, out=level)

    edges = cv2.magnitude(gx.astype(np.float32), gy.astype(np.float32))
    spots = cv2.subtract(cv2.subtract(residual, raw_lines), cv2.convertScaleAbs(edges, alpha=_EDGE_WEIGHT_SPOT * _EDGE_SPAN / 8))
    spot_evidence = cv2.divide(spots, level, dtype=cv2.CV_32F)
    line_evidence = cv2.divide(lines, level, dtype=cv2.CV_32F)
    isolated = _small_regions(spot_evidence >= _SPOT_GATE, _SPOT_AREA)
    np.maximum(line_evidence, spot_evidence, out=line_evidence, where=isolated)
    return line_evidence


def _local_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Box mean over about `window` pixels, computed on 4x4 cells: the level varies slowly."""
    height, width = values.shape
    cell = 4
    if min(height, width) < 4 * window:
        return cv2.blur(values, (window, window))
    small = cv2.resize(values, (width // cell, height // cell), interpolation=cv2.INTER_AREA)
    side = max(1, round(window / cell)) | 1
    small = cv2.blur(small, (side, side))
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _small_regions(candidates: np.ndarray, max_area: int) -> np.ndarray:
    """True on connected regions of `candidates` with at most `max_area` pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidates.astype(np.uint8), connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] <= max_area
    small[0] = False
    return small[labels]


@cache
def _disk() -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_DISK, _DISK))


@cache
def _line_kernels() -> tuple[tuple[float, np.ndarray], ...]:
    """(angle, one-pixel line of length _LINE through the centre) for evenly spaced angles."""
    kernels = []
    centre = _LINE // 2
    for index in range(_ORIENTATIONS):
        angle = np.pi * index / _ORIENTATIONS
        dx, dy = round(np.cos(angle) * centre), round(np.sin(angle) * centre)
        kernel = np.zeros((_LINE, _LINE), np.uint8)
        cv2.line(kernel, (centre - dx, centre - dy), (centre + dx, centre + dy), 1, 1)
        kernels.append((angle, kernel))
    return tuple(kernels)

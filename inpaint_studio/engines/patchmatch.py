"""Exemplar-based inpainting: PatchMatch search inside a multi-scale EM loop.

The hole is filled with pixels copied from the rest of the crop, the way
content-aware fill does it (Wexler, Shechtman & Irani 2007, with the PatchMatch
search of Barnes et al. 2009):

1. Build an image pyramid by halving until the hole is at most
   `_COARSEST_HOLE_RADIUS` px from its edge (or the crop gets too small). A
   coarse cell is part of the hole if any pixel under it is.
2. At the coarsest level, start from a smooth diffusion fill (OpenCV Telea).
3. At every level repeat: for every patch that overlaps the hole, find the
   most similar patch lying fully outside it (PatchMatch: random start or the
   coarser level's matches, propagation, random search), then set every hole
   pixel to the mean of what the overlapping matches put there (voting).
4. Double the matches to initialise the next finer level, and vote there.

Patches are compared in Lab (plus texture features at coarse levels) with a
small penalty on the distance to the source. Only patches overlapping the hole
get matches, so the cost grows with the hole, not with the crop. Sweeps over
many patches run as row bands on threads (the kernels release the GIL), with
results that do not depend on the number of cores.

numba is imported inside `inpaint`, so listing engines and opening the GUI
stay fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, cast

import cv2
import numpy as np

from inpaint_studio.engines.base import (
    Engine,
    EngineContext,
    EngineInfo,
    EngineKind,
    Param,
)

# The coarsest level is the first whose hole is at most this far (px) from its
# edge. Measured on the evaluation set: a few px (as in the papers) lets coarse
# exemplars invent wrong structure; ~16 px lets the smooth start set the broad
# colours and the patches add the detail, which scores best on PSNR and GMSD.
_COARSEST_HOLE_RADIUS = 16.0
# A level is only used if it is at least this big and has this many sources.
_MIN_LEVEL_SIDE = 12
_MIN_SOURCES = 64
# Matching cost per squared pixel of distance between a patch and its source,
# in full-resolution pixels: near sources are slightly preferred, as nearby
# content is the likeliest continuation.
_LOCALITY = 0.1

# Texture features (Newson et al. 2014): the local mean of |d/dx| and |d/dy|
# of the grey photo over a window, compared at coarse levels with this weight
# relative to Lab. Halving a photo blurs fine texture (gravel, foliage) into the
# same flat colour as a smooth area (water, sky); these keep them apart. The
# finest level compares the pixels themselves, so it skips them.
_TEXTURE_WEIGHT = 3.0
_TEXTURE_WINDOW = 7

# EM iterations per level. Fills keep improving with iterations at the coarse
# levels (matches settle from the hole's edge inwards), so those get a fixed
# amount of work (targets x iterations) within bounds: small holes get many
# cheap iterations, large ones stay fast (the budgets keep a 512x512 photo's
# strokes under ~0.4 s on 2 cores). The finest level starts from doubled
# matches that are nearly right and holds most targets, so it gets one.
_COARSEST_WORK, _COARSEST_ITERATIONS = 50_000, (8, 100)
_MIDDLE_WORK, _MIDDLE_ITERATIONS = 50_000, (2, 8)
_FINEST_ITERATIONS = 1
# A hole thin enough for a single level (scratches, small spots) starts from
# random matches. Thin scratches are best with few iterations (the smooth start
# is already close); wider holes need about 3 per pixel of half-width for a
# periodic texture to grow in from the edge.
_SINGLE_ITERATIONS, _SINGLE_PER_PX = (5, 100), 3.0
# Sweeps in a level's first iteration: 4 from random matches, else 2. Later
# iterations, and the finest level's second sweep, do one searching sweep and
# one cheap propagation-only sweep back.
_FIRST_SWEEPS_RANDOM, _FIRST_SWEEPS = 4, 2
# Spread (px) of the finest level's vote weights around each match's centre.
_FINEST_VOTE_SIGMA = 1.0
# Sweeps of levels with many targets run as this many row bands on threads.
_BANDS = 4
_MIN_BAND_TARGETS = 500


_pool_instance: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """Threads for PatchMatch sweeps (the kernels release the GIL)."""
    global _pool_instance
    if _pool_instance is None:
        _pool_instance = ThreadPoolExecutor(max_workers=max(1, min(_BANDS, os.cpu_count() or 1)), thread_name_prefix="patchmatch")
    return _pool_instance


def _downsample(color: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Halve with 2x2 means; a coarse cell is hole if any of its pixels is.

    Odd sizes are padded by repeating the last row/column so every coarse cell
    maps onto exactly the 2x2 block the mask pooling uses.
    """
    height, width = hole.shape
    pad_y, pad_x = height % 2, width % 2
    if pad_y or pad_x:
        color = np.pad(color, ((0, pad_y), (0, pad_x), (0, 0)), mode="edge")
        hole = np.pad(hole, ((0, pad_y), (0, pad_x)), mode="edge")
    h2, w2 = hole.shape[0] // 2, hole.shape[1] // 2
    # INTER_AREA at exactly half size is the mean of each 2x2 block.
    small = cv2.resize(color, (w2, h2), interpolation=cv2.INTER_AREA)
    small_hole = cast(np.ndarray, hole.reshape(h2, 2, w2, 2).any(axis=(1, 3)))  # an array: numpy's stubs allow a scalar
    return small, small_hole


def _near(hole: np.ndarray, r: int) -> np.ndarray:
    """Bool map of pixels within r (chessboard distance) of the hole."""
    size = 2 * r + 1
    return cv2.dilate(hole.astype(np.uint8), np.ones((size, size), np.uint8)) > 0


def _sources(hole: np.ndarray, r: int) -> np.ndarray:
    """Bool map of valid source centres: the patch is inside the image and misses the hole."""
    valid = ~_near(hole, r)
    valid[:r, :] = False
    valid[:, :r] = False
    valid[-r:, :] = False
    valid[:, -r:] = False
    return valid


def _vote_weights(r: int, finest: bool) -> np.ndarray:
    """How much each position of a patch counts in the vote.

    Equal weights at coarse levels. At the finest level a Gaussian favours each
    match's centre: a plain mean of 49 slightly shifted copies washes out fine
    grain (sand, skin, film noise), and a sigma of 1 px keeps it for a PSNR cost
    of ~0.05 dB on the evaluation set.
    """
    if not finest:
        return np.ones((2 * r + 1, 2 * r + 1), np.float32)
    d = np.arange(-r, r + 1, dtype=np.float32)
    g = np.exp(-(d * d) / (2.0 * _FINEST_VOTE_SIGMA**2))
    return np.outer(g, g).astype(np.float32)


def _texture(image: np.ndarray, hole: np.ndarray, window: int) -> np.ndarray:
    """Local mean of |d/dx| and |d/dy| of the grey image (Newson et al. 2014's texture features).

    Halving an image blurs a fine texture into the same flat colour as a smooth
    area; these two channels keep them apart at coarse levels. Only gradients
    whose 3x3 stencil misses the hole count, so the hole's content never leaks in.
    """
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=1)) * 0.5
    gy = np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=1)) * 0.5
    valid = (~_near(hole, 1)).astype(np.float32)
    norm = cv2.boxFilter(valid, -1, (window, window), normalize=True, borderType=cv2.BORDER_REFLECT)
    out = np.empty(hole.shape + (2,), np.float32)
    for c, g in enumerate((gx, gy)):
        avg = cv2.boxFilter(g * valid, -1, (window, window), normalize=True, borderType=cv2.BORDER_REFLECT)
        out[..., c] = np.where(norm > 1e-3, avg / np.maximum(norm, 1e-3), 0.0)
    out[hole] = 0.0
    return out


def _features(color: np.ndarray, texture: bool) -> np.ndarray:
    """What patch distances compare: Lab with L scaled to the a/b range (~0-255), and texture."""
    lab: np.ndarray = cv2.cvtColor(np.ascontiguousarray(color[..., :3]) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)
    lab[..., 0] *= 2.55
    if color.shape[2] > 3 and texture:
        lab = np.dstack([lab, color[..., 3:] * _TEXTURE_WEIGHT])
    # The kernels read each pixel's features as one run of a (H, W * C) array.
    return np.ascontiguousarray(lab).reshape(lab.shape[0], -1)


class _Level:
    """One pyramid level: its pixels, hole, sources and targets."""

    def __init__(self, color: np.ndarray, hole: np.ndarray, r: int) -> None:
        self.color = color  # float32 RGB; hole pixels are rewritten by the fill
        self.hole = hole
        self.valid = _sources(hole, r)
        self.src_y, self.src_x = (a.astype(np.int32) for a in np.nonzero(self.valid))
        # Centres of every patch overlapping the hole, in scan order.
        self.ty, self.tx = (a.astype(np.int32) for a in np.nonzero(_near(hole, r)))
        # How far (px) the hole's deepest pixel is from its edge.
        self.half_width = float(cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3).max())


class PatchMatchEngine(Engine):
    info = EngineInfo(
        id="patchmatch",
        name="PatchMatch",
        description=(
            "Fills the mask with patches copied from the surrounding photo (PatchMatch, "
            "as in content-aware fill). Keeps texture sharp; best for removing objects."
        ),
        kind=EngineKind.CLASSICAL,
        # Measured on the evaluation set: a tight ring of context (sources near the
        # hole are the likeliest continuation) beat wider ones on PSNR and GMSD.
        context_margin=16,
        context_ratio=0.2,
        params=(
            Param("seed", "Seed", 0, minimum=0, maximum=2**31 - 1, help="Random seed; another seed gives another fill."),
            Param(
                "patch_size",
                "Patch size",
                7,
                minimum=3,
                maximum=15,
                help="Side (px) of the compared patches; even sizes round up. "
                "Larger keeps bigger structures; smaller copies finer detail.",
            ),
        ),
    )

    def inpaint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        params: Mapping[str, Any],
        context: EngineContext,
    ) -> np.ndarray:
        from inpaint_studio.engines import _patchmatch_kernels as kernels

        context.raise_if_cancelled()
        context.progress(0.0)
        seed = int(params.get("seed", 0))
        r = max(1, int(params.get("patch_size", 7)) // 2)
        hole = mask > 127
        if hole.all():
            # Nothing to copy from: leave the crop as it is.
            context.progress(1.0)
            return image.copy()

        # A crop too small for the patch size gets smaller patches, down to 3x3.
        while r > 1 and not _sources(hole, r).any():
            r -= 1
        # The hole's pixels (the object being removed) must never leak into the fill.
        color = image.astype(np.float32)
        color[hole] = 0.0
        color = np.ascontiguousarray(np.dstack([color, _texture(image, hole, _TEXTURE_WINDOW)]))
        levels = self._pyramid(color, hole, r)
        if not levels[0].src_y.size:
            # Not even a 3x3 patch fits outside the hole: diffusion is all we can do.
            context.progress(1.0)
            return self._telea(image, hole)

        plans = self._plans(levels)  # (iterations, first sweeps), coarsest first
        coarse_to_fine = list(zip(reversed(levels), plans, strict=True))
        total_work = float(sum(lv.ty.size * (first + 2 * (its - 1) + 1) for lv, (its, first) in coarse_to_fine))
        done = 0.0

        self._smooth_start(levels[-1])
        field = None
        for step, (level, (iterations, first_sweeps)) in enumerate(coarse_to_fine):
            context.raise_if_cancelled()
            finest = step == len(levels) - 1
            height, width = level.hole.shape
            scale = 2 ** (len(levels) - 1 - step)
            locality = _LOCALITY * scale * scale  # the same penalty in full-resolution pixels
            level_seed = (seed * 1009 + step * 101) & 0x7FFFFFFF
            vote_weights = _vote_weights(r, finest)
            # The finest level matches on colour alone, so only colour needs voting there.
            voted = 3 if finest else level.color.shape[2]
            nnf = np.full((height, width, 2), -1, np.int32)
            if field is None:
                kernels.random_init(nnf, level.ty, level.tx, level.src_y, level.src_x, level_seed)
            else:
                kernels.upsample_nnf(field, nnf, level.ty, level.tx, level.valid, level.src_y, level.src_x, level_seed)
                # The doubled matches give this level's first fill, sharper than enlarging the coarse one.
                kernels.vote(level.color, level.hole, level.ty, level.tx, nnf, r, vote_weights, voted)
            dist = np.zeros((height, width), np.float32)
            for it in range(iterations):
                context.raise_if_cancelled()
                feat = _features(level.color, texture=not finest)
                kernels.match_distances(feat, level.ty, level.tx, nnf, dist, r, locality)
                sweeps = first_sweeps if it == 0 else 2
                for s in range(sweeps):
                    # Random search in every sweep of a level's first iteration, except the finest
                    # level's second: its doubled matches need little more than spreading.
                    search = s == 0 or (it == 0 and not (finest and step > 0))
                    self._sweep(kernels, level, feat, nnf, dist, r, locality, s, search, level_seed + 10 * it + s + 1)
                kernels.vote(level.color, level.hole, level.ty, level.tx, nnf, r, vote_weights, voted)
                done += level.ty.size * sweeps
                context.progress(min(done / total_work, 1.0))
            done += level.ty.size
            field = nnf

        context.raise_if_cancelled()
        out = image.copy()
        out[hole] = np.clip(np.rint(levels[0].color[hole, :3]), 0, 255).astype(np.uint8)
        context.progress(1.0)
        return out

    @staticmethod
    def _sweep(
        kernels: ModuleType,
        level: _Level,
        feat: np.ndarray,
        nnf: np.ndarray,
        dist: np.ndarray,
        r: int,
        locality: float,
        index: int,
        search: bool,
        seed: int,
    ) -> None:
        """One PatchMatch sweep, split into row bands that run on parallel threads.

        The bands depend only on the targets (never on the number of cores), and
        shift by half a band on odd sweeps so no band edge stays a barrier to
        propagation; the result is the same on any machine.
        """
        n = level.ty.size
        bands = min(_BANDS, max(1, n // _MIN_BAND_TARGETS))
        reverse = index % 2 == 1
        if bands == 1:
            kernels.pm_sweep(feat, level.ty, level.tx, level.valid, nnf, dist, level.src_y, level.src_x,
                             r, locality, reverse, search, seed, 0, n)
            return
        # Equal numbers of targets per band, each cut moved back to the start of its row.
        shift = 0.5 if reverse else 0.0
        splits = [int(n * (b - shift) / bands) for b in range(1, bands + int(reverse))]
        cuts = [0] + [int(c) for c in np.searchsorted(level.ty, level.ty[splits])] + [n]
        jobs = [
            _pool().submit(kernels.pm_sweep, feat, level.ty, level.tx, level.valid, nnf, dist,
                           level.src_y, level.src_x, r, locality, reverse, search, seed + 7919 * b, lo, hi)
            for b, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))
            if hi > lo
        ]
        for job in jobs:
            job.result()

    @staticmethod
    def _pyramid(color: np.ndarray, hole: np.ndarray, r: int) -> list[_Level]:
        """Levels from finest to coarsest."""
        levels = [_Level(color, hole, r)]
        while levels[0].half_width / 2 ** (len(levels) - 1) > _COARSEST_HOLE_RADIUS:
            small, small_hole = _downsample(levels[-1].color, levels[-1].hole)
            if min(small_hole.shape) < _MIN_LEVEL_SIDE or small_hole.all():
                break
            level = _Level(small, small_hole, r)
            if level.src_y.size < _MIN_SOURCES:
                break
            levels.append(level)
        return levels

    @staticmethod
    def _plans(levels: list[_Level]) -> list[tuple[int, int]]:
        """(EM iterations, sweeps in the first iteration) for each level, coarsest first."""
        def budget(level: _Level, work: int, bounds: tuple[int, int]) -> int:
            return int(np.clip(round(work / max(1, level.ty.size)), *bounds))

        if len(levels) == 1:
            lo, hi = _SINGLE_ITERATIONS
            cap = max(lo, min(hi, round(_SINGLE_PER_PX * levels[0].half_width)))
            return [(budget(levels[0], _COARSEST_WORK, (lo, cap)), _FIRST_SWEEPS_RANDOM)]

        plans = [(budget(levels[-1], _COARSEST_WORK, _COARSEST_ITERATIONS), _FIRST_SWEEPS_RANDOM)]
        plans += [(budget(level, _MIDDLE_WORK, _MIDDLE_ITERATIONS), _FIRST_SWEEPS) for level in reversed(levels[1:-1])]
        plans.append((_FINEST_ITERATIONS, _FIRST_SWEEPS))
        return plans

    @staticmethod
    def _smooth_start(level: _Level) -> None:
        """Fill the coarsest hole by diffusion (Telea), colour and texture channels alike."""
        hole_u8 = level.hole.astype(np.uint8) * 255
        level.color[level.hole, :3] = PatchMatchEngine._telea(level.color[..., :3], level.hole)[level.hole]
        for c in range(3, level.color.shape[2]):
            filled = cv2.inpaint(np.ascontiguousarray(level.color[..., c]), hole_u8, 3, cv2.INPAINT_TELEA)
            level.color[level.hole, c] = filled[level.hole]

    @staticmethod
    def _telea(color: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """A smooth diffusion fill (uint8 RGB) of `hole`."""
        rgb = np.clip(np.rint(color), 0, 255).astype(np.uint8)
        return cv2.inpaint(rgb, hole.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)

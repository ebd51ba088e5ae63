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
results that do not depend on the number of cores; every kernel runs in small
pieces, so progress (counted in estimated work) and cancelling come every few
milliseconds. Large fills show previews: each coarse level's fill enlarged to
the crop, and the finest level's first vote.

numba is imported inside `inpaint`, so listing engines and opening the GUI
stay fast.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from functools import partial
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

# Kernels run in pieces of this many targets (or hole pixels), with progress and
# cancel checks between them: ~2-15 ms each.
_PIECE = 8192
# Texture and features are computed in row bands of about this many pixels.
_BAND_PIXELS = 65_536
# Estimated CPU microseconds of each step (x86-64, measured on large holes): what
# progress counts, so it moves at an even pace. Per target:
_UNITS_SEARCH = 1.0  # a searching sweep
_UNITS_PROPAGATE = 0.2  # a propagation-only sweep
_UNITS_DISTANCES = 0.2  # recomputing match distances
# Per hole pixel:
_UNITS_VOTE = 0.1  # voting
_UNITS_REFRESH = 0.05  # refreshing the hole's features (on one thread)
# Per pixel of the crop or level:
_UNITS_TEXTURE = 0.02  # texture features
_UNITS_FEATURES = 0.03  # Lab and texture for matching
_UNITS_COLOR = 0.005  # the crop to float (on one thread)
_UNITS_HALVE = 0.01  # halving a level (on one thread)
# Progress is reported when it has grown by this much.
_PROGRESS_STEP = 0.01
# Previews, only for fills of at least this much work (~0.5 s on 2 cores): the
# coarsest level's first fill, then at most one per interval (s) while the coarse
# levels run, and the finest level's first fill (the doubled matches' vote). Few,
# as drawing one costs the GUI thread ~20 ms for a half-megapixel hole.
_PREVIEW_MIN_UNITS = 600_000
_PREVIEW_INTERVAL = 0.5

_Piece = tuple[Callable[[], object], float]  # a kernel call and its work units

_pool_instance: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """Threads for PatchMatch sweeps (the kernels release the GIL)."""
    global _pool_instance
    if _pool_instance is None:
        _pool_instance = ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="patchmatch")
    return _pool_instance


def _halve(array: np.ndarray) -> np.ndarray:
    """Halve with 2x2 means (float32 planes or a stack of them).

    Odd sizes are padded by repeating the last row/column so every coarse cell
    maps onto exactly the 2x2 block that `_halve_hole` pools.
    """
    height, width = array.shape[:2]
    pad_y, pad_x = height % 2, width % 2
    if pad_y or pad_x:
        array = np.pad(array, ((0, pad_y), (0, pad_x)) + ((0, 0),) * (array.ndim - 2), mode="edge")
    # INTER_AREA at exactly half size is the mean of each 2x2 block.
    small: np.ndarray = cv2.resize(array, (array.shape[1] // 2, array.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return small


def _halve_hole(hole: np.ndarray) -> np.ndarray:
    """Halve a hole mask: a coarse cell is hole if any of its pixels is."""
    height, width = hole.shape
    if height % 2 or width % 2:
        hole = np.pad(hole, ((0, height % 2), (0, width % 2)), mode="edge")
    h2, w2 = hole.shape[0] // 2, hole.shape[1] // 2
    return cast(np.ndarray, hole.reshape(h2, 2, w2, 2).any(axis=(1, 3)))  # an array: numpy's stubs allow a scalar


def _near(hole: np.ndarray, r: int) -> np.ndarray:
    """Bool map of pixels within r (chessboard distance) of the hole."""
    size = 2 * r + 1
    return cv2.dilate(hole.astype(np.uint8), np.ones((size, size), np.uint8)) > 0


def _sources(hole: np.ndarray, r: int, near: np.ndarray | None = None) -> np.ndarray:
    """Bool map of valid source centres: the patch is inside the image and misses the hole.

    `near` is `_near(hole, r)` when the caller has it already.
    """
    valid = ~(_near(hole, r) if near is None else near)
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


def _texture(image: np.ndarray, hole: np.ndarray, window: int, planes: list[np.ndarray], y0: int, y1: int) -> None:
    """Rows y0..y1-1 of the local mean of |d/dx| and |d/dy| of the grey image, into two planes.

    Newson et al. 2014's texture features: halving an image blurs a fine texture
    into the same flat colour as a smooth area; these two channels keep them
    apart at coarse levels. Only gradients whose 3x3 stencil misses the hole
    count, so the hole's content never leaks in. A band of rows is computed from
    a few more rows around it (what the filters reach), so bands computed apart
    give exactly the whole image's result.
    """
    halo = window // 2 + 2
    top, bottom = max(0, y0 - halo), min(hole.shape[0], y1 + halo)
    hole = hole[top:bottom]
    grey = cv2.cvtColor(image[top:bottom], cv2.COLOR_RGB2GRAY).astype(np.float32)
    valid = (~_near(hole, 1)).astype(np.float32)
    size = (window, window)
    norm = cv2.boxFilter(valid, -1, size, normalize=True, borderType=cv2.BORDER_REFLECT)
    zero = (norm <= 1e-3) | hole
    np.maximum(norm, 1e-3, out=norm)
    for plane, (dx, dy) in zip(planes, ((1, 0), (0, 1)), strict=True):
        g: np.ndarray = cv2.Sobel(grey, cv2.CV_32F, dx, dy, ksize=1)
        np.abs(g, out=g)
        g *= 0.5
        g *= valid
        avg: np.ndarray = cv2.boxFilter(g, -1, size, normalize=True, borderType=cv2.BORDER_REFLECT)
        avg /= norm
        avg[zero] = 0.0
        plane[y0:y1] = avg[y0 - top : y1 - top]


def _features(color: np.ndarray, texture: bool) -> np.ndarray:
    """What patch distances compare: Lab with L scaled to the a/b range (~0-255), and texture."""
    lab: np.ndarray = cv2.cvtColor(np.ascontiguousarray(color[..., :3]) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)
    lab[..., 0] *= 2.55
    if color.shape[2] > 3 and texture:
        lab = np.dstack([lab, color[..., 3:] * _TEXTURE_WEIGHT])
    # The kernels read each pixel's features as one run of a (H, W * C) array.
    return np.ascontiguousarray(lab).reshape(lab.shape[0], -1)


def _refresh_features(feat: np.ndarray, level: _Level, texture: bool) -> None:
    """Update `feat` (from `_features`) where the fill changed: only hole pixels are ever rewritten."""
    changed = _features(level.color[level.hy, level.hx][:, None, :], texture)
    feat.reshape(*level.hole.shape, -1)[level.hy, level.hx] = changed.reshape(level.hy.size, -1)


def _row_bands(height: int, width: int, least: int) -> list[tuple[int, int]]:
    """Rows 0..height-1 in bands of about `_BAND_PIXELS` pixels and at least `least` rows."""
    rows = max(least, _BAND_PIXELS // width)
    return [(y0, min(y0 + rows, height)) for y0 in range(0, height, rows)]


def _threads() -> int:
    """How many threads run sweeps at once."""
    return max(1, min(_BANDS, os.cpu_count() or 1))


def _split(call: Callable[[int, int], object], n: int, units_each: float) -> list[list[_Piece]]:
    """call(lo, hi) over 0..n-1 in pieces, one band each: for kernels whose items are independent."""
    return [[(partial(call, lo, hi), units_each * (hi - lo))] for lo, hi in _pieces(0, n)]


class _Level:
    """One pyramid level: its hole, sources and targets, and (once set) its pixels."""

    def __init__(self, hole: np.ndarray, r: int, forbidden: np.ndarray | None = None) -> None:
        from inpaint_studio.engines._patchmatch_kernels import coordinates

        # float32 RGB (plus texture below the finest level); hole pixels are rewritten by the fill.
        self.color: np.ndarray = np.empty((0, 0, 3), np.float32)
        self.hole = hole
        # Outside the user's sampling area: no source patch may touch it, as none may touch the hole.
        self.forbidden = forbidden
        near = _near(hole, r)
        self.valid = _sources(hole, r, near) if forbidden is None else _sources(hole | forbidden, r)
        self.src_y, self.src_x = coordinates(self.valid)
        # Centres of every patch overlapping the hole, in scan order.
        self.ty, self.tx = coordinates(near)
        # The hole's pixels, in scan order: what voting writes.
        self.hy, self.hx = coordinates(hole)
        # How far (px) the hole's deepest pixel is from its edge.
        self.half_width = float(cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3).max())


def _pieces(lo: int, hi: int, reverse: bool = False) -> list[tuple[int, int]]:
    """[lo, hi) cut into runs of at most `_PIECE` items, in the order a sweep visits them (from hi down if reverse)."""
    if reverse:
        return [(max(lo, b - _PIECE), b) for b in range(hi, lo, -_PIECE)]
    return [(a, min(a + _PIECE, hi)) for a in range(lo, hi, _PIECE)]


class _Work:
    """Runs a fill's kernels in pieces and reports progress in work units between them.

    Work units are estimated CPU microseconds (`_UNITS_*`), so the fraction
    reported grows with the time spent and the GUI can show a time estimate.
    Pieces of a band run in order; bands run at once on the thread pool.
    """

    def __init__(self, context: EngineContext, total: float) -> None:
        self.context = context
        self.total = max(total, 1.0)
        self.done = 0.0
        self.reported = 0.0

    def advance(self, units: float) -> None:
        self.done += units
        fraction = min(self.done / self.total, 1.0)
        # Throttled: the GUI gets at most ~1/_PROGRESS_STEP updates.
        if fraction >= self.reported + _PROGRESS_STEP:
            self.reported = fraction
            self.context.progress(fraction)

    def serial(self, units: float) -> None:
        """Count work done on this thread alone: the pool's other threads idled meanwhile."""
        self.advance(units * _threads())

    def run(self, bands: list[list[_Piece]]) -> None:
        """Run every band's pieces in order, the bands at once; stop early when the job is cancelled."""
        if len(bands) == 1:
            for piece, units in bands[0]:
                self.context.raise_if_cancelled()
                piece()
                self.advance(units)
            return
        # Threads report finished pieces through a queue; only this thread calls progress.
        finished: queue.SimpleQueue[float | None] = queue.SimpleQueue()
        stop = threading.Event()

        def run_band(pieces: list[_Piece]) -> None:
            try:
                for piece, units in pieces:
                    if stop.is_set():
                        return
                    piece()
                    finished.put(units)
            finally:
                finished.put(None)

        jobs = [_pool().submit(run_band, pieces) for pieces in bands]
        try:
            running = len(jobs)
            while running:
                done = finished.get()
                if done is None:
                    running -= 1
                else:
                    self.advance(done)
                if self.context.cancel.cancelled:
                    stop.set()
        finally:
            # Never leave threads writing into arrays this call owns (a progress callback may raise).
            stop.set()
            wait(jobs)
        for job in jobs:
            job.result()
        self.context.raise_if_cancelled()


class PatchMatchEngine(Engine):
    info = EngineInfo(
        id="patchmatch",
        name="PatchMatch",
        description=(
            "Fills the mask with patches copied from the surrounding photo (PatchMatch, "
            "as in content-aware fill). Keeps texture sharp; best for removing objects."
        ),
        kind=EngineKind.CLASSICAL,
        copies_from_photo=True,
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

        forbidden = self._forbidden(context, hole, r)
        # A crop too small for the patch size gets smaller patches, down to 3x3.
        while r > 1 and not _sources(hole if forbidden is None else hole | forbidden, r).any():
            r -= 1
        levels = self._pyramid(hole, r, forbidden)
        if not levels[0].src_y.size:
            # Not even a 3x3 patch fits outside the hole: diffusion is all we can do.
            context.progress(1.0)
            return self._telea(image, hole)

        plans = self._plans(levels)  # (iterations, first sweeps), coarsest first
        coarse_to_fine = list(zip(reversed(levels), plans, strict=True))
        work = _Work(context, self._units(levels, plans))
        # Previews only for fills long enough to be watched; small ones are on screen at once anyway.
        show = context.preview if context.preview is not None and work.total >= _PREVIEW_MIN_UNITS else None
        last_shown: float | None = None  # the first coarse fill is shown at once

        self._colors(image, levels, work)
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
                work.run(self._vote_pieces(kernels, level, nnf, r, vote_weights, voted))
                if finest and show is not None:
                    # Full resolution already: the fill as it will look, before the last refinement.
                    show(self._composite(kernels, image, level, level, 1))
            feat = self._level_features(level, texture=not finest, work=work)
            dist = np.zeros((height, width), np.float32)
            for it in range(iterations):
                context.raise_if_cancelled()
                if it > 0:
                    _refresh_features(feat, level, texture=not finest)
                    work.serial(level.hy.size * _UNITS_REFRESH)
                work.run(self._distance_pieces(kernels, level, feat, nnf, dist, r, locality))
                for s, search in enumerate(self._searches(it, first_sweeps, refine=finest and step > 0)):
                    work.run(self._sweep_pieces(kernels, level, feat, nnf, dist, r, locality, s, search,
                                                level_seed + 10 * it + s + 1))
                work.run(self._vote_pieces(kernels, level, nnf, r, vote_weights, voted))
                # Not after the last iteration: the result itself comes next.
                due = last_shown is None or time.perf_counter() - last_shown >= _PREVIEW_INTERVAL
                if show is not None and due and not (finest and it == iterations - 1):
                    show(self._composite(kernels, image, level, levels[0], scale))
                    last_shown = time.perf_counter()
            field = nnf

        context.raise_if_cancelled()
        out = self._composite(kernels, image, levels[0], levels[0], 1)
        context.progress(1.0)
        return out

    @staticmethod
    def _searches(iteration: int, first_sweeps: int, refine: bool) -> list[bool]:
        """Whether each sweep of an iteration searches (True) or only propagates.

        Random search in every sweep of a level's first iteration, except when
        refining (the finest level below coarser ones): its doubled matches need
        little more than spreading. Later iterations search once and propagate back.
        """
        if iteration > 0 or refine:
            return [True] + [False] * ((first_sweeps if iteration == 0 else 2) - 1)
        return [True] * first_sweeps

    @staticmethod
    def _units(levels: list[_Level], plans: list[tuple[int, int]]) -> float:
        """The estimated work (units) of the whole fill, as `inpaint` runs it; serial steps count per thread."""
        serial = _threads()
        crop = levels[0].hole.size
        units = serial * crop * _UNITS_COLOR + (crop * _UNITS_TEXTURE if len(levels) > 1 else 0.0)
        units += serial * _UNITS_HALVE * sum(level.hole.size for level in levels[:-1])
        for step, (level, (iterations, first_sweeps)) in enumerate(zip(reversed(levels), plans, strict=True)):
            targets, pixels = level.ty.size, level.hy.size
            refine = step > 0 and step == len(levels) - 1
            units += level.hole.size * _UNITS_FEATURES + serial * (iterations - 1) * pixels * _UNITS_REFRESH
            units += pixels * _UNITS_VOTE if step > 0 else 0.0  # the vote of the doubled matches
            for it in range(iterations):
                searches = PatchMatchEngine._searches(it, first_sweeps, refine)
                sweeps = sum(_UNITS_SEARCH if search else _UNITS_PROPAGATE for search in searches)
                units += targets * (_UNITS_DISTANCES + sweeps) + pixels * _UNITS_VOTE
        return units

    @staticmethod
    def _sweep_pieces(
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
    ) -> list[list[_Piece]]:
        """One PatchMatch sweep as row bands (to run on parallel threads), each cut into pieces.

        The bands depend only on the targets (never on the number of cores), and
        shift by half a band on odd sweeps so no band edge stays a barrier to
        propagation; the result is the same on any machine.
        """
        n = level.ty.size
        bands = min(_BANDS, max(1, n // _MIN_BAND_TARGETS))
        reverse = index % 2 == 1
        if bands == 1:
            cuts = [0, n]
        else:
            # Equal numbers of targets per band, each cut moved back to the start of its row.
            shift = 0.5 if reverse else 0.0
            splits = [int(n * (b - shift) / bands) for b in range(1, bands + int(reverse))]
            cuts = [0] + [int(c) for c in np.searchsorted(level.ty, level.ty[splits])] + [n]
        units = _UNITS_SEARCH if search else _UNITS_PROPAGATE

        def band(b: int, lo: int, hi: int) -> list[_Piece]:
            # The band's random stream runs on from piece to piece, as in one call.
            state = [kernels.seed_state(seed + 7919 * b)]
            row_lo, row_hi = int(level.ty[lo]), int(level.ty[hi - 1])

            def piece(a: int, e: int) -> None:
                state[0] = kernels.pm_sweep(feat, level.ty, level.tx, level.valid, nnf, dist, level.src_y, level.src_x,
                                            r, locality, reverse, search, state[0], a, e, row_lo, row_hi)

            return [(partial(piece, a, e), units * (e - a)) for a, e in _pieces(lo, hi, reverse)]

        return [band(b, lo, hi) for b, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)) if hi > lo]

    @staticmethod
    def _level_features(level: _Level, texture: bool, work: _Work) -> np.ndarray:
        """`_features` of the whole level, in row bands on the pool (each pixel's features are its own)."""
        height, width = level.hole.shape
        channels = 3 + (level.color.shape[2] - 3 if texture else 0)
        feat = np.empty((height, width * channels), np.float32)

        def band(y0: int, y1: int) -> None:
            feat[y0:y1] = _features(level.color[y0:y1], texture)

        work.run([[(partial(band, y0, y1), _UNITS_FEATURES * width * (y1 - y0))] for y0, y1 in _row_bands(height, width, 1)])
        return feat

    @staticmethod
    def _vote_pieces(
        kernels: ModuleType, level: _Level, nnf: np.ndarray, r: int, weights: np.ndarray, channels: int
    ) -> list[list[_Piece]]:
        """Voting in pieces of hole pixels: each its own band, as any split gives the same result."""
        call = partial(kernels.vote, level.color, level.hy, level.hx, nnf, r, weights, channels)
        return _split(call, level.hy.size, _UNITS_VOTE)

    @staticmethod
    def _distance_pieces(
        kernels: ModuleType, level: _Level, feat: np.ndarray, nnf: np.ndarray, dist: np.ndarray, r: int, locality: float
    ) -> list[list[_Piece]]:
        call = partial(kernels.match_distances, feat, level.ty, level.tx, nnf, dist, r, locality)
        return _split(call, level.ty.size, _UNITS_DISTANCES)

    @staticmethod
    def _composite(kernels: ModuleType, image: np.ndarray, level: _Level, finest: _Level, scale: int) -> np.ndarray:
        """The crop with its hole filled from `level` (`scale` times coarser than `finest`): a preview or the result."""
        source: np.ndarray = level.color
        if scale > 1:
            rgb = np.clip(np.rint(level.color[..., :3]), 0, 255).astype(np.uint8)
            # Odd sizes were padded on the way down, so the enlarged level covers the crop.
            height, width = rgb.shape[:2]
            source = cv2.resize(rgb, (width * scale, height * scale), interpolation=cv2.INTER_LINEAR)
        out = image.copy()
        kernels.paste_hole(out, source, finest.hy, finest.hx)
        return out

    @staticmethod
    def _forbidden(context: EngineContext, hole: np.ndarray, r: int) -> np.ndarray | None:
        """Where the user's sampling area says not to copy from; None when it leaves too little to copy."""
        if context.sources is None or context.sources.shape != hole.shape:
            return None
        forbidden: np.ndarray = ~context.sources
        if np.count_nonzero(_sources(hole | forbidden, 1)) < _MIN_SOURCES:
            context.tell("The sampling area leaves too little of the photo to copy from here; it was not used for this fill.")
            return None
        return forbidden

    @staticmethod
    def _pyramid(hole: np.ndarray, r: int, forbidden: np.ndarray | None = None) -> list[_Level]:
        """Levels from finest to coarsest, holes only: how deep to go depends on the hole alone.

        `forbidden` (outside the sampling area) is halved as the hole is: a coarse cell with any
        forbidden pixel is forbidden."""
        levels = [_Level(hole, r, forbidden)]
        while levels[0].half_width / 2 ** (len(levels) - 1) > _COARSEST_HOLE_RADIUS:
            small_hole = _halve_hole(levels[-1].hole)
            if min(small_hole.shape) < _MIN_LEVEL_SIDE or small_hole.all():
                break
            coarse_forbidden = levels[-1].forbidden
            small_forbidden = None if coarse_forbidden is None else _halve_hole(coarse_forbidden)
            level = _Level(small_hole, r, small_forbidden)
            if level.src_y.size < _MIN_SOURCES:
                break
            levels.append(level)
        return levels

    @staticmethod
    def _colors(image: np.ndarray, levels: list[_Level], work: _Work) -> None:
        """Give every level its pixels: the crop, then halved; texture channels below the finest."""
        hole = levels[0].hole
        color = image.astype(np.float32)
        # The hole's pixels (the object being removed) must never leak into the fill.
        color[hole] = 0.0
        levels[0].color = color
        pixels = hole.size
        work.serial(pixels * _UNITS_COLOR)
        if len(levels) == 1:
            return  # a single level matches on colour alone
        # Texture in row bands on the pool, each band tall enough that the rows it reads around itself cost little.
        texture = np.empty(hole.shape + (2,), np.float32)
        planes = [texture[..., 0], texture[..., 1]]
        height, width = hole.shape
        work.run([
            [(partial(_texture, image, hole, _TEXTURE_WINDOW, planes, y0, y1), _UNITS_TEXTURE * width * (y1 - y0))]
            for y0, y1 in _row_bands(height, width, 8 * _TEXTURE_WINDOW)
        ])
        # The finest level compares colour only, so texture joins from the first coarse level on. (Both
        # channels are halved together: OpenCV's one-channel path rounds differently from the 2-5 channel ones.)
        color = np.ascontiguousarray(np.dstack([_halve(color), _halve(texture)]))
        for level in levels[1:]:
            if level is not levels[1]:
                color = _halve(color)
            level.color = color
            work.serial(pixels * _UNITS_HALVE)
            pixels = level.hole.size

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

"""Numba kernels of the PatchMatch engine: nearest-neighbour field search and voting.

Conventions shared by every kernel:
- `feat` is float32 (H, W * C), C features per pixel side by side: what patch
  distances compare; `color` is float32 (H, W, C'): what voting copies.
- A patch is the (2r+1)^2 square around its centre. Target patches (those that
  overlap the hole) may stick out of the image; only their in-image part is
  compared. Source patches lie fully inside the image and fully outside the hole
  (`valid[y, x]` is True at their centres).
- `ty`, `tx` list the target centres in scan order; `nnf[y, x]` holds the source
  centre matched to target (y, x), and -1 where (y, x) is not a target.
- Randomness comes from a small xorshift generator seeded by the caller, so a
  given seed always gives the same result.
- Kernels over many targets or pixels take a range [lo, hi) of them, so the
  engine can run one call in pieces: on several threads, and with progress
  reported between pieces.

Every kernel is compiled with nogil so a GUI worker thread does not block the UI
thread, and cached on disk so later processes only load it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_MASK32 = 0xFFFFFFFF


@njit(cache=True, nogil=True, inline="always")
def _next_random(state: int) -> int:
    """One xorshift32 step; `state` is a non-zero int64 below 2**32."""
    state ^= (state << 13) & _MASK32
    state ^= state >> 17
    state ^= (state << 5) & _MASK32
    return state


@njit(cache=True, nogil=True, inline="always")
def _seed_state(seed: int) -> int:
    # Scramble the seed so nearby seeds give unrelated streams, and never 0.
    state = (seed * 2654435761 + 12345) & _MASK32
    if state == 0:
        state = 1
    for _ in range(4):
        state = _next_random(state)
    return state


@njit(cache=True, nogil=True, inline="always")
def _patch_distance(feat: np.ndarray, width: int, ty: int, tx: int, sy: int, sx: int, r: int, limit: float) -> float | np.float32:
    """Sum of squared feature differences over the in-image part of the target patch.

    `feat` is (H, W * C), so a patch row is one contiguous run of (2r+1) * C
    floats, summed in float32 so the compiler can vectorise it. Stops early
    (returning something >= limit) once a row pushes the sum past `limit`: most
    candidates are worse than the current match, so this saves most of the work.
    """
    height = feat.shape[0]
    channels = feat.shape[1] // width
    y0 = max(-r, -ty)
    y1 = min(r, height - 1 - ty)
    x0 = max(-r, -tx)
    x1 = min(r, width - 1 - tx)
    t_start = (tx + x0) * channels
    s_start = (sx + x0) * channels
    run = (x1 - x0 + 1) * channels
    total: float | np.float32 = 0.0  # float64 when compiled; np.float32 uncompiled (NEP 50)
    for dy in range(y0, y1 + 1):
        t_row = ty + dy
        s_row = sy + dy
        row = np.float32(0.0)
        for k in range(run):
            diff = feat[t_row, t_start + k] - feat[s_row, s_start + k]
            row += diff * diff
        total += row
        if total >= limit:
            return total
    return total


@njit(cache=True, nogil=True)
def seed_state(seed: int) -> int:
    """The generator's first state for `seed` (what `pm_sweep` takes and returns)."""
    return _seed_state(seed)


@njit(cache=True, nogil=True)
def coordinates(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the True pixels of a 2-D bool array in scan order, as int32.

    np.nonzero, without its int64 arrays and their copies: on a whole photo's
    sources (tens of millions) this takes milliseconds instead of a fraction of a second.
    """
    height, width = mask.shape
    count = 0
    for y in range(height):
        for x in range(width):
            if mask[y, x]:
                count += 1
    ys = np.empty(count, np.int32)
    xs = np.empty(count, np.int32)
    i = 0
    for y in range(height):
        for x in range(width):
            if mask[y, x]:
                ys[i] = y
                xs[i] = x
                i += 1
    return ys, xs


@njit(cache=True, nogil=True)
def random_init(nnf: np.ndarray, ty: np.ndarray, tx: np.ndarray, src_y: np.ndarray, src_x: np.ndarray, seed: int) -> None:
    """Give every target a uniformly random valid source."""
    state = _seed_state(seed)
    count = src_y.shape[0]
    for i in range(ty.shape[0]):
        state = _next_random(state)
        k = state % count
        nnf[ty[i], tx[i], 0] = src_y[k]
        nnf[ty[i], tx[i], 1] = src_x[k]


@njit(cache=True, nogil=True)
def upsample_nnf(
    coarse: np.ndarray,
    nnf: np.ndarray,
    ty: np.ndarray,
    tx: np.ndarray,
    valid: np.ndarray,
    src_y: np.ndarray,
    src_x: np.ndarray,
    seed: int,
) -> None:
    """Initialise a level's field from the coarser level's: the source doubles with the target.

    Targets whose coarse parent had no match, or whose doubled source is not a
    valid source here (near the image edge or the hole), get a random valid source.
    """
    state = _seed_state(seed)
    coarse_h, coarse_w = coarse.shape[0], coarse.shape[1]
    count = src_y.shape[0]
    for i in range(ty.shape[0]):
        y = ty[i]
        x = tx[i]
        py = min(y // 2, coarse_h - 1)
        px = min(x // 2, coarse_w - 1)
        sy = -1
        sx = -1
        if coarse[py, px, 0] >= 0:
            sy = 2 * coarse[py, px, 0] + (y - 2 * py)
            sx = 2 * coarse[py, px, 1] + (x - 2 * px)
            if sy < 0 or sy >= valid.shape[0] or sx < 0 or sx >= valid.shape[1] or not valid[sy, sx]:
                sy = -1
        if sy < 0:
            state = _next_random(state)
            k = state % count
            sy = src_y[k]
            sx = src_x[k]
        nnf[y, x, 0] = sy
        nnf[y, x, 1] = sx


@njit(cache=True, nogil=True, inline="always")
def _cost(
    feat: np.ndarray, width: int, y: int, x: int, sy: int, sx: int, r: int, locality: float, limit: float
) -> float | np.float32:
    """Patch distance plus a penalty growing with the squared distance to the source."""
    penalty = locality * ((sy - y) * (sy - y) + (sx - x) * (sx - x))
    if penalty >= limit:
        return penalty
    return penalty + _patch_distance(feat, width, y, x, sy, sx, r, limit - penalty)


@njit(cache=True, nogil=True)
def match_distances(
    feat: np.ndarray, ty: np.ndarray, tx: np.ndarray, nnf: np.ndarray, dist: np.ndarray, r: int, locality: float, lo: int, hi: int
) -> None:
    """Recompute the distance of targets lo..hi-1 to their current match (after the fill changed)."""
    for i in range(lo, hi):
        y = ty[i]
        x = tx[i]
        dist[y, x] = _cost(feat, nnf.shape[1], y, x, nnf[y, x, 0], nnf[y, x, 1], r, locality, np.inf)


@njit(cache=True, nogil=True, inline="always")
def _try(
    feat: np.ndarray,
    y: int,
    x: int,
    sy: int,
    sx: int,
    r: int,
    locality: float,
    valid: np.ndarray,
    nnf: np.ndarray,
    dist: np.ndarray,
) -> None:
    """Adopt source (sy, sx) for target (y, x) if it is valid and closer."""
    if sy < 0 or sy >= valid.shape[0] or sx < 0 or sx >= valid.shape[1] or not valid[sy, sx]:
        return
    if sy == nnf[y, x, 0] and sx == nnf[y, x, 1]:
        return
    d = _cost(feat, valid.shape[1], y, x, sy, sx, r, locality, dist[y, x])
    if d < dist[y, x]:
        dist[y, x] = d
        nnf[y, x, 0] = sy
        nnf[y, x, 1] = sx


@njit(cache=True, nogil=True)
def pm_sweep(
    feat: np.ndarray,
    ty: np.ndarray,
    tx: np.ndarray,
    valid: np.ndarray,
    nnf: np.ndarray,
    dist: np.ndarray,
    src_y: np.ndarray,
    src_x: np.ndarray,
    r: int,
    locality: float,
    reverse: bool,
    search: bool,
    state: int,
    lo: int,
    hi: int,
    row_lo: int,
    row_hi: int,
) -> int:
    """One PatchMatch pass (Barnes et al. 2009) over targets lo..hi-1; returns the generator's state.

    Propagation: a neighbour's match, shifted by one pixel, is a candidate
    (left/up neighbours in a forward pass, right/down in a reverse one).
    Random search: one uniform draw among all sources, then draws in windows
    around the current match that halve in size down to one pixel; skipped
    when `search` is False (a cheap pass that only spreads good matches).

    Neighbours are only read from rows row_lo..row_hi, the band this call
    belongs to, so calls on disjoint row bands can run at once on several
    threads and still give the same result every time. A band may be swept in
    several calls (in sweep order, each passing on the returned state): the
    result is the same as in one call.
    """
    height, width = valid.shape
    count = src_y.shape[0]
    step = -1 if reverse else 1
    start_radius = max(height, width) // 2
    for j in range(hi - lo):
        i = hi - 1 - j if reverse else lo + j
        y = ty[i]
        x = tx[i]

        # Propagation from the already-visited neighbours.
        nx = x - step
        if 0 <= nx < width and nnf[y, nx, 0] >= 0:
            _try(feat, y, x, nnf[y, nx, 0], nnf[y, nx, 1] + step, r, locality, valid, nnf, dist)
        ny = y - step
        if row_lo <= ny <= row_hi and nnf[ny, x, 0] >= 0:
            _try(feat, y, x, nnf[ny, x, 0] + step, nnf[ny, x, 1], r, locality, valid, nnf, dist)

        # Random search: a global draw, then shrinking windows around the best match.
        if not search:
            continue
        state = _next_random(state)
        k = state % count
        _try(feat, y, x, src_y[k], src_x[k], r, locality, valid, nnf, dist)
        radius = start_radius
        while radius >= 1:
            cy = nnf[y, x, 0]
            cx = nnf[y, x, 1]
            state = _next_random(state)
            sy = cy + (state % (2 * radius + 1)) - radius
            state = _next_random(state)
            sx = cx + (state % (2 * radius + 1)) - radius
            _try(feat, y, x, sy, sx, r, locality, valid, nnf, dist)
            radius //= 2
    return state


@njit(cache=True, nogil=True)
def vote(
    color: np.ndarray,
    hy: np.ndarray,
    hx: np.ndarray,
    nnf: np.ndarray,
    r: int,
    pos_weight: np.ndarray,
    channels: int,
    lo: int,
    hi: int,
) -> None:
    """Set hole pixels lo..hi-1 to the weighted mean of what the overlapping matches put there.

    Each target patch votes with its match's pixels at the same offsets (Wexler
    et al. 2007), weighted by `pos_weight[offset]`. Wexler's weights by match
    similarity made fills worse on real photos, so matches count equally.
    Only the first `channels` channels are voted.

    `hy`, `hx` list the hole pixels. Each gathers the votes of the targets
    around it, so pieces of the list can run on several threads: a vote reads
    only source patches, which lie outside the hole, and writes only its own
    pixel. The targets are visited in scan order, so the sums are the same as
    when each target scatters its votes in turn.
    """
    height, width = nnf.shape[0], nnf.shape[1]
    acc = np.zeros(channels, np.float32)
    for i in range(lo, hi):
        y = hy[i]
        x = hx[i]
        acc[:] = 0.0
        total = np.float32(0.0)
        # Target (y - dy, x - dx) puts its offset (dy, dx) here; scan order means dy and dx falling.
        for dy in range(min(r, y), max(-r, y - height + 1) - 1, -1):
            t_y = y - dy
            for dx in range(min(r, x), max(-r, x - width + 1) - 1, -1):
                t_x = x - dx
                sy = nnf[t_y, t_x, 0]
                if sy < 0:
                    continue
                sx = nnf[t_y, t_x, 1]
                w = pos_weight[dy + r, dx + r]
                for c in range(channels):
                    acc[c] += w * color[sy + dy, sx + dx, c]
                total += w
        if total > 0:
            for c in range(channels):
                color[y, x, c] = acc[c] / total


@njit(cache=True, nogil=True)
def paste_hole(out: np.ndarray, source: np.ndarray, hy: np.ndarray, hx: np.ndarray) -> None:
    """out[y, x] = source[y, x] rounded to uint8, for the hole pixels (hy, hx) only.

    `source` is float (a level's colour) or uint8 (an enlarged preview) with at
    least 3 channels; the hole is a fraction of the crop, so this beats a masked copy.
    """
    for i in range(hy.shape[0]):
        y = hy[i]
        x = hx[i]
        for c in range(3):
            out[y, x, c] = min(max(np.rint(source[y, x, c]), 0.0), 255.0)

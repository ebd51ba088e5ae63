"""numba kernels for GroupNorm statistics of channels-last data (see norms.py).

Each sums, per channel, the deviations from a shift (the channel's value at the
first pixel) and their squares in float64, block by block of pixels, so the
variance keeps its precision whatever the mean, and the result does not depend on
how the blocks are split between threads. They release the GIL, so a few Python
threads can each take a range of blocks.
"""

from __future__ import annotations

import numpy as np
from numba import njit

BLOCK = 4096  # pixels summed into one partial result
_CHUNK = 64  # bfloat16 pixels widened to float32 at a time
_SIXTEEN = np.uint32(16)  # a uint32 shift, so the widened bits stay uint32


@njit(cache=True, nogil=True)
def _accumulate(rows: np.ndarray, shift: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> None:
    """s1[c] += Σ (x - shift[c]), s2[c] += Σ (x - shift[c])² over the float32 `rows` [p, C], in float64."""
    for p in range(rows.shape[0]):
        for c in range(rows.shape[1]):
            d = np.float64(rows[p, c]) - shift[c]
            s1[c] += d
            s2[c] += d * d


@njit(cache=True, nogil=True)
def channel_moments(
    values: np.ndarray, shift: np.ndarray, sums: np.ndarray, squares: np.ndarray, block0: int, block1: int, _first: int
) -> None:
    """sums[b, c] = Σ (x - shift[c]), squares[b, c] = Σ (x - shift[c])² over block b of `values` [P, C] float32."""
    pixels, channels = values.shape
    for block in range(block0, block1):
        s1 = np.zeros(channels)
        s2 = np.zeros(channels)
        _accumulate(values[block * BLOCK : min(pixels, (block + 1) * BLOCK)], shift, s1, s2)
        sums[block] = s1
        squares[block] = s2


@njit(cache=True, nogil=True)
def channel_moments_bf16(
    bits: np.ndarray, shift: np.ndarray, sums: np.ndarray, squares: np.ndarray, block0: int, block1: int, _first: int
) -> None:
    """channel_moments for bfloat16 values given as their bit patterns, `bits` [P, C] uint16."""
    pixels, channels = bits.shape
    for block in range(block0, block1):
        s1 = np.zeros(channels)
        s2 = np.zeros(channels)
        end = min(pixels, (block + 1) * BLOCK)
        for p0 in range(block * BLOCK, end, _CHUNK):
            p1 = min(p0 + _CHUNK, end)
            # A bfloat16 is the upper half of a float32.
            _accumulate((np.ascontiguousarray(bits[p0:p1]).astype(np.uint32) << _SIXTEEN).view(np.float32), shift, s1, s2)
        sums[block] = s1
        squares[block] = s2

"""numba kernels for the Winograd F(4x4, 3x3) tile transforms (see winograd.py).

Both work on channels-last data, one 6x6 input tile or 6x6 product tile at a
time, with the channel loop innermost so LLVM vectorises it. They release the
GIL, so a few Python threads can each take a band of tile rows. The arithmetic
is written out in a fixed order (no fastmath), so results do not depend on how
the rows are split.

Transform matrices (Lavin & Gray 2016, points 0, +-1, +-2):
    B^T = [[4,  0, -5,  0, 1, 0],      A^T = [[1, 1,  1, 1,  1, 0],
           [0, -4, -4,  1, 1, 0],             [0, 1, -1, 2, -2, 0],
           [0,  4, -4, -1, 1, 0],             [0, 1,  1, 4,  4, 0],
           [0, -2, -1,  2, 1, 0],             [0, 1, -1, 8, -8, 1]]
           [0,  2, -1, -2, 1, 0],
           [0,  4,  0, -5, 0, 1]]
"""

from __future__ import annotations

import numpy as np
from numba import njit

TILE = 6  # input tile side
STEP = 4  # output tile side
OUT_STEP = STEP  # output pixels per tile side (no resampling)
POINTS = TILE * TILE  # element-wise products per tile
# float32 constants: a float64 literal would turn the arithmetic into float64.
F2, F4, F5, F8 = np.float32(2), np.float32(4), np.float32(5), np.float32(8)


@njit(cache=True, nogil=True, inline="always")
def _bt(
    d0: np.float32, d1: np.float32, d2: np.float32, d3: np.float32, d4: np.float32, d5: np.float32
) -> tuple[np.float32, np.float32, np.float32, np.float32, np.float32, np.float32]:
    """One row (or column) of B^T d."""
    return (
        F4 * d0 - F5 * d2 + d4,
        -F4 * d1 - F4 * d2 + d3 + d4,
        F4 * d1 - F4 * d2 - d3 + d4,
        -F2 * d1 - d2 + F2 * d3 + d4,
        F2 * d1 - d2 - F2 * d3 + d4,
        F4 * d1 - F5 * d3 + d5,
    )


@njit(cache=True, nogil=True, inline="always")
def _at(
    m0: np.float32, m1: np.float32, m2: np.float32, m3: np.float32, m4: np.float32, m5: np.float32
) -> tuple[np.float32, np.float32, np.float32, np.float32]:
    """One row (or column) of A^T m."""
    return (
        m0 + m1 + m2 + m3 + m4,
        m1 - m2 + F2 * m3 - F2 * m4,
        m1 + m2 + F4 * m3 + F4 * m4,
        m1 - m2 + F8 * m3 - F8 * m4 + m5,
    )


@njit(cache=True, nogil=True)
def input_tiles(image: np.ndarray, out: np.ndarray, row0: int, row1: int, first_row: int) -> None:
    """B^T d B of tile rows [row0, row1) of `image` [N, H, W, C] (1 pixel of zero padding around it).

    Writes out[:, :, row - first_row] ([36, N, band rows, Th, C]), so a band of tile rows can be transformed alone.
    """
    n_images, height, width, channels = image.shape
    tiles_wide = out.shape[3]
    patch = np.empty((TILE, TILE, channels), dtype=np.float32)
    rows = np.empty((TILE, TILE, channels), dtype=np.float32)
    for n in range(n_images):
        for ty in range(row0, row1):
            for tx in range(tiles_wide):
                y, x = STEP * ty - 1, STEP * tx - 1
                for i in range(TILE):
                    for j in range(TILE):
                        if 0 <= y + i < height and 0 <= x + j < width:
                            for c in range(channels):
                                patch[i, j, c] = image[n, y + i, x + j, c]
                        else:
                            patch[i, j, :] = 0.0
                # Columns first: rows[i, j] = (B^T d)[i, j] for every j.
                for j in range(TILE):
                    for c in range(channels):
                        t = _bt(patch[0, j, c], patch[1, j, c], patch[2, j, c], patch[3, j, c], patch[4, j, c], patch[5, j, c])
                        for i in range(TILE):
                            rows[i, j, c] = t[i]
                for i in range(TILE):
                    for c in range(channels):
                        t = _bt(rows[i, 0, c], rows[i, 1, c], rows[i, 2, c], rows[i, 3, c], rows[i, 4, c], rows[i, 5, c])
                        for j in range(TILE):
                            out[i * TILE + j, n, ty - first_row, tx, c] = t[j]


@njit(cache=True, nogil=True)
def output_tiles(products: np.ndarray, bias: np.ndarray, out: np.ndarray, row0: int, row1: int, first_row: int) -> None:
    """A^T m A + bias of tile rows [row0, row1): products [36, N, band rows, Tw, C] -> out [N, 4 Th, 4 Tw, C]."""
    _, n_images, _, tiles_wide, channels = products.shape
    rows = np.empty((STEP, TILE, channels), dtype=np.float32)
    for n in range(n_images):
        for ty in range(row0, row1):
            band_row = ty - first_row
            for tx in range(tiles_wide):
                for j in range(TILE):
                    for c in range(channels):
                        t = _at(
                            products[j, n, band_row, tx, c], products[TILE + j, n, band_row, tx, c],
                            products[2 * TILE + j, n, band_row, tx, c], products[3 * TILE + j, n, band_row, tx, c],
                            products[4 * TILE + j, n, band_row, tx, c], products[5 * TILE + j, n, band_row, tx, c],
                        )
                        for i in range(STEP):
                            rows[i, j, c] = t[i]
                y, x = STEP * ty, STEP * tx
                for i in range(STEP):
                    for c in range(channels):
                        t = _at(rows[i, 0, c], rows[i, 1, c], rows[i, 2, c], rows[i, 3, c], rows[i, 4, c], rows[i, 5, c])
                        for j in range(STEP):
                            out[n, y + i, x + j, c] = t[j] + bias[c]

"""numba kernels for the bfloat16 Winograd F(2x2, 2x2) transforms of an upsampling convolution (winograd_upsample.py).

One tile is a 2x2 block of input pixels. Each of the four phases (py, px) of
nearest-x2-then-3x3 reads a 3x3 block of the input around it (rows py..py + 2
of the 4x4 patch starting one pixel up and left) and gives 2x2 of its outputs,
which land on a 4x4 block of the upsampled output. bfloat16 values come and go
as bit patterns, with float32 arithmetic in a fixed order, as in
_winograd_bf16_kernels.

Transform matrices (points 0, 1, infinity): additions only.
    B^T = [[1, -1, 0],      G = [[1, 0],      A^T = [[1, 1, 0],
           [0,  1, 0],           [1, 1],             [0, 1, 1]]
           [0, -1, 1]]           [0, 1]]
"""

from __future__ import annotations

import numpy as np
from numba import njit

from inpaint_studio.engines.moebius._winograd_bf16_kernels import _round_to_bf16, widen_patch, widen_products

STEP = 2  # input pixels per tile side
OUT_STEP = 4  # output pixels per tile side (x2 upsampling)
POINTS = 4 * 9  # four phases of 3x3 products


@njit(cache=True, nogil=True)
def input_tiles(image: np.ndarray, out: np.ndarray, row0: int, row1: int, first_row: int) -> None:
    """B^T d B of every phase's 3x3 input block, tile rows [row0, row1) of bfloat16 `image` [N, H, W, C].

    Writes out[9 * phase + 3 * i + j, :, row - first_row] ([36, N, band rows, Tw, C], bfloat16 bits).
    """
    n_images, _, _, channels = image.shape
    tiles_wide = out.shape[3]
    widened = np.empty((4, 4, channels), dtype=np.uint32)
    patch = widened.view(np.float32)
    rows = np.empty((2, 3, 4, channels), dtype=np.float32)  # per py: the transformed rows, every patch column
    result_bits = np.empty(channels, dtype=np.uint32)
    result = result_bits.view(np.float32)
    for n in range(n_images):
        for ty in range(row0, row1):
            for tx in range(tiles_wide):
                widen_patch(image, n, STEP * ty - 1, STEP * tx - 1, widened)  # 4x4: both phases' 3x3 blocks
                for py in range(2):
                    for j in range(4):
                        for c in range(channels):
                            d0, d1, d2 = patch[py, j, c], patch[py + 1, j, c], patch[py + 2, j, c]
                            rows[py, 0, j, c] = d0 - d1
                            rows[py, 1, j, c] = d1
                            rows[py, 2, j, c] = d2 - d1
                for py in range(2):
                    for px in range(2):
                        phase = 2 * py + px
                        for i in range(3):
                            for j in range(3):
                                for c in range(channels):
                                    r0, r1, r2 = rows[py, i, px, c], rows[py, i, px + 1, c], rows[py, i, px + 2, c]
                                    if j == 0:
                                        result[c] = r0 - r1
                                    elif j == 1:
                                        result[c] = r1
                                    else:
                                        result[c] = r2 - r1
                                _round_to_bf16(result_bits, out[9 * phase + 3 * i + j, n, ty - first_row, tx])


@njit(cache=True, nogil=True)
def output_tiles(products: np.ndarray, bias: np.ndarray, out: np.ndarray, row0: int, row1: int, first_row: int) -> None:
    """A^T m A + bias of every phase, tile rows [row0, row1): products [36, N, band rows, Tw, C] -> out [N, 4 Th, 4 Tw, C].

    Both bfloat16 bits; `bias` float32 [C]. Phase (py, px)'s output (i, j) of tile
    (ty, tx) is upsampled pixel (4 ty + 2 i + py, 4 tx + 2 j + px).
    """
    _, n_images, _, tiles_wide, channels = products.shape
    widened = np.empty((3, 3, channels), dtype=np.uint32)
    m = widened.view(np.float32)
    rows = np.empty((2, 3, channels), dtype=np.float32)
    result_bits = np.empty(channels, dtype=np.uint32)
    result = result_bits.view(np.float32)
    for n in range(n_images):
        for ty in range(row0, row1):
            band_row = ty - first_row
            for tx in range(tiles_wide):
                for phase in range(4):
                    py, px = phase // 2, phase % 2
                    widen_products(products, 9 * phase, n, band_row, tx, widened)
                    for j in range(3):
                        for c in range(channels):
                            rows[0, j, c] = m[0, j, c] + m[1, j, c]
                            rows[1, j, c] = m[1, j, c] + m[2, j, c]
                    for i in range(2):
                        for j in range(2):
                            for c in range(channels):
                                result[c] = rows[i, j, c] + rows[i, j + 1, c] + bias[c]
                            _round_to_bf16(result_bits, out[n, OUT_STEP * ty + 2 * i + py, OUT_STEP * tx + 2 * j + px])

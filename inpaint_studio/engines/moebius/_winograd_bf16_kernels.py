"""numba kernels for the bfloat16 Winograd F(2x2, 3x3) tile transforms (see winograd_bf16.py).

bfloat16 values come and go as their bit patterns (uint16): a bfloat16 is the
upper half of a float32, so widening is a shift, and narrowing rounds to the
nearest, ties to even, as PyTorch's conversion does. The arithmetic is float32,
on channels-last data with the channel loop innermost so LLVM vectorises it, in
a fixed order (no fastmath). They release the GIL, so a few Python threads can
each take a band of tile rows.

Transform matrices (Lavin & Gray 2016, points 0, +-1): additions only, so the
transformed tiles carry no more rounding than the direct convolution's inputs.
    B^T = [[1,  0, -1,  0],      A^T = [[1, 1,  1,  0],
           [0,  1,  1,  0],             [0, 1, -1, -1]]
           [0, -1,  1,  0],
           [0,  1,  0, -1]]
"""

from __future__ import annotations

import numpy as np
from numba import njit

TILE = 4  # input tile side
STEP = 2  # output tile side
OUT_STEP = STEP  # output pixels per tile side (no resampling)
POINTS = TILE * TILE  # element-wise products per tile


@njit(cache=True, nogil=True, inline="always")
def _round_to_bf16(wide: np.ndarray, out: np.ndarray) -> None:
    """out[c] = the bfloat16 bits nearest to the float32 whose bits are wide[c] (ties to even)."""
    for c in range(wide.shape[0]):
        bits = wide[c]
        out[c] = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16


@njit(cache=True, nogil=True, inline="always")
def widen_patch(image: np.ndarray, n: int, y: int, x: int, widened: np.ndarray) -> None:
    """widened[i, j] = bfloat16 image[n, y + i, x + j] as float32 bits, zero outside the image (the padding)."""
    height, width, channels = image.shape[1:]
    for i in range(widened.shape[0]):
        for j in range(widened.shape[1]):
            if 0 <= y + i < height and 0 <= x + j < width:
                for c in range(channels):
                    widened[i, j, c] = np.uint32(image[n, y + i, x + j, c]) << np.uint32(16)
            else:
                widened[i, j, :] = 0


@njit(cache=True, nogil=True)
def widen_products(products: np.ndarray, first: int, n: int, band_row: int, tx: int, widened: np.ndarray) -> None:
    """widened[k // cols, k % cols] = bfloat16 products[first + k, n, band_row, tx] as float32 bits, k < rows * cols."""
    cols = widened.shape[1]
    for k in range(widened.shape[0] * cols):
        for c in range(widened.shape[2]):
            widened[k // cols, k % cols, c] = np.uint32(products[first + k, n, band_row, tx, c]) << np.uint32(16)


@njit(cache=True, nogil=True)
def input_tiles(image: np.ndarray, out: np.ndarray, row0: int, row1: int, first_row: int) -> None:
    """B^T d B of tile rows [row0, row1) of bfloat16 `image` [N, H, W, C] (1 pixel of zero padding around it).

    Writes out[:, :, row - first_row] ([16, N, band rows, Tw, C], bfloat16 bits).
    """
    n_images, _, _, channels = image.shape
    tiles_wide = out.shape[3]
    widened = np.empty((TILE, TILE, channels), dtype=np.uint32)
    patch = widened.view(np.float32)
    rows = np.empty((TILE, TILE, channels), dtype=np.float32)
    result_bits = np.empty(channels, dtype=np.uint32)
    result = result_bits.view(np.float32)
    for n in range(n_images):
        for ty in range(row0, row1):
            for tx in range(tiles_wide):
                widen_patch(image, n, STEP * ty - 1, STEP * tx - 1, widened)
                # Columns first: rows[i, j] = (B^T d)[i, j].
                for j in range(TILE):
                    for c in range(channels):
                        d0, d1, d2, d3 = patch[0, j, c], patch[1, j, c], patch[2, j, c], patch[3, j, c]
                        rows[0, j, c] = d0 - d2
                        rows[1, j, c] = d1 + d2
                        rows[2, j, c] = d2 - d1
                        rows[3, j, c] = d1 - d3
                for i in range(TILE):
                    for j in range(TILE):
                        for c in range(channels):
                            r0, r1, r2, r3 = rows[i, 0, c], rows[i, 1, c], rows[i, 2, c], rows[i, 3, c]
                            if j == 0:
                                result[c] = r0 - r2
                            elif j == 1:
                                result[c] = r1 + r2
                            elif j == 2:
                                result[c] = r2 - r1
                            else:
                                result[c] = r1 - r3
                        _round_to_bf16(result_bits, out[i * TILE + j, n, ty - first_row, tx])


@njit(cache=True, nogil=True)
def output_tiles(products: np.ndarray, bias: np.ndarray, out: np.ndarray, row0: int, row1: int, first_row: int) -> None:
    """A^T m A + bias of tile rows [row0, row1): products [16, N, band rows, Tw, C] -> out [N, 2 Th, 2 Tw, C].

    Both bfloat16 bits; `bias` float32 [C].
    """
    _, n_images, _, tiles_wide, channels = products.shape
    widened = np.empty((TILE, TILE, channels), dtype=np.uint32)
    m = widened.view(np.float32)
    rows = np.empty((STEP, TILE, channels), dtype=np.float32)
    result_bits = np.empty(channels, dtype=np.uint32)
    result = result_bits.view(np.float32)
    for n in range(n_images):
        for ty in range(row0, row1):
            band_row = ty - first_row
            for tx in range(tiles_wide):
                widen_products(products, 0, n, band_row, tx, widened)
                for j in range(TILE):
                    for c in range(channels):
                        rows[0, j, c] = m[0, j, c] + m[1, j, c] + m[2, j, c]
                        rows[1, j, c] = m[1, j, c] - m[2, j, c] - m[3, j, c]
                for i in range(STEP):
                    for j in range(STEP):
                        for c in range(channels):
                            if j == 0:
                                value = rows[i, 0, c] + rows[i, 1, c] + rows[i, 2, c]
                            else:
                                value = rows[i, 1, c] - rows[i, 2, c] - rows[i, 3, c]
                            result[c] = value + bias[c]
                        _round_to_bf16(result_bits, out[n, STEP * ty + i, STEP * tx + j])

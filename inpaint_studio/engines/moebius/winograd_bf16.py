"""3x3 convolutions in bfloat16 by the Winograd F(2x2, 3x3) algorithm, for the VAE's wide layers on the CPU.

A 2x2 block of outputs comes from a 4x4 block of inputs with 16 element-wise
products, 4 per output instead of 9: 16 bfloat16 matrix products [tiles, C_in] x
[C_in, C_out] between two numba tile transforms (_winograd_bf16_kernels). Its
transforms are additions only, so unlike F(4x4, 3x3) (winograd.py, float32) it
is about as precise in bfloat16 as the direct convolution: largest error 5e-3 of
the largest output against 4e-3 (benchmarks/README.md,
tests/test_moebius_winograd_bf16.py).

It pays on wide layers only: with 128 channels the transforms cost what the
products save (measured), so `winograd_bf16_convolutions(module)` takes the
suitable 3x3 convolutions with at least MIN_CHANNELS on both sides; everything
else keeps oneDNN's direct convolution.
"""

from __future__ import annotations

import contextlib
import sys

import torch
from torch import nn

from inpaint_studio.engines.moebius import _winograd_bf16_kernels as kernels
from inpaint_studio.engines.moebius.winograd import Variant, tiled_convolution, winograd_forwards

STEP, TILE = kernels.STEP, kernels.TILE
MIN_CHANNELS = 256
MIN_PIXELS = 64 * 64
# Tiles per band of tile rows: few enough that a band's transformed tiles stay in the cache (256: the
# fastest of 128 to 16384 on the VAE's layers, or within 5 % of it; measured).
BAND_TILES = 256

_G = torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=torch.float64)
# G g G^T for a 3x3 filter g as one [16, 9] matrix (exact in float32: halves and quarters).
_FILTER_TRANSFORM = torch.kron(_G, _G).float()


def transformed_filter(weight: torch.Tensor) -> torch.Tensor:
    """G g G^T of every float32 filter, rounded to bfloat16 once, as 16 matrices [C_in, C_out] (a transposed view)."""
    out_channels, in_channels = weight.shape[:2]
    transformed = _FILTER_TRANSFORM @ weight.detach().float().reshape(out_channels * in_channels, 9).T
    return transformed.to(torch.bfloat16).view(TILE * TILE, out_channels, in_channels).transpose(1, 2)


def conv3x3(x: torch.Tensor, filters: torch.Tensor, bias: torch.Tensor | None, band_tiles: int = BAND_TILES) -> torch.Tensor:
    """conv2d(x, weight, bias, padding=1) for a bfloat16 CPU `x` [N, C, H, W], given `filters` = transformed_filter(weight).

    Returns a bfloat16 channels-last tensor.
    """
    return tiled_convolution(x, filters, bias, kernels, band_tiles)


BFLOAT16 = Variant(torch.bfloat16, True, sys.modules[__name__])


def winograd_bf16_convolutions(module: nn.Module) -> contextlib.AbstractContextManager[int]:
    """Within the block, suitable 3x3 convolutions in `module` take bfloat16 inputs by Winograd; yields how many."""
    return winograd_forwards(module, BFLOAT16)

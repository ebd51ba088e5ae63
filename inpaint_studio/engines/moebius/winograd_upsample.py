"""Nearest x2 upsampling + 3x3 convolution in bfloat16 by Winograd F(2x2, 2x2) on each phase, on the CPU.

blocks.upsample_conv computes diffusers' Upsample2D as four 2x2 convolutions
on the input grid, one per phase of the output (16 instead of 36 multiply-adds
per input pixel and channel pair). Winograd's F(2x2, 2x2) gives a 2x2 block of
one phase's outputs from a 3x3 block of inputs with 9 element-wise products
instead of 16: 36 bfloat16 matrix products [tiles, C_in] x [C_in, C_out] per
band of tiles, 1.78x fewer multiply-adds, between two numba transforms
(_winograd_upsample_kernels). The transforms are additions only, as in
winograd_bf16's F(2x2, 3x3).

Used by the UNet's upsamplers (blocks.Upsample) on bfloat16 CPU inputs with at
least MIN_CHANNELS: 1280 channels at 16x16 81 -> 45 ms, 640 at 32x32 65 -> 43 ms
on one thread, as each half of a guided step runs (benchmarks/README.md). Its
largest error is about twice the direct bfloat16 convolution's (its
transformed inputs and products are rounded to bfloat16 between the transforms). The VAE
decoder's upsamplers keep the phases: on its grids, with two threads, it saved
~1 % of a decode and moved the 8-bit output a little further from float32.
"""

from __future__ import annotations

import torch

from inpaint_studio.engines.moebius import _winograd_upsample_kernels as kernels
from inpaint_studio.engines.moebius.winograd import tiled_convolution

# Narrower layers gain less or lose (256 channels on two threads: slower than the phases; measured).
MIN_CHANNELS = 512
# Tiles per band of tile rows (see winograd_bf16.BAND_TILES): 512 was the fastest of 64 to 512, or within 5 %.
BAND_TILES = 512

# G = [[1, 0], [1, 1], [0, 1]]; G k G^T for a 2x2 kernel k as one [9, 4] matrix (exact: sums).
_G = torch.tensor([[1, 0], [1, 1], [0, 1]], dtype=torch.float32)
_FILTER_TRANSFORM = torch.kron(_G, _G)


def suits(x: torch.Tensor, conv: torch.nn.Conv2d) -> bool:
    """Whether `x` [N, C, H, W] for the upsampler around `conv` runs by this algorithm."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.bfloat16
        and x.dim() == 4
        and min(conv.in_channels, conv.out_channels) >= MIN_CHANNELS
        and not torch.is_grad_enabled()
    )


def transformed_filters(phase_kernels: list[torch.Tensor]) -> torch.Tensor:
    """G k G^T of the four phases' [C_out, C_in, 2, 2] kernels (blocks.phase_kernels), rounded to bfloat16 once.

    As 36 matrices [C_in, C_out] (a transposed view), phase-major as the kernels write the tiles.
    """
    out_channels, in_channels = phase_kernels[0].shape[:2]
    matrices = [
        _FILTER_TRANSFORM @ kernel.detach().float().reshape(out_channels * in_channels, 4).T for kernel in phase_kernels
    ]
    stacked = torch.cat(matrices).to(torch.bfloat16)
    return stacked.view(kernels.POINTS, out_channels, in_channels).transpose(1, 2)


def upsample_conv(
    x: torch.Tensor, filters: torch.Tensor, bias: torch.Tensor | None, band_tiles: int = BAND_TILES
) -> torch.Tensor:
    """conv2d(nearest x2 of x, weight, bias, padding=1) for a bfloat16 CPU `x`, given `filters` from transformed_filters.

    Returns a bfloat16 channels-last tensor [N, C_out, 2H, 2W].
    """
    return tiled_convolution(x, filters, bias, kernels, band_tiles)

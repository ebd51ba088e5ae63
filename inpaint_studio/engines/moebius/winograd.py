"""3x3 convolutions by the Winograd F(4x4, 3x3) algorithm, for the VAE on the CPU.

A 3x3 convolution spends 9 multiply-adds per output and channel pair; Winograd's
minimal filtering computes a 4x4 block of outputs from a 6x6 block of inputs with
36 element-wise products, 2.25 per output: four times less arithmetic, done as 36
matrix products [tiles, C_in] x [C_in, C_out] that MKL runs at full speed. The
tile transforms around them are additions (numba kernels in _winograd_kernels).

The result is the same convolution with different rounding: on the VAE's layers
the largest difference from a float64 reference is about 6e-5, against about
2e-5 for the direct convolution (tests/test_moebius_winograd.py).

`winograd_convolutions(module)` makes every suitable 3x3 convolution inside a
module (stride 1, padding 1, no groups or dilation, enough channels) use it on
the CPU; everything else, and every other device, keeps PyTorch's own. The
banded tiling (`tiled_convolution`) also runs the bfloat16 F(2x2, 3x3) variant
(winograd_bf16.py) and the upsampling F(2x2, 2x2) one (winograd_upsample.py), given their kernels.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import torch
from torch import nn

from inpaint_studio.engines.moebius import _winograd_kernels as kernels
from inpaint_studio.engines.moebius.patching import replaced_forwards

# Below these sizes the transforms cost more than the arithmetic they save (measured).
MIN_CHANNELS = 64
MIN_PIXELS = 128 * 128
# Tiles per band of tile rows: few enough that a band's transformed tiles stay in the cache, enough for
# efficient matrix products (192: fastest or within 10 % of it on every VAE layer, measured).
BAND_TILES = 192
TILE = kernels.TILE

_G = torch.tensor(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype=torch.float64,
)
# G g G^T for a 3x3 filter g as one [36, 9] matrix, so all filters transform in one matrix product.
_FILTER_TRANSFORM = torch.kron(_G, _G).float()


def transformed_filter(weight: torch.Tensor) -> torch.Tensor:
    """G g G^T of every filter, as 36 matrices [C_in, C_out] (a transposed view, which bmm takes as it is).

    Cheap enough (one memory-bound matrix product) to redo on every call, so
    no second copy of the weights is kept.
    """
    out_channels, in_channels = weight.shape[:2]
    transformed = _FILTER_TRANSFORM @ weight.detach().reshape(out_channels * in_channels, 9).T
    return transformed.view(TILE * TILE, out_channels, in_channels).transpose(1, 2)


@functools.lru_cache(maxsize=1)
def _threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="winograd")


def in_threads(kernel: Callable[..., None], row0: int, row1: int, *args: np.ndarray) -> None:
    """Run a nogil kernel over rows (tile rows, blocks) [row0, row1), split between the torch threads."""
    parts = max(1, min(torch.get_num_threads(), row1 - row0))
    edges = [row0 + (row1 - row0) * p // parts for p in range(parts + 1)]
    futures = [_threads().submit(kernel, *args, edges[p], edges[p + 1], row0) for p in range(1, parts)]
    kernel(*args, edges[0], edges[1], row0)
    for future in futures:
        future.result()


def conv3x3(x: torch.Tensor, filters: torch.Tensor, bias: torch.Tensor | None, band_tiles: int = BAND_TILES) -> torch.Tensor:
    """conv2d(x, weight, bias, padding=1) for float32 CPU `x` [N, C, H, W], given `filters` = transformed_filter(weight).

    Returns a channels-last tensor (the layout the kernels write).
    """
    return tiled_convolution(x, filters, bias, kernels, band_tiles)


def tiled_convolution(
    x: torch.Tensor, filters: torch.Tensor, bias: torch.Tensor | None, tile_kernels: ModuleType, band_tiles: int
) -> torch.Tensor:
    """A Winograd convolution of CPU `x` in the dtype of `filters` (float32, or bfloat16 as bits), channels-last out.

    `tile_kernels`: the module of the variant's numba transforms: input_tiles,
    output_tiles, STEP (input pixels per tile side), OUT_STEP (output pixels per
    tile side: STEP, or twice it for an upsampling one) and POINTS (products per
    tile). Works band by band of tile rows, so the transformed tiles of a band
    stay in the cache between the transforms and the matrix products.
    """
    step, out_step, points = tile_kernels.STEP, tile_kernels.OUT_STEP, tile_kernels.POINTS
    n, channels, height, width = x.shape
    out_channels, dtype = filters.shape[2], filters.dtype
    tiles_high, tiles_wide = -(-height // step), -(-width // step)
    image = _numpy(x.permute(0, 2, 3, 1).contiguous())  # a view when x is channels-last already
    out = torch.empty((n, out_step * tiles_high, out_step * tiles_wide, out_channels), dtype=dtype)
    out_values = _numpy(out)
    bias_values = (bias.detach().float() if bias is not None else torch.zeros(out_channels)).numpy()
    band = max(1, min(tiles_high, band_tiles // (n * tiles_wide)))
    tiles = torch.empty(points * n * band * tiles_wide * channels, dtype=dtype)
    products = torch.empty(points * n * band * tiles_wide * out_channels, dtype=dtype)
    for row0 in range(0, tiles_high, band):
        rows = min(band, tiles_high - row0)
        # The first part of each buffer, so a short last band is contiguous too.
        band_in = tiles[: points * n * rows * tiles_wide * channels].view(points, -1, channels)
        band_out = products[: points * n * rows * tiles_wide * out_channels].view(points, -1, out_channels)
        band_in_shaped = _numpy(band_in).reshape(points, n, rows, tiles_wide, channels)
        in_threads(tile_kernels.input_tiles, row0, row0 + rows, image, band_in_shaped)
        torch.bmm(band_in, filters, out=band_out)
        band_out_shaped = _numpy(band_out).reshape(points, n, rows, tiles_wide, out_channels)
        in_threads(tile_kernels.output_tiles, row0, row0 + rows, band_out_shaped, bias_values, out_values)
    scale = out_step // step
    result = out[:, : scale * height, : scale * width].permute(0, 3, 1, 2)
    return result.contiguous(memory_format=torch.channels_last)  # a copy only when the sides are not whole tiles


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    """A numpy view of a CPU tensor; of a bfloat16 one as its bit patterns (uint16), which numba reads."""
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(np.uint16)
    return tensor.numpy()


def suits_3x3(conv: nn.Conv2d, min_channels: int) -> bool:
    """A plain 3x3 convolution (stride 1, padding 1, no groups or dilation) with `min_channels` on both sides."""
    return (
        conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and min(conv.in_channels, conv.out_channels) >= min_channels
    )


@dataclass(frozen=True)
class Variant:
    """One Winograd algorithm as the layers use it: the inputs it takes, and its module (winograd or
    winograd_bf16), whose MIN_CHANNELS, MIN_PIXELS, transformed_filter and conv3x3 are read at each call."""

    dtype: torch.dtype
    channels_last_only: bool  # inputs in any other layout go to the conv's own forward
    algorithm: ModuleType


class _WinogradForward:
    """Replaces one Conv2d's forward by `variant`'s; inputs it does not suit go to the conv's own."""

    def __init__(self, conv: nn.Conv2d, variant: Variant) -> None:
        self.conv, self.variant = conv, variant
        self.original = conv.forward

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        variant, algorithm = self.variant, self.variant.algorithm
        usable = (
            x.device.type == "cpu"
            and x.dtype == variant.dtype
            and x.dim() == 4
            and (not variant.channels_last_only or x.is_contiguous(memory_format=torch.channels_last))
            and x.shape[2] * x.shape[3] >= algorithm.MIN_PIXELS
            and not torch.is_grad_enabled()
            and self.conv.weight.dtype == torch.float32
        )
        if not usable:
            return self.original(x)
        out: torch.Tensor = algorithm.conv3x3(x, algorithm.transformed_filter(self.conv.weight), self.conv.bias)
        return out


def winograd_forwards(module: nn.Module, variant: Variant) -> contextlib.AbstractContextManager[int]:
    """Within the block, the 3x3 convolutions in `module` that suit `variant` run by it; yields how many."""
    convs = (conv for conv in module.modules() if isinstance(conv, nn.Conv2d) and suits_3x3(conv, variant.algorithm.MIN_CHANNELS))
    return replaced_forwards(convs, lambda conv: _WinogradForward(conv, variant))


FLOAT32 = Variant(torch.float32, False, sys.modules[__name__])


def winograd_convolutions(module: nn.Module) -> contextlib.AbstractContextManager[int]:
    """Within the block, suitable 3x3 convolutions in `module` run by Winograd; yields how many."""
    return winograd_forwards(module, FLOAT32)

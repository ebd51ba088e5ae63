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
the CPU; everything else, and every other device, keeps PyTorch's own.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

from inpaint_studio.engines.moebius import _winograd_kernels as kernels

STEP, TILE = kernels.STEP, kernels.TILE
# Below these sizes the transforms cost more than the arithmetic they save (measured).
MIN_CHANNELS = 64
MIN_PIXELS = 128 * 128
# Tiles per band of tile rows: few enough that a band's transformed tiles stay in the cache, enough for
# efficient matrix products (192: fastest or within 10 % of it on every VAE layer, measured).
BAND_TILES = 192

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

    Works band by band of tile rows, so the transformed tiles of a band stay in
    the cache between the transforms and the matrix products. Returns a
    channels-last tensor (the layout the kernels write).
    """
    n, channels, height, width = x.shape
    out_channels = filters.shape[2]
    tiles_high, tiles_wide = -(-height // STEP), -(-width // STEP)
    image = x.permute(0, 2, 3, 1).contiguous().numpy()  # a view when x is channels-last already
    out = np.empty((n, STEP * tiles_high, STEP * tiles_wide, out_channels), dtype=np.float32)
    bias_values = bias.detach().numpy() if bias is not None else np.zeros(out_channels, dtype=np.float32)
    band = max(1, min(tiles_high, band_tiles // (n * tiles_wide)))
    tiles = torch.empty(TILE * TILE * n * band * tiles_wide * channels)
    products = torch.empty(TILE * TILE * n * band * tiles_wide * out_channels)
    for row0 in range(0, tiles_high, band):
        rows = min(band, tiles_high - row0)
        # The first part of each buffer, so a short last band is contiguous too.
        band_in = tiles[: TILE * TILE * n * rows * tiles_wide * channels].view(TILE * TILE, -1, channels)
        band_out = products[: TILE * TILE * n * rows * tiles_wide * out_channels].view(TILE * TILE, -1, out_channels)
        in_threads(
            kernels.input_tiles, row0, row0 + rows, image, band_in.numpy().reshape(TILE * TILE, n, rows, tiles_wide, channels)
        )
        torch.bmm(band_in, filters, out=band_out)
        band_out_shaped = band_out.numpy().reshape(TILE * TILE, n, rows, tiles_wide, out_channels)
        in_threads(kernels.output_tiles, row0, row0 + rows, band_out_shaped, bias_values, out)
    result = torch.from_numpy(out)[:, :height, :width].permute(0, 3, 1, 2)
    return result.contiguous(memory_format=torch.channels_last)  # a copy only when the sides are not whole tiles


def _suits(conv: nn.Conv2d) -> bool:
    return (
        conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and min(conv.in_channels, conv.out_channels) >= MIN_CHANNELS
    )


class _WinogradForward:
    """Replaces one Conv2d's forward; falls back to the conv's own for inputs it does not suit."""

    def __init__(self, conv: nn.Conv2d) -> None:
        self.conv = conv
        self.original = conv.forward

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        usable = (
            x.device.type == "cpu"
            and x.dtype == torch.float32
            and x.dim() == 4
            and x.shape[2] * x.shape[3] >= MIN_PIXELS
            and not torch.is_grad_enabled()
            and self.conv.weight.dtype == torch.float32
        )
        if not usable:
            return self.original(x)
        return conv3x3(x, transformed_filter(self.conv.weight), self.conv.bias)


@contextlib.contextmanager
def winograd_convolutions(module: nn.Module) -> Iterator[int]:
    """Within the block, suitable 3x3 convolutions in `module` run by Winograd; yields how many."""
    patched = []
    for conv in module.modules():
        if isinstance(conv, nn.Conv2d) and _suits(conv):
            conv.forward = _WinogradForward(conv)  # type: ignore[method-assign, assignment]  # patched per instance
            patched.append(conv)
    try:
        yield len(patched)
    finally:
        for conv in patched:
            del conv.forward  # back to the class's forward

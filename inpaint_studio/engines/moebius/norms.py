"""GroupNorm of channels-last tensors on the CPU with precise statistics.

PyTorch's CPU GroupNorm computes the variance of a channels-last input in one
pass, E[x²] - E[x]², in float32, which loses digits as the mean grows against
the spread: on the VAE's first encoder GroupNorm 2.7e-3 off a float64 reference
against 2e-6 for a contiguous input, 7.5e-2 against 6e-6 on inputs with a large
mean; in bfloat16 (measured, mean 50 and spread 2) 0.54 against 0.018. A
contiguous copy would fix it at the price of two layout changes of the tensor.
Here the statistics come from numba kernels (_norm_kernels: shifted sums in
float64, one read of the tensor) and the normalisation is PyTorch's eval-mode
BatchNorm with those statistics, sample by sample: one pass in the input's own
layout and dtype (float32 or bfloat16, arithmetic in float32).

`precise_group_norms(module)` makes every GroupNorm in a module use it, for
4-D channels-last CPU inputs; other inputs keep PyTorch's GroupNorm.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as functional
from torch import nn

from inpaint_studio.engines.moebius import _norm_kernels as kernels
from inpaint_studio.engines.moebius.patching import replaced_forwards
from inpaint_studio.engines.moebius.winograd import in_threads


def suits(x: torch.Tensor) -> bool:
    """A 4-D channels-last (and not also contiguous) float32 or bfloat16 CPU tensor."""
    return (
        x.device.type == "cpu"
        and x.dim() == 4
        and x.dtype in (torch.float32, torch.bfloat16)
        and x.is_contiguous(memory_format=torch.channels_last)
        and not x.is_contiguous()
        and x.shape[2] * x.shape[3] > 0
    )


def group_moments(x: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance, float64 [N, groups], of a tensor for which `suits(x)`."""
    n, channels, height, width = x.shape
    pixels = height * width
    tokens = x.detach().permute(0, 2, 3, 1).reshape(n, pixels, channels)  # a view of the channels-last data
    kernel: Callable[..., None]
    if x.dtype == torch.bfloat16:
        values = tokens.view(torch.int16).numpy().view(np.uint16)
        kernel = kernels.channel_moments_bf16
    else:
        values = tokens.numpy()
        kernel = kernels.channel_moments
    shift = tokens[:, 0].double().numpy()  # each channel's first value: sums of deviations stay small
    blocks = -(-pixels // kernels.BLOCK)
    sums = np.empty((n, blocks, channels))
    squares = np.empty((n, blocks, channels))
    for i in range(n):
        in_threads(kernel, 0, blocks, values[i], shift[i], sums[i], squares[i])
    s1 = torch.from_numpy(sums.sum(axis=1))
    channel_mean = torch.from_numpy(shift) + s1 / pixels
    channel_m2 = (torch.from_numpy(squares.sum(axis=1)) - s1 * s1 / pixels).clamp_(min=0.0)  # Σ (x - channel mean)²
    means = channel_mean.view(n, groups, -1)
    mean = means.mean(dim=-1)
    m2 = channel_m2.view(n, groups, -1).sum(dim=-1) + pixels * (means - mean[..., None]).square().sum(dim=-1)
    return mean, m2 / (pixels * means.shape[-1])


def group_norm(x: torch.Tensor, groups: int, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float) -> torch.Tensor:
    """functional.group_norm(x, groups, weight, bias, eps) for `suits(x)`, in x's layout and dtype."""
    n, channels = x.shape[:2]
    mean, variance = group_moments(x, groups)
    per_channel = channels // groups
    mean = mean.repeat_interleave(per_channel, dim=1).float()
    variance = variance.repeat_interleave(per_channel, dim=1).float()
    # Eval-mode BatchNorm normalises each channel by given statistics: GroupNorm's per sample.
    parts = [
        functional.batch_norm(x[i : i + 1], mean[i], variance[i], weight, bias, training=False, momentum=0.0, eps=eps)
        for i in range(n)
    ]
    return parts[0] if n == 1 else torch.cat(parts)


class _PreciseForward:
    """Replaces one GroupNorm's forward; inputs it does not suit go to the norm's own."""

    def __init__(self, norm: nn.GroupNorm) -> None:
        self.norm = norm
        self.original = norm.forward

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not suits(x) or torch.is_grad_enabled():
            return self.original(x)
        norm = self.norm
        return group_norm(x, norm.num_groups, norm.weight, norm.bias, norm.eps)


def precise_group_norms(module: nn.Module) -> contextlib.AbstractContextManager[int]:
    """Within the block, the GroupNorms in `module` compute channels-last statistics precisely; yields how many."""
    return replaced_forwards((norm for norm in module.modules() if isinstance(norm, nn.GroupNorm)), _PreciseForward)

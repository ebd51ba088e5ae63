"""The convolutional building blocks: time embedding, depthwise-separable conv, resnet, resampling.

Attribute names follow the checkpoint's keys (SPEC §8), so the official state
dict loads with strict=True. The time embedding and the resamplers have the
same names and math as diffusers' Timesteps, TimestepEmbedding, Downsample2D
and Upsample2D; they are a few lines each, so diffusers is not a dependency.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as functional
from torch import nn

from inpaint_studio.engines.moebius import winograd_upsample

T = TypeVar("T")


def derived(module: nn.Module, name: str, build: Callable[[], T], keep_dtype: bool = False) -> T:
    """`build()`: a weight derived from `module`'s parameters, built once per frozen_weights block.

    Outside such a block it is rebuilt on every call, so weights loaded or changed
    at any time are always the ones used. In a block given a dtype (the one the model
    runs in under autocast), floating tensors are kept in that dtype, so autocast does
    not cast them again on every call; `keep_dtype` keeps them as built (for layers
    that run in float32 under autocast).
    """
    cache: dict[str, Any] | None = module.__dict__.get("_derived")
    if cache is None:
        return build()
    if name not in cache:
        dtype: torch.dtype | None = module.__dict__.get("_derived_dtype")
        cache[name] = build() if keep_dtype or dtype is None else _to_dtype(build(), dtype)
    return cast(T, cache[name])


def keeps_derived(module: nn.Module) -> bool:
    """Whether `module`'s derived weights are kept (inside a frozen_weights block) rather than rebuilt per call."""
    return "_derived" in module.__dict__


def _to_dtype(value: Any, dtype: torch.dtype) -> Any:
    """`value` (a tensor, or a tuple or list of them) with its floating tensors in `dtype`."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, (tuple, list)):
        return type(value)(_to_dtype(item, dtype) for item in value)
    return value


@contextlib.contextmanager
def frozen_weights(model: nn.Module, dtype: torch.dtype | None = None) -> Iterator[nn.Module]:
    """Within the block, derived weights (BatchNorm folded into convs, ...) are built once and reused.

    The caller promises not to change the weights meanwhile (the sampling loop);
    the kept values are dropped on exit. Nested blocks share the outer one's.
    `dtype`: the autocast dtype the model runs in, in which derived weights are kept.
    """
    if "_derived" in model.__dict__:
        yield model
        return
    modules = list(model.modules())
    for module in modules:
        module.__dict__["_derived"] = {}  # as `module._derived = {}` does; nn.Module.__setattr__ is typed for tensors and modules
        module.__dict__["_derived_dtype"] = dtype
    try:
        yield model
    finally:
        for module in modules:
            module.__dict__.pop("_derived", None)
            module.__dict__.pop("_derived_dtype", None)


class Conv2d(nn.Conv2d):
    """nn.Conv2d with its weights from `derived`: in a sampling loop under autocast they are cast
    once, not on every call (autocast keeps no casts between calls in inference mode)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = derived(self, "weights", lambda: (self.weight, self.bias))
        y: torch.Tensor = self._conv_forward(x, weight, bias)
        return y


class Linear(nn.Linear):
    """nn.Linear with its weights from `derived` (see Conv2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = derived(self, "weights", lambda: (self.weight, self.bias))
        return functional.linear(x, weight, bias)


def in_autocast_dtype(x: torch.Tensor) -> torch.Tensor:
    """`x` in the dtype autocast runs layers in on its device (`x` itself where autocast is off)."""
    device = x.device.type
    if device in ("cpu", "cuda") and torch.is_autocast_enabled(device):
        return x.to(torch.get_autocast_dtype(device))
    return x


def without_autocast(x: torch.Tensor) -> contextlib.AbstractContextManager[Any]:
    """A block in which autocast is off on `x`'s device (CPU and CUDA, the devices it runs on here)."""
    if x.device.type in ("cpu", "cuda"):
        return torch.autocast(x.device.type, enabled=False)
    return contextlib.nullcontext()


def fold_batchnorm(weight: torch.Tensor, norm: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of a bias-free conv (or linear; weight [out, ...]) and the eval-mode BatchNorm after it.

    BatchNorm with running statistics is a per-channel affine map, so the two are one layer.
    """
    running_mean, running_var = norm.running_mean, norm.running_var
    assert running_mean is not None and running_var is not None, "BatchNorm without running statistics"
    scale = norm.weight * torch.rsqrt(running_var + norm.eps)
    return weight * scale.view(-1, *[1] * (weight.ndim - 1)), norm.bias - running_mean * scale


def tile_rows(x: torch.Tensor, rows: int) -> torch.Tensor:
    """`x` repeated along the batch to `rows` rows (copy 0, copy 1, ...); `x` itself if it has them.

    A classifier-free-guided call runs the layers before the first cross-lambda once
    per latent and widens to both prompt halves there (MoebiusModel.guided_noise).
    """
    return x if x.shape[0] == rows else x.repeat(rows // x.shape[0], *[1] * (x.ndim - 1))


class SinusoidalTimesteps(nn.Module):
    """Timestep -> sinusoid features (no parameters), cosines first when `flip_sin_to_cos`."""

    def __init__(self, channels: int, flip_sin_to_cos: bool = True, freq_shift: float = 0.0) -> None:
        super().__init__()
        self.channels = channels
        self.flip_sin_to_cos = flip_sin_to_cos
        self.freq_shift = freq_shift

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        half = self.channels // 2
        # The same float32 operation order as the reference, so the features agree to the last bit.
        exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32, device=timesteps.device)
        frequencies = torch.exp(exponent / (half - self.freq_shift))
        phase = timesteps[:, None].float() * frequencies[None, :]
        sin, cos = torch.sin(phase), torch.cos(phase)
        features = torch.cat([cos, sin] if self.flip_sin_to_cos else [sin, cos], dim=-1)
        if self.channels % 2:
            features = functional.pad(features, (0, 1))
        return features


class TimestepEmbedding(nn.Module):
    """The time MLP: Linear -> SiLU -> Linear, no activation after (each resnet applies its own)."""

    def __init__(self, in_channels: int, embed_dim: int) -> None:
        super().__init__()
        self.linear_1 = Linear(in_channels, embed_dim)
        self.linear_2 = Linear(embed_dim, embed_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        embedding: torch.Tensor = self.linear_2(functional.silu(self.linear_1(features)))
        return embedding


class DepthwiseSeparableConv(nn.Module):
    """k x k depthwise conv, BN + ReLU, 1x1 pointwise conv, BN; plus the input when widths agree.

    The cheap replacement for every dense 3x3 conv of a Stable Diffusion UNet
    (timm's efficientnet block). The internal residual matters: dropping it moves
    the output by ~0.4 on the fixtures. With `float32`, it runs in float32 even under
    autocast (the UNet's first and last layers, which read latents and write the noise).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, float32: bool = False) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(
            in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=in_channels, bias=False
        )
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv_pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.has_skip = in_channels == out_channels
        self.float32 = float32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:  # batch statistics (and their buffer updates): run the layers as written
            y: torch.Tensor = self.bn2(self.conv_pw(functional.relu(self.bn1(self.conv_dw(x)))))
            return y + x if self.has_skip else y
        if self.float32:
            with without_autocast(x):
                return self._folded(x.float())
        return self._folded(x)

    def _folded(self, x: torch.Tensor) -> torch.Tensor:
        # Eval-mode BatchNorm folded into the convs: two convs, no normalisation passes.
        dw, keep = self.conv_dw, self.float32
        depthwise = derived(self, "depthwise", lambda: fold_batchnorm(dw.weight, self.bn1), keep_dtype=keep)
        pointwise = derived(self, "pointwise", lambda: fold_batchnorm(self.conv_pw.weight, self.bn2), keep_dtype=keep)
        y = functional.conv2d(x, *depthwise, padding=dw.padding, groups=dw.groups)
        y = functional.conv2d(functional.relu(y, inplace=True), *pointwise)
        return y.add_(x) if self.has_skip else y  # in place: y is this block's own intermediate


class DWResnetBlock(nn.Module):
    """A diffusers-style resnet block whose two 3x3 convs are depthwise-separable (SPEC §5.2)."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, groups: int, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = DepthwiseSeparableConv(in_channels, out_channels)
        self.time_emb_proj = Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.conv2 = DepthwiseSeparableConv(out_channels, out_channels)
        self.conv_shortcut = Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h: torch.Tensor = self.conv1(functional.silu(self.norm1(x)))
        h = h + tile_rows(self.time_emb_proj(functional.silu(emb)), h.shape[0])[:, :, None, None]
        h = self.conv2(functional.silu(self.norm2(h)))
        shortcut = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return shortcut + h


class Downsample(nn.Module):
    """Stride-2 3x3 conv (diffusers' Downsample2D with use_conv=True, padding 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.conv(x)
        return y


class Upsample(nn.Module):
    """Nearest x2 then a 3x3 conv (diffusers' Upsample2D with use_conv=True), computed as upsample_conv does."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def _phase_weights(self) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        return phase_kernels(self.conv.weight), self.conv.bias

    def _winograd_filters(self) -> torch.Tensor:
        return winograd_upsample.transformed_filters(phase_kernels(self.conv.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # bfloat16 on the CPU, where its filters are kept: building them takes longer than one call saves.
        if keeps_derived(self) and winograd_upsample.suits(x, self.conv):
            filters = derived(self, "winograd", self._winograd_filters, keep_dtype=True)
            return winograd_upsample.upsample_conv(x, filters, self.conv.bias)
        return upsample_conv(x, *derived(self, "phases", self._phase_weights))


def phase_kernels(weight: torch.Tensor) -> list[torch.Tensor]:
    """The four [C_out, C_in, 2, 2] kernels of a 3x3 conv after nearest x2 upsampling, phase (py, px) at 2 * py + px."""
    w = weight
    # Phase 0 sees kernel row 0, then rows 1 + 2; phase 1 sees rows 0 + 1, then row 2 (columns alike).
    rows = [
        torch.stack([w[:, :, 0], w[:, :, 1] + w[:, :, 2]], 2),
        torch.stack([w[:, :, 0] + w[:, :, 1], w[:, :, 2]], 2),
    ]
    kernels = []
    for r in rows:  # [C, C, 2, 3]
        kernels.append(torch.stack([r[..., 0], r[..., 1] + r[..., 2]], 3))
        kernels.append(torch.stack([r[..., 0] + r[..., 1], r[..., 2]], 3))
    # In the layout of the (channels-last) activations: oneDNN would otherwise reorder them on every call.
    return [kernel.contiguous(memory_format=torch.channels_last) for kernel in kernels]


def upsample_conv(x: torch.Tensor, kernels: list[torch.Tensor], bias: torch.Tensor | None) -> torch.Tensor:
    """conv2d(nearest x2 of x, weight, bias, padding=1) for kernels = phase_kernels(weight), without upsampling.

    Output pixel (2i + py, 2j + px) only sees input pixels i - 1..i (py = 0) or
    i..i + 1 (py = 1) in each direction, so each of the four phases is a 2x2 conv
    with summed 3x3 taps: 16 instead of 36 MACs per input pixel and channel pair.
    """
    b, _, height, width = x.shape
    out: torch.Tensor | None = None
    for phase, kernel in enumerate(kernels):
        py, px = divmod(phase, 2)
        # Zero padding on the side the phase reaches past: one row above for py = 0, below for py = 1.
        window = functional.pad(x, (1 - px, px, 1 - py, py))
        part = functional.conv2d(window, kernel, bias)
        if out is None:  # the conv's dtype: x's, or autocast's
            size = (b, part.shape[1], 2 * height, 2 * width)
            out = torch.empty(size, dtype=part.dtype, device=x.device, memory_format=_memory_format(x))
        out[:, :, py::2, px::2] = part
    assert out is not None
    return out


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format

"""The convolutional building blocks: time embedding, depthwise-separable conv, resnet, resampling.

Attribute names follow the checkpoint's keys (SPEC §8), so the official state
dict loads with strict=True. The time embedding and the resamplers have the
same names and math as diffusers' Timesteps, TimestepEmbedding, Downsample2D
and Upsample2D; they are a few lines each, so diffusers is not a dependency.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


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
            features = F.pad(features, (0, 1))
        return features


class TimestepEmbedding(nn.Module):
    """The time MLP: Linear -> SiLU -> Linear, no activation after (each resnet applies its own)."""

    def __init__(self, in_channels: int, embed_dim: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, embed_dim)
        self.linear_2 = nn.Linear(embed_dim, embed_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(features)))


class DepthwiseSeparableConv(nn.Module):
    """k x k depthwise conv, BN + ReLU, 1x1 pointwise conv, BN; plus the input when widths agree.

    The cheap replacement for every dense 3x3 conv of a Stable Diffusion UNet
    (timm's efficientnet block). The internal residual matters: dropping it moves
    the output by ~0.4 on the fixtures.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(
            in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=in_channels, bias=False
        )
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv_pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.has_skip = in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(F.relu(self.bn1(self.conv_dw(x)))))
        return y + x if self.has_skip else y


class DWResnetBlock(nn.Module):
    """A diffusers-style resnet block whose two 3x3 convs are depthwise-separable (SPEC §5.2)."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, groups: int, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = DepthwiseSeparableConv(in_channels, out_channels)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.conv2 = DepthwiseSeparableConv(out_channels, out_channels)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        shortcut = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return shortcut + h


class Downsample(nn.Module):
    """Stride-2 3x3 conv (diffusers' Downsample2D with use_conv=True, padding 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest x2 then a 3x3 conv (diffusers' Upsample2D with use_conv=True)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))

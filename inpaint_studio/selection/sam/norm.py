"""Layer normalisation over the channels of a (B, C, H, W) map, as SAM's necks and decoders use it."""

from __future__ import annotations

import torch
from torch import nn


class LayerNorm2d(nn.Module):
    """Normalises each pixel's channel vector, then scales and shifts it per channel."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        variance = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) * torch.rsqrt(variance + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]

"""The Mix transformer: a diffusers-style 2-D transformer whose block holds two lambda layers and a Mix-FFN.

The layout is that of diffusers' Transformer2DModel (GroupNorm, 1x1 proj_in,
blocks on row-major tokens, 1x1 proj_out, residual) around one
BasicTransformerBlock (pre-LayerNorm, residual after each part), with the
attention and feed-forward children replaced (SPEC §5.4).

Tokens [b, n, C] are the channels-last layout of the grid [b, C, H, W]: the
network runs channels-last, so going between the two is a view, not a copy.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as functional
from torch import nn

from inpaint_studio.engines.moebius.blocks import Conv2d, derived, tile_rows
from inpaint_studio.engines.moebius.fused import linear_silu
from inpaint_studio.engines.moebius.lambda_layers import CrossLambda, LocalSelfLambda

# The reference ignores its mix_mlp_ratio argument and always widens by 2.5 (SPEC §2).
MIX_FFN_RATIO = 2.5


def to_tokens(grid: torch.Tensor) -> torch.Tensor:
    """[b, C, H, W] -> row-major tokens [b, H * W, C] (a view when the grid is channels-last)."""
    b, channels, height, width = grid.shape
    return grid.permute(0, 2, 3, 1).reshape(b, height * width, channels)


def to_grid(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Row-major tokens [b, H * W, C] -> a channels-last grid [b, C, H, W] (a view)."""
    b, _, channels = tokens.shape
    return tokens.reshape(b, height, width, channels).permute(0, 3, 1, 2)


class _Conv(nn.Module):
    """A conv held under the attribute `conv`, which is where the checkpoint keys put it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.conv = Conv2d(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.conv(x)
        return y


class MixFFN(nn.Module):
    """Gated MBConv feed-forward (as in Sana): 1x1 expand + SiLU, depthwise 3x3, gate, 1x1 project.

    The depthwise conv gives the feed-forward local spatial mixing that token-wise MLPs lack.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.hidden = int(dim * MIX_FFN_RATIO)
        self.inverted_conv = _Conv(dim, 2 * self.hidden, 1)
        self.depth_conv = _Conv(2 * self.hidden, 2 * self.hidden, 3, padding=1, groups=2 * self.hidden)
        self.point_conv = _Conv(self.hidden, dim, 1, bias=False)

    def forward(self, tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
        expand = self.inverted_conv.conv
        # The 1x1 convs' weights as matrices (in the autocast dtype within a sampling loop, see `derived`).
        expand_weight, expand_bias = derived(self, "expand", lambda: (expand.weight.flatten(1), expand.bias))
        project_weight = derived(self, "project", lambda: self.point_conv.conv.weight.flatten(1))
        hidden = linear_silu(tokens, expand_weight, expand_bias)
        value, gate = self.depth_conv(to_grid(hidden, height, width)).chunk(2, dim=1)
        gated = to_tokens(functional.silu(gate).mul_(value))  # in place on this layer's own intermediate
        return functional.linear(gated, project_weight)


class MixTransformerBlock(nn.Module):
    """Pre-norm block: local self-lambda, cross-lambda to the condition tokens, Mix-FFN."""

    def __init__(self, dim: int, heads: int, side: int, context_dim: int, context_tokens: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = LocalSelfLambda(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = CrossLambda(dim, heads, side, context_dim, context_tokens)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = MixFFN(dim)

    def forward(self, tokens: torch.Tensor, context: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """`tokens` may have fewer rows than `context` (shared by its prompts, see tile_rows)."""
        tokens = tokens + self.attn1(self.norm1(tokens), height, width)
        # The condition enters here: from now on there is one row per prompt.
        tokens = tile_rows(tokens, context.shape[0])
        tokens = tokens + self.attn2(self.norm2(tokens), context, height, width)
        mixed: torch.Tensor = self.ff(self.norm3(tokens), height, width)
        return tokens + mixed


class MixTransformer2D(nn.Module):
    """GroupNorm, 1x1 in, transformer blocks on the tokens, 1x1 out, plus the input."""

    def __init__(
        self, dim: int, heads: int, side: int, context_dim: int, context_tokens: int, groups: int, layers: int = 1
    ) -> None:
        super().__init__()
        inner = heads * (dim // heads)
        # eps 1e-6 here, unlike the resnets' 1e-5 (SPEC §7).
        self.norm = nn.GroupNorm(groups, dim, eps=1e-6)
        self.proj_in = Conv2d(dim, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            MixTransformerBlock(inner, heads, side, context_dim, context_tokens) for _ in range(layers)
        )
        self.proj_out = Conv2d(inner, dim, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        _, _, height, width = x.shape
        tokens = to_tokens(self.proj_in(self.norm(x)))
        for block in self.transformer_blocks:
            tokens = block(tokens, context, height, width)
        out: torch.Tensor = self.proj_out(to_grid(tokens, height, width))
        return out + tile_rows(x, tokens.shape[0])

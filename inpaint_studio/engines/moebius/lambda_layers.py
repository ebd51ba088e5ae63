"""Lambda layers (Bello 2021): attention replaced by small linear "lambda" maps applied to queries.

Both layers have one key/value head (u = 1) shared by h query heads, keys
softmax-normalised over the context (no query-key products), and BatchNorm on
queries and values. They differ in the position part:

* `LocalSelfLambda` (attn1) learns a 15x15 convolution over the value grid,
  a translation-invariant local position lambda.
* `CrossLambda` (attn2) attends to the 10 condition tokens and learns one
  position lambda table per query position (no interpolation), which is why a
  model only takes the latent size it was built for.

Index letters in the einsums: b batch, h heads, k key width dk, v value
width dv, u value/key "depth" (1), n query positions, l condition tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

RECEPTIVE_FIELD = 15


def _queries(layer: nn.Module, grid: torch.Tensor) -> torch.Tensor:
    """Normalised queries [b, h, k, n]; conv channel c = head * dk + k."""
    b, _, height, width = grid.shape
    return layer.norm_q(layer.to_q(grid)).reshape(b, layer.heads, layer.dim_k, height * width)


def _apply_lambdas(
    queries: torch.Tensor, content: torch.Tensor, position: torch.Tensor, position_eq: str
) -> torch.Tensor:
    """Yc + Yp as tokens [b, n, h * dv]; channel order head * dv + v (SPEC §5.5 step 7)."""
    y = torch.einsum("bhkn,bkv->bhvn", queries, content) + torch.einsum(position_eq, queries, position)
    b, heads, dim_v, n = y.shape
    return y.reshape(b, heads * dim_v, n).transpose(1, 2)


class LocalSelfLambda(nn.Module):
    """Self-lambda over the token grid with a local (15 x 15 convolution) position lambda."""

    def __init__(self, dim: int, heads: int, receptive_field: int = RECEPTIVE_FIELD) -> None:
        super().__init__()
        self.heads, self.dim_k, self.dim_v, self.dim_u = heads, dim // heads, dim // heads, 1
        self.to_q = nn.Conv2d(dim, heads * self.dim_k, 1, bias=False)
        self.to_k = nn.Conv2d(dim, self.dim_k * self.dim_u, 1, bias=False)
        self.to_v = nn.Conv2d(dim, self.dim_v * self.dim_u, 1, bias=False)
        self.norm_q = nn.BatchNorm2d(heads * self.dim_k)
        self.norm_v = nn.BatchNorm2d(self.dim_v * self.dim_u)
        pad = receptive_field // 2
        self.pos_conv = nn.Conv3d(self.dim_u, self.dim_k, (1, receptive_field, receptive_field), padding=(0, pad, pad))

    def forward(self, tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
        b, n, channels = tokens.shape
        grid = tokens.transpose(1, 2).reshape(b, channels, height, width)
        u, dk, dv = self.dim_u, self.dim_k, self.dim_v
        queries = _queries(self, grid)
        keys = self.to_k(grid).reshape(b, u, dk, n).softmax(dim=-1)
        values = self.norm_v(self.to_v(grid)).reshape(b, u, dv, n)
        content = torch.einsum("bukn,buvn->bkv", keys, values)
        # The position lambda: every value slice convolved with dk learned 15x15
        # kernels, dk * dv * 225 MACs per position. This is where the cost is: at
        # the official size, batch 2 on 2 CPU threads, ~1.8 s of a ~8 s step as the
        # reference's Conv3d. The same kernels run as a 2-D convolution over the
        # dv slices ([b * dv, 1, H, W], u = 1) are ~30 % faster, and leaving the
        # result as [b, dv, dk, n] spares the einsum a permuted copy.
        kernels = self.pos_conv.weight[:, :, 0]  # [dk, u, 15, 15]
        slices = values.reshape(b * dv, u, height, width)
        position = F.conv2d(slices, kernels, self.pos_conv.bias, padding=self.pos_conv.padding[1:])
        return _apply_lambdas(queries, content, position.reshape(b, dv, dk, n), "bhkn,bvkn->bhvn")


class CrossLambda(nn.Module):
    """Cross-lambda from the grid's queries to the condition tokens, with a per-position table."""

    def __init__(self, dim: int, heads: int, side: int, context_dim: int, context_tokens: int) -> None:
        super().__init__()
        self.heads, self.dim_k, self.dim_v, self.dim_u = heads, dim // heads, dim // heads, 1
        self.rel_pos_emb = nn.Parameter(torch.randn(side * side, context_tokens, self.dim_k, self.dim_u))
        self.to_q = nn.Conv2d(dim, heads * self.dim_k, 1, bias=False)
        self.to_k = nn.Linear(context_dim, self.dim_k * self.dim_u, bias=False)
        self.to_v = nn.Linear(context_dim, self.dim_v * self.dim_u, bias=False)
        self.norm_q = nn.BatchNorm2d(heads * self.dim_k)
        self.norm_v = nn.BatchNorm1d(self.dim_v * self.dim_u)

    def forward(self, tokens: torch.Tensor, context: torch.Tensor, height: int, width: int) -> torch.Tensor:
        b, n, channels = tokens.shape
        grid = tokens.transpose(1, 2).reshape(b, channels, height, width)
        u, dk, dv, m = self.dim_u, self.dim_k, self.dim_v, context.shape[1]
        queries = _queries(self, grid)
        keys = self.to_k(context).transpose(1, 2).reshape(b, u, dk, m).softmax(dim=-1)
        values = self.norm_v(self.to_v(context).transpose(1, 2)).reshape(b, u, dv, m)
        content = torch.einsum("bukl,buvl->bkv", keys, values)
        # The position lambdas (one [dk, dv] matrix per query position, built from
        # the table and the values) are never built: contracting the queries with
        # the table first, then with the values, is the same sum in another order
        # and costs ~2 * b*h*n*l*dk MACs instead of b*n*l*dk*dv + b*h*n*dk*dv.
        table = self.rel_pos_emb[..., 0]  # [n, l, dk], u = 1
        weights = torch.einsum("bhkn,nlk->bhnl", queries, table)
        position_y = torch.einsum("bhnl,bvl->bhvn", weights, values[:, 0])
        y = torch.einsum("bhkn,bkv->bhvn", queries, content) + position_y
        return y.reshape(b, self.heads * dv, n).transpose(1, 2)

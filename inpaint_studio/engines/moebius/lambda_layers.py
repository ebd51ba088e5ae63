"""Lambda layers (Bello 2021): attention replaced by small linear "lambda" maps applied to queries.

Both layers have one key/value head (u = 1) shared by h query heads, keys
softmax-normalised over the context (no query-key products), and BatchNorm on
queries and values. They differ in the position part:

* `LocalSelfLambda` (attn1) learns a 15x15 convolution over the value grid,
  a translation-invariant local position lambda.
* `CrossLambda` (attn2) attends to the 10 condition tokens and learns one
  position lambda table per query position (no interpolation), which is why a
  model only takes the latent size it was built for.

Both work on row-major tokens [b, n, C] (a channels-last grid), so the 1x1
convs are plain matrix products and the output needs no transpose. Queries
come out as [b, n, h, dk] and the result as [b, n, h, dv], whose flattening
is the output channel order head * dv + v (SPEC §5.5 step 7).
"""

from __future__ import annotations

import torch
import torch.nn.functional as functional
from torch import nn

from inpaint_studio.engines.moebius.blocks import Linear, derived, fold_batchnorm

RECEPTIVE_FIELD = 15
# Value windows gathered at once by the local position lambda (values): big enough for few
# calls, small enough to stay in cache between the gather and the product. Measured on the
# project machine, one thread (each guided half has one, side_by_side.py), bfloat16, 2^18 to
# 2^23: 2^21 (3 grid rows at every level) the fastest at all three levels, 16-19 % faster than 2^20.
WINDOW_BUDGET = 1 << 21


def project(layer: nn.Module, name: str, tokens: torch.Tensor) -> torch.Tensor:
    """`layer`'s bias-free 1x1 conv `to_<name>` then BatchNorm `norm_<name>`, on tokens [b, n, cin] -> [b, n, cout]."""
    conv: nn.Conv2d = getattr(layer, "to_" + name)
    norm: nn.modules.batchnorm._BatchNorm = getattr(layer, "norm_" + name)
    if norm.training:  # batch statistics (and their buffer updates): run the layers as written
        y = functional.linear(tokens, conv.weight.flatten(1))
        normed: torch.Tensor = norm(y.transpose(1, 2)[..., None])
        return normed[..., 0].transpose(1, 2)
    # Eval-mode BatchNorm is affine, so it folds into the conv: one matrix product.
    return functional.linear(tokens, *derived(layer, name, lambda: fold_batchnorm(conv.weight.flatten(1), norm)))


def add_local_position_lambda(
    out: torch.Tensor, queries: torch.Tensor, values: torch.Tensor, kernels: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """out[b, n, h, v] += Σ_k Q[b, n, h, k] · (W_k ⋆ V_v)[b, n], the position lambda without its bias.

    The reference convolves every value slice with the dk 15x15 kernels (dk·dv·r²
    MACs per position) and then contracts over k. Contracting the queries with
    the kernels first gives each head one r x r window weight (h·dk·r²), and the
    result is that window's weighted sum of values (h·dv·r²): dk / 2h times fewer
    MACs (2.5x at level 0, 10x at level 2), as batched matrix products over
    positions, with no [b, dv, dk, n] lambda to permute. 1.5 s of a 7.5 s step
    before, 0.2 s after (official size, 2 threads).
    queries [b, n, h, dk], values [b, n, dv], kernels [dk, r, r], out [b, n, h, dv].
    """
    b, _, heads, dim_k = queries.shape
    dim_v = values.shape[-1]
    r = kernels.shape[-1]
    pad = r // 2
    # Zero padding, as the convolution's; [b, H + 2p, W + 2p, dv].
    grid = functional.pad(values.reshape(b, height, width, dim_v), (0, 0, pad, pad, pad, pad))
    _, row_stride, col_stride, _ = grid.stride()
    flat_kernels = kernels.reshape(dim_k, r * r)
    rows = max(1, WINDOW_BUDGET // (width * r * r * dim_v))
    for i in range(b):
        for top in range(0, height, rows):
            count = min(rows, height - top)
            positions = count * width
            window_weights = queries[i, top * width : top * width + positions].reshape(-1, dim_k) @ flat_kernels
            windows = grid[i].as_strided(
                (count, width, r, r, dim_v),
                (row_stride, col_stride, row_stride, col_stride, 1),
                grid[i].storage_offset() + top * row_stride,
            )
            out[i, top * width : top * width + positions].baddbmm_(
                window_weights.view(positions, heads, r * r), windows.reshape(positions, r * r, dim_v)
            )
    return out


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
        b, n, _ = tokens.shape
        heads, dk, dv = self.heads, self.dim_k, self.dim_v
        queries = project(self, "q", tokens).view(b, n, heads, dk)
        keys = functional.linear(tokens, derived(self, "k", lambda: self.to_k.weight.flatten(1))).softmax(dim=1)  # over positions
        values = project(self, "v", tokens)  # [b, n, dv]
        # The position conv's bias adds bias[k] to every position lambda entry: the
        # same as adding it to the content lambda, which is applied to every position.
        assert self.pos_conv.bias is not None  # built with a bias
        content = keys.transpose(1, 2) @ values + self.pos_conv.bias[:, None]  # [b, dk, dv]
        out = (queries.view(b, n * heads, dk) @ content).view(b, n, heads, dv)
        kernels = derived(self, "kernels", lambda: self.pos_conv.weight[:, 0, 0])  # [dk, 15, 15], u = 1
        add_local_position_lambda(out, queries, values, kernels, height, width)
        return out.view(b, n, heads * dv)


class CrossLambda(nn.Module):
    """Cross-lambda from the grid's queries to the condition tokens, with a per-position table."""

    def __init__(self, dim: int, heads: int, side: int, context_dim: int, context_tokens: int) -> None:
        super().__init__()
        self.heads, self.dim_k, self.dim_v, self.dim_u = heads, dim // heads, dim // heads, 1
        self.rel_pos_emb = nn.Parameter(torch.randn(side * side, context_tokens, self.dim_k, self.dim_u))
        self.to_q = nn.Conv2d(dim, heads * self.dim_k, 1, bias=False)
        self.to_k = Linear(context_dim, self.dim_k * self.dim_u, bias=False)
        self.to_v = Linear(context_dim, self.dim_v * self.dim_u, bias=False)
        self.norm_q = nn.BatchNorm2d(heads * self.dim_k)
        self.norm_v = nn.BatchNorm1d(self.dim_v * self.dim_u)

    def forward(self, tokens: torch.Tensor, context: torch.Tensor, height: int, width: int) -> torch.Tensor:
        b, n, _ = tokens.shape
        heads, dk, dv = self.heads, self.dim_k, self.dim_v
        queries = project(self, "q", tokens).view(b, n * heads, dk)
        keys: torch.Tensor = self.to_k(context).softmax(dim=1)  # [b, l, dk], over the condition tokens
        values: torch.Tensor = self.norm_v(self.to_v(context).transpose(1, 2)).transpose(1, 2)  # [b, l, dv]
        out = queries @ (keys.transpose(1, 2) @ values)  # content part, [b, n * h, dv]
        # The position lambdas (one [dk, dv] matrix per query position, built from
        # the table and the values) are never built: contracting the queries with
        # the table first, then with the values, is the same sum in another order
        # and costs ~2 * b*h*n*l*dk MACs instead of b*n*l*dk*dv + b*h*n*dk*dv.
        table = derived(self, "table", lambda: self.rel_pos_emb[..., 0].transpose(1, 2))  # [n, dk, l], u = 1
        for i in range(b):
            weights = torch.bmm(queries[i].view(n, heads, dk), table)  # [n, h, l]
            out[i].addmm_(weights.view(n * heads, -1), values[i])
        return out.view(b, n, heads * dv)

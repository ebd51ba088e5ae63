"""A linear layer and its SiLU as one oneDNN operation on a bfloat16 CPU, which eager PyTorch does not fuse.

The Mix-FFN's expansion (transformer.MixFFN) writes its widest activation,
then SiLU reads and writes it again, and the bias is copied into it first.
oneDNN applies bias and SiLU while the product is still in registers:
25.3 -> 22.4 ms per level-0 call on one thread, 1.7 % of a guided step
(benchmarks/README.md). The operator, `torch.ops.mkldnn._linear_pointwise`,
is PyTorch's private one (its compiler, inductor, emits it): it is checked once
against the plain formula and not used where it is missing or answers
differently.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as functional


def linear_silu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """silu(linear(x, weight, bias)), fused for bfloat16 CPU tensors where oneDNN's operator works."""
    if x.device.type == "cpu" and x.dtype == weight.dtype == torch.bfloat16 and fused_linear_silu_works():
        out: torch.Tensor = torch.ops.mkldnn._linear_pointwise(x, weight, bias, "swish", [], "")
        return out
    return functional.silu(functional.linear(x, weight, bias), inplace=True)


@functools.cache
def fused_linear_silu_works() -> bool:
    """Whether oneDNN's fused operator exists here and gives silu(linear(...)) on a small example."""
    x = torch.linspace(-3, 3, 6 * 8).view(6, 8).bfloat16()
    weight = torch.linspace(-1, 1, 4 * 8).view(4, 8).bfloat16()
    bias = torch.linspace(-0.5, 0.5, 4).bfloat16()
    try:
        with torch.inference_mode():
            fused = torch.ops.mkldnn._linear_pointwise(x, weight, bias, "swish", [], "")
    except (AttributeError, RuntimeError, TypeError):  # no such operator, or another signature
        return False
    plain = functional.silu(functional.linear(x.float(), weight.float(), bias.float()))
    return fused.shape == plain.shape and bool((fused.float() - plain).abs().max() < 0.05)

"""The UNet's upsamplers in bfloat16 by Winograd F(2x2, 2x2) per phase: nearest x2 + 3x3 conv, close to the direct one.

Checked against a float64 reference of the upsampling and convolution itself, on wide layers with
sides that are not whole tiles, batches, inputs with a large mean, no bias; and which calls of
blocks.Upsample take it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as functional

from inpaint_studio.engines.moebius import winograd_upsample
from inpaint_studio.engines.moebius.blocks import Upsample, frozen_weights, phase_kernels, upsample_conv


def _reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    upsampled = functional.interpolate(x.double(), scale_factor=2.0, mode="nearest")
    return functional.conv2d(upsampled, weight.double(), None if bias is None else bias.double(), padding=1)


def _errors(batch: int, cin: int, cout: int, height: int, width: int, mean: float, bias: bool) -> tuple[float, float]:
    """Largest error, relative to the largest output, of Winograd and of the bfloat16 phases against float64."""
    generator = torch.Generator().manual_seed(cin + height)
    x = torch.randn(batch, cin, height, width, generator=generator) + mean
    weight = torch.randn(cout, cin, 3, 3, generator=generator) / (3 * cin**0.5)
    b = torch.randn(cout, generator=generator) if bias else None
    rounded = x.bfloat16().contiguous(memory_format=torch.channels_last)
    expected = _reference(rounded, weight, b)  # from the inputs both see: x rounded to bfloat16
    kernels = phase_kernels(weight)
    with torch.inference_mode():
        got = winograd_upsample.upsample_conv(rounded, winograd_upsample.transformed_filters(kernels), b)
        direct = upsample_conv(rounded, [k.bfloat16() for k in kernels], None if b is None else b.bfloat16())
    assert got.dtype == torch.bfloat16 and got.shape == expected.shape
    assert got.is_contiguous(memory_format=torch.channels_last)
    scale = expected.abs().max().item()
    return (got.double() - expected).abs().max().item() / scale, (direct.double() - expected).abs().max().item() / scale


@pytest.mark.parametrize(
    "batch, cin, cout, height, width, mean, bias",
    [(1, 512, 512, 16, 16, 0.3, True), (2, 640, 512, 7, 9, 0.0, False), (1, 512, 640, 5, 12, 20.0, True)],
)
def test_winograd_upsampling_is_close_to_the_direct_bf16_phases(batch, cin, cout, height, width, mean, bias):
    winograd_error, direct_error = _errors(batch, cin, cout, height, width, mean, bias)
    # bfloat16 keeps 8 bits: 2^-8 = 3.9e-3 of the largest output is one rounding of it.
    assert winograd_error < 1.5e-2
    assert winograd_error < 3 * direct_error + 1e-3


def test_a_wrong_tile_order_would_be_seen():
    """Each phase lands on its own pixels: swapping two phases' filters moves the output far off."""
    torch.manual_seed(1)
    weight, x = torch.randn(512, 512, 3, 3) / 70, torch.randn(1, 512, 6, 6).bfloat16()
    kernels = phase_kernels(weight)
    with torch.inference_mode():
        swapped_filters = winograd_upsample.transformed_filters([kernels[1], kernels[0], *kernels[2:]])
        swapped = winograd_upsample.upsample_conv(x, swapped_filters, None)
    expected = _reference(x, weight, None)
    assert (swapped.double() - expected).abs().max().item() > 0.1 * expected.abs().max().item()


def _calls(monkeypatch) -> list[int]:
    ran: list[int] = []
    real = winograd_upsample.upsample_conv
    monkeypatch.setattr(winograd_upsample, "upsample_conv", lambda *args: ran.append(1) or real(*args))
    return ran


def test_the_unet_upsampler_takes_it_in_bf16_with_kept_weights_only(monkeypatch):
    torch.manual_seed(2)
    wide, narrow = Upsample(512), Upsample(256)
    x = torch.randn(1, 512, 8, 8).contiguous(memory_format=torch.channels_last)
    ran = _calls(monkeypatch)
    with torch.inference_mode():
        expected = _reference(x.bfloat16(), wide.conv.weight, wide.conv.bias)
        wide(x)  # float32
        with torch.autocast("cpu", dtype=torch.bfloat16):
            wide(x.bfloat16())  # weights not kept: building its filters would cost more than the call saves
            with frozen_weights(narrow, torch.bfloat16):
                narrow(torch.randn(1, 256, 8, 8).bfloat16())  # too narrow
        assert ran == []
        with frozen_weights(wide, torch.bfloat16), torch.autocast("cpu", dtype=torch.bfloat16):
            y = wide(x.bfloat16())
            wide(x.bfloat16())
    assert len(ran) == 2 and y.dtype == torch.bfloat16
    assert (y.double() - expected).abs().max().item() < 1.5e-2 * expected.abs().max().item()
    assert not any("_derived" in module.__dict__ for module in wide.modules())

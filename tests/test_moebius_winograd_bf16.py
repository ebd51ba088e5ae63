"""bfloat16 3x3 convolutions by Winograd F(2x2, 3x3): as precise as oneDNN's direct bfloat16 convolution.

Checked against a float64 reference on the VAE's wide layer shapes (smaller sides), sides that are not
whole tiles, batches, inputs with a large mean, no bias; and the VAE's bfloat16 path using it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as functional
from torch import nn

from inpaint_studio.engines.moebius import vae as vae_ops
from inpaint_studio.engines.moebius import winograd_bf16


def _errors(batch: int, cin: int, cout: int, side: int, mean: float, bias: bool) -> tuple[float, float]:
    """Largest error, relative to the largest output, of Winograd and of direct bfloat16 against float64."""
    generator = torch.Generator().manual_seed(cin + side)
    x = torch.randn(batch, cin, side, side + 3, generator=generator) + mean
    weight = torch.randn(cout, cin, 3, 3, generator=generator) / (3 * cin**0.5)
    b = torch.randn(cout, generator=generator) if bias else None
    rounded = x.bfloat16().contiguous(memory_format=torch.channels_last)
    # The reference sees the inputs both convolutions see: x rounded to bfloat16.
    expected = functional.conv2d(rounded.double(), weight.double(), None if b is None else b.double(), padding=1)
    with torch.inference_mode():
        got = winograd_bf16.conv3x3(rounded, winograd_bf16.transformed_filter(weight), b)
        direct = functional.conv2d(rounded, weight.bfloat16(), None if b is None else b.bfloat16(), padding=1)
    assert got.dtype == torch.bfloat16 and got.shape == expected.shape
    assert got.is_contiguous(memory_format=torch.channels_last)
    scale = expected.abs().max().item()
    return (got.double() - expected).abs().max().item() / scale, (direct.double() - expected).abs().max().item() / scale


@pytest.mark.parametrize(
    "batch, cin, cout, side, mean, bias",
    [(1, 256, 256, 32, 0.3, True), (2, 256, 512, 17, 0.0, False), (1, 512, 256, 24, 20.0, True)],
)
def test_winograd_bf16_is_about_as_precise_as_the_direct_bf16_convolution(batch, cin, cout, side, mean, bias):
    winograd_error, direct_error = _errors(batch, cin, cout, side, mean, bias)
    # bfloat16 keeps 8 bits: 2^-8 = 3.9e-3 of the largest output is one rounding of it.
    assert winograd_error < 1e-2
    assert winograd_error < 2.5 * direct_error + 1e-3


def test_only_wide_3x3_convolutions_under_bf16_take_it_and_are_restored(monkeypatch):
    wide, narrow, strided = nn.Conv2d(256, 256, 3, padding=1), nn.Conv2d(128, 256, 3, padding=1), nn.Conv2d(256, 256, 3, 2, 1)
    ran = []
    real = winograd_bf16.conv3x3
    monkeypatch.setattr(winograd_bf16, "conv3x3", lambda *args: ran.append(1) or real(*args))
    x = torch.randn(1, 256, 64, 64).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), winograd_bf16.winograd_bf16_convolutions(nn.Sequential(wide, narrow, strided)) as count:
        assert count == 1
        wide(x)  # float32: PyTorch's
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = wide(x.bfloat16())
            wide(torch.randn(1, 256, 8, 8).bfloat16().contiguous(memory_format=torch.channels_last))  # small: PyTorch's
    assert ran == [1] and y.dtype == torch.bfloat16
    assert "forward" not in vars(wide)


def test_the_bf16_vae_uses_it_and_stays_close_to_float32():
    """A whole encode at 256x256 in bfloat16: Winograd at the 256- and 512-channel levels."""
    torch.manual_seed(0)
    vae = vae_ops.build_vae(vae_ops.published_config())
    images = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(3)) * 2 - 1
    ran = []
    real = winograd_bf16.conv3x3
    winograd_bf16.conv3x3 = lambda *args: ran.append(1) or real(*args)
    try:
        with torch.inference_mode():
            mean16, std16 = vae_ops.encode_moments(vae, images, torch.bfloat16)
            mean, std = vae_ops.encode_moments(vae, images)
    finally:
        winograd_bf16.conv3x3 = real
    # At 128x128 the 256 -> 256 convs (3; the first reads 128 channels); at 64x64 the 256 -> 512 and 512 -> 512
    # ones (4); the 32x32 level and the mid block are below MIN_PIXELS.
    assert len(ran) == 7
    assert mean16.dtype == torch.float32
    assert (mean16 - mean).abs().max().item() < 0.05 * mean.abs().max().item()
    assert (std16 - std).abs().max().item() < 0.05 * std.abs().max().item()

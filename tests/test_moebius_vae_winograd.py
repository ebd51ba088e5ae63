"""The VAE's CPU path at full width: Winograd convolutions, channels-last, GroupNorms with precise statistics.

The small test VAE of moebius_fixtures is too narrow for Winograd (64 channels
and 128x128 pixels at least), so these build the published VAE's layout (SPEC
§9.3, random weights) and feed it the smallest images that make the Winograd
path run at full channel width. PyTorch's CPU GroupNorm computes a channels-last
input's variance in one pass and loses digits (norms.py); the path's norms must not.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as functional
from torch import nn

from inpaint_studio.engines.moebius import norms, winograd
from inpaint_studio.engines.moebius import vae as vae_ops


@pytest.fixture(scope="module")
def full_vae():
    torch.manual_seed(0)
    return vae_ops.build_vae(vae_ops.published_config())


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


# ---------------------------------------------------------------- the norm itself


@pytest.mark.parametrize("batch, channels, side, mean", [(1, 128, 67, 50.0), (2, 64, 33, 0.0), (1, 512, 9, 3.0)])
def test_precise_group_norm_matches_float64_whatever_the_mean(batch, channels, side, mean):
    generator = torch.Generator().manual_seed(channels)
    x = torch.randn(batch, channels, side, side, generator=generator) * 2 + mean
    x = _channels_last(x + torch.randn(1, channels, 1, 1, generator=generator))
    weight, bias = torch.rand(channels, generator=generator) + 0.5, torch.randn(channels, generator=generator)
    expected = functional.group_norm(x.double(), 32, weight.double(), bias.double(), 1e-6)
    with torch.inference_mode():
        got = norms.group_norm(x, 32, weight, bias, 1e-6)
        half = norms.group_norm(x.bfloat16(), 32, weight, bias, 1e-6)
    assert got.is_contiguous(memory_format=torch.channels_last) and got.dtype == torch.float32
    assert (got.double() - expected).abs().max().item() < 1e-5
    # bfloat16: only the rounding of the input and of the output (2^-8 of the largest values).
    expected_half = functional.group_norm(x.bfloat16().double(), 32, weight.double(), bias.double(), 1e-6)
    assert half.dtype == torch.bfloat16 and half.is_contiguous(memory_format=torch.channels_last)
    assert (half.double() - expected_half).abs().max().item() <= expected_half.abs().max().item() / 256


def test_only_channels_last_cpu_inputs_take_the_precise_norm_and_norms_are_restored():
    norm = nn.GroupNorm(8, 16)
    calls = []
    real = norms.group_norm
    with torch.inference_mode(), norms.precise_group_norms(nn.Sequential(norm)) as count:
        assert count == 1
        norms.group_norm = lambda *args: calls.append(1) or real(*args)
        try:
            norm(_channels_last(torch.randn(1, 16, 4, 4)))
            norm(torch.randn(1, 16, 4, 4))  # contiguous: PyTorch's own is precise
            norm(torch.randn(1, 16, 12))  # not an image (the VAE attention's norm)
        finally:
            norms.group_norm = real
    assert calls == [1]
    assert "forward" not in vars(norm)


# ---------------------------------------------------------------- the VAE's path at full width


def test_the_full_width_winograd_encoder_blocks_match_float64(full_vae):
    """conv_in and the first down block (128 channels at 128x128: Winograd and the norms on channels-last).

    Activations with a large mean, as trained weights give: conv_in's bias moved by +20.
    """
    encoder = full_vae.encoder
    layers = nn.Sequential(encoder.conv_in, encoder.down_blocks[0]).eval()
    images = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        encoder.conv_in.bias += 20.0
    try:
        with torch.inference_mode():
            expected = _float64(layers)(images.double())
            with winograd.winograd_convolutions(layers) as replaced, norms.precise_group_norms(layers):
                assert replaced == 4  # the two resnets' 3x3 convs
                got = layers(_channels_last(images))
            plain = layers(images)  # PyTorch's contiguous float32 path
    finally:
        with torch.no_grad():
            encoder.conv_in.bias -= 20.0
    scale = expected.abs().max().item()
    assert (got.double() - expected).abs().max().item() < 2e-5 * scale
    assert (plain.double() - expected).abs().max().item() < 2e-5 * scale


def _float64(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module).double()


def test_the_posterior_is_within_1e4_of_the_contiguous_float32_path(full_vae, monkeypatch):
    """A whole encode at 256x256: Winograd at the first two levels, precise norms at all four."""
    images = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(3)) * 2 - 1
    ran = []
    real_conv = winograd.conv3x3
    monkeypatch.setattr(winograd, "conv3x3", lambda *args, **kwargs: ran.append(1) or real_conv(*args, **kwargs))
    with torch.inference_mode():
        mean, std = vae_ops.encode_moments(full_vae, images)
        assert len(ran) == 8  # the first two levels' 3x3 convs; conv_in (3 channels) and the 64x64, 32x32 levels: PyTorch's
        monkeypatch.setattr(vae_ops, "winograd_convolutions", lambda vae: contextlib.nullcontext(0))
        plain = full_vae.encode(images).latent_dist
    assert (mean - plain.mean).abs().max().item() < 1e-4
    assert (std - plain.std).abs().max().item() < 1e-4

"""Winograd F(4x4, 3x3) convolutions for the Moebius VAE on the CPU: same results as conv2d, to rounding."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as functional
from torch import nn

from inpaint_studio.engines.moebius import vae as vae_ops
from inpaint_studio.engines.moebius import winograd

TOLERANCE = 1e-4  # the Moebius speed work's bound on result changes


def reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return functional.conv2d(x.double(), weight.double(), None if bias is None else bias.double(), padding=1)


@pytest.mark.parametrize(
    "batch, in_channels, out_channels, height, width, with_bias",
    [
        (1, 64, 64, 32, 32, True),
        (2, 96, 64, 20, 28, False),  # a batch, C_in != C_out, no bias
        (1, 64, 80, 19, 13, True),  # sides that are not whole 4x4 tiles
        (1, 64, 64, 1, 1, True),  # a single pixel: all padding
    ],
)
def test_matches_conv2d(batch, in_channels, out_channels, height, width, with_bias):
    generator = torch.Generator().manual_seed(height * width)
    x = torch.randn(batch, in_channels, height, width, generator=generator)
    # Unit-variance outputs, as a trained network's layers give.
    weight = torch.randn(out_channels, in_channels, 3, 3, generator=generator) / (9 * in_channels) ** 0.5
    bias = torch.randn(out_channels, generator=generator) if with_bias else None

    out = winograd.conv3x3(x, winograd.transformed_filter(weight), bias)

    assert out.shape == (batch, out_channels, height, width)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert (out.double() - reference(x, weight, bias)).abs().max().item() < TOLERANCE


def test_results_do_not_depend_on_the_band_size():
    """Bands of tile rows (and threads within a band) change the schedule, never a value."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1, 64, 40, 24, generator=generator).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(64, 64, 3, 3, generator=generator) / 24
    filters = winograd.transformed_filter(weight)
    whole = winograd.conv3x3(x, filters, None, band_tiles=10_000)
    for band_tiles in (1, 24):  # one tile row per band; four rows per band with a short last band
        assert torch.equal(winograd.conv3x3(x, filters, None, band_tiles=band_tiles), whole)


def make_network() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1),  # too few input channels: stays as it is
        nn.Conv2d(64, 64, 3, padding=1),  # replaced
        nn.Conv2d(64, 64, 3, stride=2, padding=1),  # strided: stays
        nn.Conv2d(64, 64, 1),  # 1x1: stays
    ).eval()


def test_only_suitable_convolutions_are_replaced_and_restored_afterwards():
    network = make_network()
    x = torch.randn(1, 3, 128, 128)
    with torch.inference_mode():
        expected = network(x)
        with winograd.winograd_convolutions(network) as count:
            assert count == 1
            assert isinstance(network[1].forward, winograd._WinogradForward)
            fast = network(x)
        assert "forward" not in vars(network[1])  # the class's own forward again
    assert (fast - expected).abs().max().item() < TOLERANCE


def test_small_images_and_gradients_use_pytorch_s_convolution(monkeypatch):
    calls = []
    monkeypatch.setattr(winograd, "conv3x3", lambda *args, **kwargs: calls.append(args) or None)
    network = make_network()
    with winograd.winograd_convolutions(network):
        with torch.inference_mode():
            network(torch.randn(1, 3, 64, 64))  # below MIN_PIXELS
        network(torch.randn(1, 3, 128, 128))  # gradients enabled: PyTorch's own, so autograd works
    assert calls == []


def test_a_vae_decodes_and_encodes_as_without_winograd(monkeypatch):
    config = {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D"] * 2,
        "up_block_types": ["UpDecoderBlock2D"] * 2,
        "block_out_channels": [64, 64],
        "layers_per_block": 1,
        "latent_channels": 4,
        "norm_num_groups": 32,
        "sample_size": 256,
    }
    torch.manual_seed(0)
    vae = vae_ops.build_vae(config)
    images = torch.rand(2, 3, 256, 256) * 2 - 1
    latents = torch.randn(1, 4, 128, 128)
    replaced = []
    original_conv = winograd.conv3x3
    monkeypatch.setattr(winograd, "conv3x3", lambda *args, **kwargs: replaced.append(1) or original_conv(*args, **kwargs))
    with torch.inference_mode():
        fast_mean, fast_std = vae_ops.encode_moments(vae, images)
        fast_images = vae_ops.decode(vae, latents)
        assert replaced, "the VAE's 3x3 convolutions should have run by Winograd"
        monkeypatch.setattr(vae_ops, "winograd_convolutions", lambda vae: contextlib.nullcontext(0))
        mean, std = vae_ops.encode_moments(vae, images)
        plain_images = vae_ops.decode(vae, latents)
    assert (fast_mean - mean).abs().max().item() < TOLERANCE
    assert (fast_std - std).abs().max().item() < TOLERANCE
    assert (fast_images - plain_images).abs().max().item() < TOLERANCE
    assert fast_images.is_contiguous()

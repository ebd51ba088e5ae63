"""The Moebius DDIM + classifier-free-guidance loop against the reference pipeline's golden runs.

The fixtures (../shared/moebius/tiny_sampling.safetensors) hold two 4-step
runs of the reference's denoising loop on the tiny model, VAE left out: every
intermediate latent must be reproduced, which pins the schedule, the strength
start point, the noise offset, the id halves and the guidance formula.
"""

from __future__ import annotations

import json

import pytest
import torch
from conftest import SHARED
from moebius_configs import SMALL_CONFIG
from safetensors.torch import load_file

from inpaint_studio.engines.moebius.blocks import frozen_weights
from inpaint_studio.engines.moebius.inputs import MoebiusInputError
from inpaint_studio.engines.moebius.network import build_model
from inpaint_studio.engines.moebius.sampler import (
    alphas_cumprod,
    denoise,
    guidance_ids,
    timesteps_for,
)

FIXTURES = SHARED / "moebius"
LATENT_ATOL = 1e-4
RUNS = ["s4_strength1", "s4_strength099"]


@pytest.fixture(scope="module")
def tiny():
    if not (FIXTURES / "tiny_config.json").is_file():
        pytest.skip("../shared/moebius is not available")
    model = build_model(json.loads((FIXTURES / "tiny_config.json").read_text()))
    model.load_state_dict(load_file(FIXTURES / "tiny_state_dict.safetensors"), strict=True)
    runs = load_file(FIXTURES / "tiny_sampling.safetensors")
    return model, runs


def _run(runs: dict, prefix: str) -> dict[str, torch.Tensor]:
    return {key.split(".", 1)[1]: value for key, value in runs.items() if key.startswith(prefix + ".")}


def test_schedule_matches_the_reference_values():
    alphas = alphas_cumprod()
    reference = {0: 0.99915, 250: 0.673792, 500: 0.276332, 750: 0.0561698, 900: 0.0141511, 999: 0.00466010}
    for t, value in reference.items():
        assert alphas[t].item() == pytest.approx(value, rel=2e-5)


def test_timesteps_for_strength():
    assert timesteps_for(20, 0.99) == list(range(900, -1, -50))  # 19 UNet evaluations, start 900
    assert timesteps_for(4, 0.99) == [500, 250, 0]
    assert timesteps_for(4, 1.0) == [750, 500, 250, 0]
    with pytest.raises(MoebiusInputError):
        timesteps_for(4, 0.1)  # int(0.4) = 0 steps left
    with pytest.raises(MoebiusInputError):
        timesteps_for(0, 1.0)


def test_guidance_ids_put_the_unconditional_prompt_first():
    ids = guidance_ids(2)
    assert ids.tolist() == [list(range(10, 20))] * 2 + [list(range(10))] * 2


@pytest.mark.shared
@pytest.mark.parametrize("prefix", RUNS)
def test_trajectory_matches_reference(tiny, prefix):
    model, runs = tiny
    run = _run(runs, prefix)
    num_steps, strength, noise_offset, guidance = run["params"].tolist()
    steps = []
    final = denoise(
        model,
        clean_latents=run["clean_latents"],
        masked_latents=run["masked_latents"],
        latent_mask=run["latent_mask"],
        noise=run["noise"],
        offset_noise=run["offset_noise"],
        num_steps=int(num_steps),
        strength=strength,
        guidance=guidance,
        noise_offset=noise_offset,
        callback=lambda index, t, latents: steps.append((index, t, latents.clone())),
    )
    assert [(index, t) for index, t, _ in steps] == list(enumerate(run["timesteps"].tolist()))
    diffs = [(latents - run["trajectory"][index]).abs().max().item() for index, _, latents in steps]
    assert max(diffs) < LATENT_ATOL, diffs
    assert (final - run["final_latents"]).abs().max().item() < LATENT_ATOL


@pytest.mark.shared
@pytest.mark.parametrize("prefix", RUNS)
def test_bfloat16_sampling_stays_near_the_reference(tiny, prefix):
    """The network under CPU bfloat16 autocast, the sampler in float32: final latents within 1 % of their spread.

    Measured: max 0.135 and mean 0.017 (spread 4.3) at strength 1, max 0.045 and mean 0.007 (spread 1.9) at 0.99
    (0.098 and 0.015 at strength 1 while conv_in's float32 output kept the first level's residuals in float32).
    """
    model, runs = tiny
    run = _run(runs, prefix)
    num_steps, strength, noise_offset, guidance = run["params"].tolist()
    inputs = {name: run[name] for name in ("clean_latents", "masked_latents", "latent_mask", "noise", "offset_noise")}
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16), frozen_weights(model, torch.bfloat16):
        final = denoise(
            model, **inputs, num_steps=int(num_steps), strength=strength, guidance=guidance, noise_offset=noise_offset
        )
    assert final.dtype == torch.float32
    difference = (final - run["final_latents"]).abs()
    spread = run["final_latents"].std().item()
    assert difference.mean().item() < 0.01 * spread and difference.max().item() < 0.05 * spread


@pytest.mark.shared
@pytest.mark.parametrize("prefix", RUNS)
def test_latent_mask_is_the_top_left_pixel_of_each_cell(tiny, prefix):
    run = _run(tiny[1], prefix)
    pixel_mask = run["pixel_mask_u8"].float()
    assert torch.equal(pixel_mask[:, :, ::8, ::8], run["latent_mask"])
    nearest = torch.nn.functional.interpolate(pixel_mask, scale_factor=1 / 8, mode="nearest")
    assert torch.equal(nearest, run["latent_mask"])


def _inputs(batch: int = 1, side: int = 8) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "clean_latents": torch.randn(batch, 4, side, side, generator=generator),
        "masked_latents": torch.randn(batch, 4, side, side, generator=generator),
        "latent_mask": (torch.rand(batch, 1, side, side, generator=generator) > 0.5).float(),
        "noise": torch.randn(batch, 4, side, side, generator=generator),
        "offset_noise": torch.randn(batch, 4, 1, 1, generator=generator),
    }


def test_callback_can_cancel_the_loop():
    model = build_model(SMALL_CONFIG)

    class Stop(Exception):
        pass

    def stop_after_two(index, t, latents):
        if index == 1:
            raise Stop

    with pytest.raises(Stop):
        denoise(model, **_inputs(), num_steps=5, callback=stop_after_two)


def test_wrong_inputs_are_refused():
    model = build_model(SMALL_CONFIG)
    inputs = _inputs()
    with pytest.raises(MoebiusInputError, match="latent_mask of shape"):
        denoise(model, **{**inputs, "latent_mask": inputs["latent_mask"][:, :, :4]}, num_steps=2)
    with pytest.raises(MoebiusInputError, match="offset_noise"):
        denoise(model, **{**inputs, "offset_noise": inputs["noise"]}, num_steps=2)
    with pytest.raises(MoebiusInputError, match="clean_latents"):
        denoise(model, **{**inputs, "clean_latents": None}, num_steps=2, strength=0.5)
    with pytest.raises(MoebiusInputError, match=r"\[batch, 4, 8, 8\]"):
        denoise(model, **{key: value[..., :6, :6] for key, value in inputs.items()}, num_steps=2)


def test_full_strength_needs_no_clean_latents():
    model = build_model(SMALL_CONFIG)
    inputs = _inputs(batch=2)
    result = denoise(model, **{**inputs, "clean_latents": None}, num_steps=2, strength=1.0)
    assert result.shape == (2, 4, 8, 8) and torch.isfinite(result).all()

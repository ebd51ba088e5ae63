"""DDIM sampling with classifier-free guidance, as the reference inpainting pipeline runs it (SPEC §9.5-9.6).

The schedule is diffusers' DDIMScheduler with the reference's settings
(scaled-linear betas 0.00085..0.012, 1000 training steps, "leading" spacing,
eta 0, epsilon prediction, final alpha 1), written out here because only these
few formulas are used. All arithmetic stays in float32 in the same order as
the reference, so trajectories agree to float32 rounding; under autocast the
network runs in half precision, but its answers are combined (guidance) and
stepped in float32.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import cast

import torch
from torch import nn

from inpaint_studio.engines.moebius import side_by_side
from inpaint_studio.engines.moebius.blocks import frozen_weights
from inpaint_studio.engines.moebius.inputs import MoebiusInputError, check_tensor

TRAIN_STEPS = 1000
BETA_START = 0.00085
BETA_END = 0.012
LATENT_CHANNELS = 4

StepCallback = Callable[[int, int, torch.Tensor], None]
# MoebiusModel.guided_noise: (latents, timestep, uncond_ids, cond_ids) -> (unconditional, conditional) noise.
_GuidedNoise = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def alphas_cumprod() -> torch.Tensor:
    """ᾱ_t for t = 0..999 (float32 cumulative product of 1 - β)."""
    betas = torch.linspace(BETA_START**0.5, BETA_END**0.5, TRAIN_STEPS, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def timesteps_for(num_steps: int, strength: float) -> list[int]:
    """The timesteps the loop runs: the "leading" grid of `num_steps`, minus the first ones strength skips."""
    try:
        num_steps = operator.index(num_steps)
    except TypeError:
        num_steps = 0
    if not 1 <= num_steps <= TRAIN_STEPS:
        raise MoebiusInputError(f"The number of Moebius steps must be a whole number from 1 to {TRAIN_STEPS}.")
    if not 0.0 < strength <= 1.0:
        raise MoebiusInputError("Moebius strength must be above 0 and at most 1.")
    ratio = TRAIN_STEPS // num_steps
    grid = [step * ratio for step in reversed(range(num_steps))]
    run = min(int(num_steps * strength), num_steps)
    skip = max(num_steps - run, 0)
    if skip >= num_steps:
        raise MoebiusInputError(f"Moebius strength {strength} leaves no step to run with {num_steps} steps.")
    return grid[skip:]


def guidance_ids(batch: int, tokens: int = 10) -> torch.Tensor:
    """Token ids [2 * batch, tokens]: unconditional prompt (rows 10..19) first, then conditional (0..9)."""
    uncond = torch.arange(tokens, 2 * tokens).expand(batch, tokens)
    cond = torch.arange(tokens).expand(batch, tokens)
    return torch.cat([uncond, cond])


def guided_prediction(
    model: nn.Module, model_input: torch.Tensor, timestep: torch.Tensor, ids: torch.Tensor, guidance: float
) -> torch.Tensor:
    """ê = e_u + g · (e_c − e_u) for latents [B, 9, S, S] and guidance_ids(B) (SPEC §9.6), in float32.

    At g = 1 that is e_c, so only the conditional half is run (half the work). On a
    CPU the two halves run side by side (side_by_side.py). Under autocast the network
    may answer in half precision; the combination is float32.
    """
    uncond_ids, cond_ids = ids.chunk(2)
    if guidance == 1.0:
        eps: torch.Tensor = model(model_input, timestep, cond_ids)
        return eps.float()
    if side_by_side.available(model_input):
        eps_uncond, eps_cond = side_by_side.guided_halves(model, model_input, timestep, uncond_ids, cond_ids)
    elif hasattr(model, "guided_noise"):  # shares the condition-free first layers between the halves
        guided_noise = cast(_GuidedNoise, model.guided_noise)
        eps_uncond, eps_cond = guided_noise(model_input, timestep, uncond_ids, cond_ids)
    else:
        eps_uncond, eps_cond = model(model_input.repeat(2, 1, 1, 1), timestep, ids).chunk(2)
    eps_uncond, eps_cond = eps_uncond.float(), eps_cond.float()
    return eps_uncond + guidance * (eps_cond - eps_uncond)


def ddim_step(eps: torch.Tensor, t: int, t_prev: int, latents: torch.Tensor, schedule: torch.Tensor) -> torch.Tensor:
    """One deterministic (eta = 0) DDIM update from t to t_prev; ᾱ is 1 before step 0."""
    alpha_t = schedule[t]
    alpha_prev = schedule[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    predicted_x0 = (latents - (1 - alpha_t) ** 0.5 * eps) / alpha_t**0.5
    return alpha_prev**0.5 * predicted_x0 + (1 - alpha_prev) ** 0.5 * eps


def _check_inputs(
    side: int,
    clean_latents: torch.Tensor | None,
    masked_latents: torch.Tensor,
    latent_mask: torch.Tensor,
    noise: torch.Tensor,
    offset_noise: torch.Tensor | None,
    needs_clean: bool,
) -> None:
    masked_latents = check_tensor("masked_latents", masked_latents, (None, LATENT_CHANNELS, side, side))
    batch = masked_latents.shape[0]
    check_tensor("latent_mask", latent_mask, (batch, 1, side, side))
    check_tensor("noise", noise, (batch, LATENT_CHANNELS, side, side))
    if offset_noise is not None:
        check_tensor("offset_noise", offset_noise, (batch, LATENT_CHANNELS, 1, 1))
    if needs_clean or clean_latents is not None:
        if clean_latents is None:
            raise MoebiusInputError("Moebius needs clean_latents when strength is below 1.")
        check_tensor("clean_latents", clean_latents, (batch, LATENT_CHANNELS, side, side))


def denoise(
    model: nn.Module,
    *,
    clean_latents: torch.Tensor | None,
    masked_latents: torch.Tensor,
    latent_mask: torch.Tensor,
    noise: torch.Tensor,
    offset_noise: torch.Tensor | None,
    num_steps: int = 20,
    strength: float = 0.99,
    guidance: float = 2.5,
    noise_offset: float = 0.0357,
    callback: StepCallback | None = None,
) -> torch.Tensor:
    """Run the guided DDIM loop and return the final (still scaled) latents [B, 4, S, S].

    Latents are VAE latents already multiplied by the scaling factor; the mask
    is at latent resolution with 1 = hole. `callback(step_index, timestep,
    latents)` is called after every step (a place to report progress or cancel
    by raising). The model is put in eval mode: BatchNorm must use its running
    statistics. At guidance 1 only the conditional half runs (ê = e_c), half the work.
    """
    side = getattr(getattr(model, "config", None), "sample_size", None)
    if side is None:
        side = masked_latents.shape[-1] if isinstance(masked_latents, torch.Tensor) else 0
    timesteps = timesteps_for(num_steps, strength)
    num_steps = operator.index(num_steps)
    _check_inputs(side, clean_latents, masked_latents, latent_mask, noise, offset_noise, strength < 1.0)
    model.eval()
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    schedule = alphas_cumprod()
    ratio = TRAIN_STEPS // num_steps
    batch = masked_latents.shape[0]

    noise = noise.to(device, dtype)
    if offset_noise is not None and noise_offset:
        noise = noise + noise_offset * offset_noise.to(device, dtype)
    if strength < 1.0:
        assert clean_latents is not None  # _check_inputs requires them below strength 1
        alpha = schedule[timesteps[0]]
        latents = alpha**0.5 * clean_latents.to(device, dtype) + (1 - alpha) ** 0.5 * noise
    else:
        latents = noise
    # Mask and masked-image latents are the same at every step: build that part of the input once.
    condition = torch.cat([latent_mask.to(device, dtype), masked_latents.to(device, dtype)], dim=1)
    ids = guidance_ids(batch, getattr(getattr(model, "config", None), "context_tokens", 10)).to(device)

    # The weights do not change during the loop: derived ones (folded BatchNorms, ...) are built once.
    with torch.no_grad(), frozen_weights(model):
        for index, t in enumerate(timesteps):
            model_input = torch.cat([latents, condition], dim=1)
            timestep = torch.tensor([t], dtype=torch.int64, device=device)
            eps = guided_prediction(model, model_input, timestep, ids, guidance)
            latents = ddim_step(eps, t, t - ratio, latents, schedule.to(device))
            if callback is not None:
                callback(index, t, latents)
    return latents

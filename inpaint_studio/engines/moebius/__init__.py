"""Moebius: the lightweight latent-diffusion inpainting network (arXiv 2606.19195) and its DDIM sampler.

`build_model(config)` builds the checkpoint's wrapper (condition embedding +
UNet of lambda layers, depthwise-separable resnets and Mix-FFN transformer
blocks) and `denoise(...)` runs the guided DDIM loop on VAE latents. The
specification is ../shared/moebius/SPEC.md. This package imports torch, so the
engine registry must only import it when a Moebius engine is created.
"""

from inpaint_studio.engines.moebius.config import MoebiusConfig, official_config
from inpaint_studio.engines.moebius.inputs import MoebiusConfigError, MoebiusInputError
from inpaint_studio.engines.moebius.network import MoebiusModel, build_model
from inpaint_studio.engines.moebius.sampler import denoise, timesteps_for

__all__ = [
    "MoebiusConfig",
    "MoebiusConfigError",
    "MoebiusInputError",
    "MoebiusModel",
    "build_model",
    "denoise",
    "official_config",
    "timesteps_for",
]

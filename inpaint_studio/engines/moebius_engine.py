"""The Moebius engine: latent-diffusion inpainting of a 512x512 window around each mask region.

The shared pipeline hands the engine a square crop with context, scaled to
512x512; `inpaint_studio.engines.moebius.runtime` fills it as the reference
pipeline does (SPEC §9), and the pipeline pastes the result into the
full-resolution photo with the reference's blurred-mask weights (§9.8), so
pixels where the weight is 0 stay exact.

Two presets (figures in benchmarks/README.md):
* "exact" runs the reference's defaults: a 20-step grid (19 guided UNet
  evaluations), both VAE encodes, a full decode.
* "fast" trades accuracy for time: a 4-step grid started from pure noise (the
  reference pipeline's strength-1 branch; with strength 0.99 a short grid
  would start at t = 500 and keep half of the photo's latents, object
  included), hence one VAE encode instead of two, and a decode of the latent
  window around the mask only.

Both paste the decoded pixels as the pipeline pastes every fill, rounding each
blended value to the nearest level; the reference truncates, so a pasted pixel
can be one level above the reference's (+0/+1), never below.

Precision (`precision`): auto runs the UNet and the VAE in bfloat16 on CPUs
that compute it natively (runtime.resolve_precision), keeping in float32 the
norm statistics, the layers at the image and latent ends, the sampler's
arithmetic and the paste; float32 elsewhere; CUDA runs the UNet under autocast.

This module stays free of torch so that listing engines is instant; the
runtime (torch, diffusers) is imported when the first fill runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageFilter

from inpaint_studio.core.devices import Device
from inpaint_studio.core.errors import EngineError, EngineNotReadyError
from inpaint_studio.engines.base import (
    Engine,
    EngineContext,
    EngineInfo,
    EngineKind,
    Param,
)
from inpaint_studio.engines.moebius.presets import PRECISIONS, PRESETS, SIZE
from inpaint_studio.models.store import ModelFiles

if TYPE_CHECKING:
    from inpaint_studio.engines.moebius.runtime import MoebiusRuntime

PASTE_BLUR_RADIUS = 3
VARIANTS = ("pretrained", "places2", "celebahq", "ffhq")
VAE_MODEL = "moebius-vae"


def unet_model_id(variant: str) -> str:
    return f"moebius-{variant}"


class MoebiusEngine(Engine):
    info = EngineInfo(
        id="moebius",
        name="Moebius",
        description=(
            "Latent-diffusion inpainting (0.2B parameters) for large objects and complex scenes. "
            "Best quality; 40-75 s per fill on a 2-core CPU (10-20 s with the fast preset), about a second on a GPU."
        ),
        kind=EngineKind.LEARNED,
        devices=(Device.CPU, Device.CUDA, Device.MPS),
        working_size=SIZE,
        fixed_size=True,
        square_crop=True,
        # The model was trained on whole 512 images with holes: give it plenty of scene.
        context_margin=64,
        context_ratio=0.5,
        interactive=False,
        params=(
            Param(
                "preset",
                "Preset",
                "exact",
                choices=tuple(PRESETS),
                help="exact: the reference's settings; fast: fewer steps and shortcuts, about 4x quicker.",
            ),
            Param(
                "steps", "Steps", 0, minimum=0, maximum=200, help="Denoising steps; 0 uses the preset's.", minimum_label="Auto"
            ),
            Param(
                "guidance",
                "Guidance",
                2.5,
                minimum=1.0,
                maximum=10.0,
                help="How strongly the fill follows the inpainting condition; 1 halves the work per step.",
            ),
            Param("seed", "Seed", 0, minimum=0, maximum=2**31 - 1, help="Random seed; the same seed gives the same fill."),
            Param(
                "precision",
                "Precision",
                "auto",
                choices=PRECISIONS,
                help=(
                    "auto: bfloat16 on processors that compute it natively (AVX512-BF16, AMX), about twice as fast "
                    "and a few levels apart; float32 elsewhere; a GPU runs under its own autocast."
                ),
            ),
            Param(
                "variant",
                "Model",
                "pretrained",
                choices=VARIANTS,
                help="pretrained suits most photos; places2 is tuned on scenes, celebahq and ffhq on faces.",
            ),
        ),
        models=(unet_model_id("pretrained"), VAE_MODEL),
    )

    def __init__(self, device: str = Device.CPU, model_store: ModelFiles | None = None) -> None:
        super().__init__(device, model_store)
        self._runtime: MoebiusRuntime | None = None  # created on the first fill

    @classmethod
    def required_models(cls, params: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        return (unet_model_id(cls.resolve_params(params)["variant"]), VAE_MODEL)

    def paste_alpha(self, work_mask: np.ndarray) -> np.ndarray:
        """SPEC §9.8: the binarised mask blurred by Pillow's GaussianBlur(3), as uint8 weights."""
        binary = Image.fromarray(np.where(work_mask > 127, np.uint8(255), np.uint8(0)))
        return np.asarray(binary.filter(ImageFilter.GaussianBlur(PASTE_BLUR_RADIUS)))

    def inpaint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        params: Mapping[str, Any],
        context: EngineContext,
    ) -> np.ndarray:
        if image.shape[:2] != (SIZE, SIZE):
            raise EngineError(f"Moebius works on {SIZE}x{SIZE} crops, got {image.shape[1]}x{image.shape[0]}.")
        context.raise_if_cancelled()
        context.progress(0.0)
        if self.model_store is None:
            raise EngineNotReadyError(f"{self.info.name} has no model store to load its models from.")
        # Raises a user-facing EngineNotReadyError naming what to download.
        unet_path = self.model_store.require(unet_model_id(params["variant"]))
        vae_folder = self.model_store.require(VAE_MODEL).parent
        if self._runtime is None:
            from inpaint_studio.engines.moebius.runtime import MoebiusRuntime

            self._runtime = MoebiusRuntime(self.device)
        self._runtime.load(unet_path, vae_folder, context)
        context.raise_if_cancelled()
        return self._runtime.fill(image, mask, params, context)

    def unload(self) -> None:
        if self._runtime is not None:
            self._runtime.unload()
            self._runtime = None

"""The Moebius models at work: load the UNet and the VAE, and fill one 512x512 crop (SPEC §9).

Per crop: encode the photo and the photo with a mid-grey hole with the VAE,
sample the Moebius UNet with classifier-free-guided DDIM, decode, and return
the decoded image (the engine pastes it with the §9.8 blurred-mask weights).
This module imports torch and diffusers; `inpaint_studio.engines.moebius_engine`
imports it only when a fill runs, so listing engines stays fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inpaint_studio.core.errors import EngineError, ModelError
from inpaint_studio.core.heap import reusing_freed_memory
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.engines.base import EngineContext
from inpaint_studio.engines.devices import cpu_computes_bfloat16, free_device_memory, try_on_gpu
from inpaint_studio.engines.moebius import vae as vae_ops
from inpaint_studio.engines.moebius.blocks import frozen_weights
from inpaint_studio.engines.moebius.config import official_config
from inpaint_studio.engines.moebius.encode_cache import EncodeCache
from inpaint_studio.engines.moebius.network import MoebiusModel, build_model
from inpaint_studio.engines.moebius.presets import NOISE_OFFSET, PRESETS, SIZE
from inpaint_studio.engines.moebius.sampler import denoise, timesteps_for
from inpaint_studio.models.safe_load import load_state_dict, state_dict_mismatch

OOM_NOTICE = "Out of GPU memory; finished on the CPU."
# How long a fill's freed memory stays ready for the next fill before it is handed back: a fill
# into fresh pages took ~0.3 s longer (fast preset, bfloat16; benchmarks/README.md).
KEEP_MEMORY_SECONDS = 60.0
EMULATED_BF16_NOTICE = "This processor has no native bfloat16: Moebius ran slower than it would in float32."
MPS_BF16_NOTICE = "Moebius runs in float32 on MPS; bfloat16 is used on CPUs that have it and on CUDA."
# What a resolved precision runs in: the dtype of autocast (None: float32 throughout).
_DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


def unet_config() -> dict[str, Any]:
    """The network configuration the published checkpoints need (tests build smaller ones)."""
    return official_config()


class MoebiusRuntime:
    """The loaded UNet (one variant at a time) and VAE on one device."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.unet: MoebiusModel | None = None
        self.unet_path: Path | None = None
        self.vae: vae_ops.Autoencoder | None = None
        # Where the models sit: `device`, or "cpu" after running out of GPU memory.
        self.model_device = "cpu"
        # What the last fill ran in ("float32", "bfloat16" or "float16"), for benchmarks and tests.
        self.precision: str | None = None
        self.encoded = EncodeCache()  # Try Again and other fills of the same crop skip the VAE encode
        # The UNet's derived weights kept from one CPU fill to the next (see _derived_weights), and for what.
        self._kept_derived = contextlib.ExitStack()
        self._kept_for: tuple[MoebiusModel, torch.dtype] | None = None

    def load(self, unet_path: Path, vae_folder: Path, context: EngineContext) -> None:
        """Load the VAE (once) and the UNet at `unet_path` (again only when the path changes)."""
        if self.unet is not None and self.unet_path == unet_path:
            return
        self._drop_derived_weights()
        self.unet = None  # free the previous variant before reading the next
        free_device_memory(self.model_device)
        if self.vae is None:
            self.vae = vae_ops.load_vae(vae_folder)
            self.encoded.clear()
        self.unet, self.unet_path = _load_unet(unet_path), unet_path
        self._place("cpu")
        try_on_gpu(self.device, lambda: self._place(self.device), lambda: self._fall_back_to_cpu(context))

    def unload(self) -> None:
        device = self.model_device
        self._drop_derived_weights()
        self.unet = self.vae = self.unet_path = None
        self.encoded.clear()
        free_device_memory(device)

    def _place(self, device: str) -> None:
        # The weights stay float32 everywhere; in half precision the UNet (and on the CPU the
        # VAE) runs under autocast, and the sampler's arithmetic stays in float32.
        assert self.unet is not None and self.vae is not None
        self._drop_derived_weights()  # they were made on the other device
        self.unet.to(device=device)
        self.vae.to(device=device)
        self.model_device = device

    def _fall_back_to_cpu(self, context: EngineContext) -> None:
        self._place("cpu")
        free_device_memory(self.device)
        context.tell(OOM_NOTICE)

    def fill(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        params: Mapping[str, Any],
        context: EngineContext,
    ) -> np.ndarray:
        """The decoded 512x512 RGB fill for one crop (outside the decoded window: `image`)."""
        assert self.unet is not None and self.vae is not None
        # Each step allocates the same large activations again: keep freed memory for them, and for
        # the next fill if it comes soon (core/heap.py).
        with (
            torch.inference_mode(),
            _cancellable_inside(context.cancel, self.unet, self.vae),
            reusing_freed_memory(linger=KEEP_MEMORY_SECONDS),
        ):
            def attempt() -> np.ndarray:
                return self._fill(image, mask, params, context)

            result = try_on_gpu(self.model_device, attempt, lambda: self._fall_back_to_cpu(context))
            if result is None:
                result = attempt()
            context.ran_on(self.model_device)
            return result

    def _fill(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        params: Mapping[str, Any],
        context: EngineContext,
    ) -> np.ndarray:
        assert self.unet is not None and self.vae is not None
        unet, vae, device = self.unet, self.vae, self.model_device
        progress, cancel, preview = context.progress, context.cancel, context.preview
        preset = PRESETS[params["preset"]]
        requested = params.get("precision", "auto")
        precision = self.precision = resolve_precision(requested, device)
        context.ran_in(precision)
        if requested == "bfloat16" and device == "cpu" and not cpu_computes_bfloat16():
            context.tell(EMULATED_BF16_NOTICE)
        elif requested == "bfloat16" and precision != "bfloat16":
            context.tell(MPS_BF16_NOTICE)
        unet_dtype = _DTYPES[precision]
        # The VAE follows on the CPU; on a GPU it stays in float32 (a small part of the time there).
        vae_dtype = torch.bfloat16 if precision == "bfloat16" and device == "cpu" else torch.float32
        num_steps = params["steps"] or preset.steps
        timesteps = timesteps_for(num_steps, preset.strength)
        # Work units for progress: encodes and decode weigh about as much as a few steps.
        units = len(timesteps) + 4

        photo = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()[None] / 127.5 - 1.0
        hole = torch.from_numpy((mask > 127).astype(np.float32))[None, None]
        masked = photo * (1.0 - hole)

        # Every random draw from one seeded CPU generator in the reference's order
        # (SPEC §9.9), so a seed gives the same noise on every device.
        latent_shape = (1, 4, SIZE // vae_ops.DOWNSCALE, SIZE // vae_ops.DOWNSCALE)
        generator = torch.Generator("cpu").manual_seed(int(params["seed"]))
        photo_eps = torch.randn(latent_shape, generator=generator)
        masked_eps = torch.randn(latent_shape, generator=generator)
        noise = torch.randn(latent_shape, generator=generator)
        offset_noise = torch.randn(latent_shape[:2] + (1, 1), generator=generator)

        def on_device(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.to(device=device, dtype=torch.float32)

        encode_photo = preset.strength < 1.0
        images = torch.cat([photo, masked]) if encode_photo else masked
        mean, std = self.encoded.moments(
            images, (device, vae_dtype), lambda image: vae_ops.encode_moments(vae, on_device(image), vae_dtype)
        )
        cancel.raise_if_cancelled()
        progress(2 / units)
        eps = torch.cat([photo_eps, masked_eps]) if encode_photo else masked_eps
        latents = vae_ops.to_latents(vae, mean + std * on_device(eps))
        masked_latents = latents[-1:]
        clean_latents = latents[:1]  # unused at strength 1
        latent_mask = hole[:, :, :: vae_ops.DOWNSCALE, :: vae_ops.DOWNSCALE]  # PyTorch "nearest" (SPEC §9.4)
        renderer = _LatentPreview(masked_latents, masked) if preview is not None else None

        def after_step(index: int, timestep: int, current: torch.Tensor) -> None:
            cancel.raise_if_cancelled()
            progress((3 + index) / units)
            if preview is not None and renderer is not None:
                preview(renderer.render(current))

        with _autocast(device, unet_dtype), self._derived_weights(unet, device, unet_dtype):
            final = denoise(
                unet,
                clean_latents=clean_latents,
                masked_latents=masked_latents,
                latent_mask=on_device(latent_mask),
                noise=on_device(noise),
                offset_noise=on_device(offset_noise),
                num_steps=num_steps,
                strength=preset.strength,
                guidance=float(params["guidance"]),
                noise_offset=NOISE_OFFSET,
                callback=after_step,
            )
        if not torch.isfinite(final).all():
            raise EngineError("Moebius produced invalid numbers (overflow); try the CPU device.")
        cancel.raise_if_cancelled()

        window = None
        if preset.window_margin is not None:
            window = vae_ops.decode_window_for(latent_mask[0, 0], preset.window_margin)
        decoded = vae_ops.decode(vae, final.float(), window, vae_dtype)
        progress(1.0)
        # SPEC §9.7: to [0, 1], clamp, scale and truncate (not round) to bytes, in float32.
        pixels = ((decoded[0].float().cpu() + 1.0) / 2.0).clamp_(0.0, 1.0).mul_(255.0).to(torch.uint8)
        result = image.copy()
        rows, cols = window.pixels if window is not None else (slice(None), slice(None))
        result[rows, cols] = pixels.permute(1, 2, 0).numpy()
        return result

    def _derived_weights(
        self, unet: MoebiusModel, device: str, dtype: torch.dtype | None
    ) -> contextlib.AbstractContextManager[Any]:
        """The block in which `unet` samples: its derived weights (folded BatchNorms, casts) built once.

        In half precision on the CPU they are kept for the next fills of the same
        UNet in the same dtype: building them takes ~0.25 s of each fill (official
        size, bfloat16, 2 threads; a fast fill takes ~10 s), and they take 560 MB.
        Elsewhere they last one fill (float32 ones would take twice that; on a GPU
        they are quick to build and its memory is scarcer).
        """
        if device != "cpu" or dtype is None:
            self._drop_derived_weights()  # kept ones are in another dtype
            return frozen_weights(unet, dtype)
        if self._kept_for is None or self._kept_for[0] is not unet or self._kept_for[1] != dtype:
            self._drop_derived_weights()
            self._kept_derived.enter_context(frozen_weights(unet, dtype))
            self._kept_for = (unet, dtype)
        return contextlib.nullcontext()

    def _drop_derived_weights(self) -> None:
        self._kept_derived.close()
        self._kept_for = None


@contextlib.contextmanager
def _cancellable_inside(cancel: CancelToken, *models: torch.nn.Module) -> Iterator[None]:
    """Check `cancel` before every resnet/transformer block, not only between steps.

    On a CPU one guided step or a decode takes several seconds; a cancel (or
    closing the window) should not wait for it to end.
    """

    def check(_module: torch.nn.Module, _inputs: Any) -> None:
        cancel.raise_if_cancelled()

    handles = [
        module.register_forward_pre_hook(check)
        for model in models
        for name, module in model.named_modules()
        if name.rsplit(".", 2)[-2:-1] in (["resnets"], ["attentions"])
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def resolve_precision(requested: str, device: str) -> str:
    """What a fill with the `precision` parameter `requested` runs in on `device`.

    "float32", "bfloat16" or "float16" (CUDA without bfloat16 only). auto: on CUDA
    its autocast (bfloat16 where the GPU has it, else float16), on a CPU bfloat16
    where it computes it natively (engines.devices.cpu_computes_bfloat16), else
    float32. MPS runs in float32.
    """
    if device == "cuda":
        if requested == "float32":
            return "float32"
        return "bfloat16" if requested == "bfloat16" or torch.cuda.is_bf16_supported() else "float16"
    if device == "cpu":
        if requested == "auto":
            return "bfloat16" if cpu_computes_bfloat16() else "float32"
        return "bfloat16" if requested == "bfloat16" else "float32"
    return "float32"


def _autocast(device: str, dtype: torch.dtype | None) -> Any:
    """The UNet's autocast block for `device` in `dtype`; none for float32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device, dtype=dtype)


class _LatentPreview:
    """A cheap RGB rendering of latents: a linear map fitted on this crop's own encoding.

    The masked photo's latents and the photo scaled to the latent grid give
    4096 pairs; a least-squares fit of RGB = A * latent + b on them adapts to
    whatever VAE is installed, and renders a 512 preview in about a millisecond.
    """

    def __init__(self, latents: torch.Tensor, images: torch.Tensor) -> None:
        cells = latents.shape[-1]
        small = torch.nn.functional.adaptive_avg_pool2d(images.float().cpu(), cells)
        x = latents.float().cpu()[0].reshape(4, -1).T
        y = small[0].reshape(3, -1).T
        design = torch.cat([x, torch.ones(x.shape[0], 1)], dim=1)
        self.weights = torch.linalg.lstsq(design, y).solution  # [5, 3]

    def render(self, latents: torch.Tensor) -> np.ndarray:
        """uint8 (512, 512, 3) RGB for latents [1, 4, 64, 64]."""
        x = latents.float().cpu()[0]
        rgb = torch.einsum("chw,cd->dhw", x, self.weights[:4]) + self.weights[4][:, None, None]
        rgb = torch.nn.functional.interpolate(rgb[None], size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0]
        pixels = ((rgb + 1.0) * 127.5).clamp_(0, 255).to(torch.uint8)
        return np.ascontiguousarray(pixels.permute(1, 2, 0).numpy())


def _load_unet(path: Any) -> MoebiusModel:
    """The wrapper with the checkpoint's weights, float32, eval mode, on the CPU."""
    state = load_state_dict(path)
    # Built without allocating random weights, then given the checkpoint's tensors.
    with torch.device("meta"):
        model = build_model(unet_config())
    problem = state_dict_mismatch(model, state)  # torch's own message says which only past its first line
    if problem:
        raise ModelError(f"The Moebius weights {path} do not fit the network: {problem}.")
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        first_line = str(error).splitlines()[0] if str(error) else "names or shapes differ"
        raise ModelError(f"The Moebius weights {path} do not fit the network: {first_line}") from None
    return model.float().eval()

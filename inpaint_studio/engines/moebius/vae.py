"""The Moebius VAE: diffusers' AutoencoderKL from a local folder, and the encode/decode steps the engine needs.

The published VAE (hustvl/PixelHacker, `vae/`) is a standard AutoencoderKL:
`config.json` + `diffusion_pytorch_model.bin` (or `.safetensors`). It is built
from the config and the weights are read with the project's safe loader
(weights-only unpickling), so a damaged or hostile file is refused with a
message naming it. diffusers is imported here only, when a Moebius engine
loads its models.

Decoding can be limited to a window of the latent (`decode(..., window=...)`):
the decoder is convolutional apart from its GroupNorms and one mid-block
attention, so a window that covers the mask plus a margin reproduces the
pixels under the mask closely (not exactly: those layers see only the window)
at a fraction of the cost of a full 512x512 decode.

On the CPU in float32, encode and decode run the VAE's 3x3 convolutions by
Winograd's algorithm (winograd.py): the same results to rounding, twice as fast.
In bfloat16 (a CPU that computes it natively), PyTorch's bfloat16 convolutions
under autocast, the wide ones (256 channels and more) by Winograd F(2x2, 3x3)
in bfloat16 (winograd_bf16.py), the layers at the image and latent ends in float32. Either way
the tensors are channels-last and the GroupNorms compute their statistics
precisely (norms.py): PyTorch's own lose digits on channels-last inputs.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from inpaint_studio.core.errors import ModelError
from inpaint_studio.engines.moebius.blocks import phase_kernels, upsample_conv, without_autocast
from inpaint_studio.engines.moebius.norms import precise_group_norms
from inpaint_studio.engines.moebius.patching import replaced_forwards
from inpaint_studio.engines.moebius.winograd import winograd_convolutions
from inpaint_studio.engines.moebius.winograd_bf16 import winograd_bf16_convolutions
from inpaint_studio.models.safe_load import load_state_dict, state_dict_mismatch

CONFIG_NAME = "config.json"
WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
DOWNSCALE = 8

# SPEC §9.3: the published (PixelHacker) VAE's config.json; the engine reads the installed file, this is
# the layout benchmarks and tests build at full size with random weights (`published_config()`).
_PUBLISHED_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.13025,
}
# The published VAE has 84 million parameters. A config describing many times that is not a
# Moebius VAE, and building it would take gigabytes (38 GB for one seen) before failing.
MAX_VAE_PARAMETERS = 400_000_000
# Sizes a config may give, checked before anything is built (even on the meta device).
_CONFIG_INTS = {"in_channels": 64, "out_channels": 64, "latent_channels": 64, "layers_per_block": 8, "norm_num_groups": 1024}
_MAX_LEVELS = 8
_MAX_CHANNELS = 4096

# Attention weights as older diffusers versions saved them -> today's names.
_OLD_ATTENTION_NAMES = {"query.": "to_q.", "key.": "to_k.", "value.": "to_v.", "proj_attn.": "to_out.0."}

if TYPE_CHECKING:

    class Autoencoder(torch.nn.Module):
        """For mypy only: what is used here of diffusers' AutoencoderKL.

        diffusers' own annotations are not used: its models' `to` is typed through
        functools.wraps, which mypy cannot call as a method.
        """

        config: Any

        def encode(self, x: torch.Tensor) -> Any: ...  # an AutoencoderKLOutput

        def decode(self, z: torch.Tensor) -> Any: ...  # a DecoderOutput


@dataclass(frozen=True)
class LatentWindow:
    """A half-open rectangle of latent cells [y0, y1) x [x0, x1)."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def pixels(self) -> tuple[slice, slice]:
        """The image rows and columns this window decodes to."""
        return slice(self.y0 * DOWNSCALE, self.y1 * DOWNSCALE), slice(self.x0 * DOWNSCALE, self.x1 * DOWNSCALE)

    def covers_all(self, side: int) -> bool:
        return (self.y0, self.x0, self.y1, self.x1) == (0, 0, side, side)


def published_config() -> dict[str, Any]:
    """The published VAE's config dict (a fresh copy), as `build_vae` takes it."""
    return copy.deepcopy(_PUBLISHED_CONFIG)


def build_vae(config: Mapping[str, Any], source: Path | str | None = None) -> Autoencoder:
    """A freshly initialised AutoencoderKL in eval mode for a diffusers `config.json` dict (read from `source`).

    A config of absurd size is refused before its weights are allocated.
    """
    from diffusers.models import AutoencoderKL

    name = f"The VAE configuration {source}" if source is not None else "The VAE configuration"
    _check_config_values(config, name)
    try:
        with torch.device("meta"):  # counts the parameters without allocating them
            parameters = sum(p.numel() for p in AutoencoderKL.from_config(dict(config)).parameters())
        if parameters > MAX_VAE_PARAMETERS:
            raise ModelError(
                f"{name} describes a network of {_millions(parameters)} parameters ({parameters * 4 / 1e9:,.1f} GB), "
                f"far more than a Moebius VAE has (84 million); it is not the right file."
            )
        vae = cast("Autoencoder", AutoencoderKL.from_config(dict(config)))
        return vae.eval()
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as error:
        raise ModelError(f"{name} cannot be used ({error}).") from None


def _millions(count: int) -> str:
    return f"{count / 1e9:,.1f} billion" if count >= 1e9 else f"{count / 1e6:,.0f} million"


def _check_config_values(config: Mapping[str, Any], name: str) -> None:
    """The sizes a config gives: whole numbers in sane ranges, so even an empty build stays small."""

    def whole(value: Any, most: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most

    for key, most in _CONFIG_INTS.items():
        if key in config and not whole(config[key], most):
            raise ModelError(f"{name} has an invalid {key} ({str(config[key])[:40]}); expected 1 to {most}.")
    channels = config.get("block_out_channels", [64])
    if not isinstance(channels, (list, tuple)) or not 1 <= len(channels) <= _MAX_LEVELS:
        raise ModelError(f"{name} has an invalid block_out_channels; expected a list of 1 to {_MAX_LEVELS} numbers.")
    if not all(whole(c, _MAX_CHANNELS) for c in channels):
        raise ModelError(f"{name} has an invalid block_out_channels; expected numbers from 1 to {_MAX_CHANNELS}.")
    for key in ("down_block_types", "up_block_types"):
        types = config.get(key, [])
        if not isinstance(types, (list, tuple)) or len(types) > _MAX_LEVELS or not all(isinstance(t, str) for t in types):
            raise ModelError(f"{name} has an invalid {key}; expected a list of at most {_MAX_LEVELS} block names.")


def load_vae(folder: Path | str) -> Autoencoder:
    """The AutoencoderKL in `folder` (config.json + weights), float32, eval mode, on the CPU."""
    folder = Path(folder)
    config_path = folder / CONFIG_NAME
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"The VAE configuration {config_path} is missing.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"The VAE configuration {config_path} is damaged ({error}).") from None
    if not isinstance(config, dict):
        raise ModelError(f"The VAE configuration {config_path} is not a JSON object.")
    weights = next((folder / name for name in WEIGHT_NAMES if (folder / name).is_file()), None)
    if weights is None:
        raise ModelError(f"The VAE weights ({' or '.join(WEIGHT_NAMES)}) are missing from {folder}.")
    vae = build_vae(config, config_path)
    state = _current_names(load_state_dict(weights))
    problem = state_dict_mismatch(vae, state)
    if problem:
        raise ModelError(f"The VAE weights {weights} do not fit its configuration {config_path}: {problem}.")
    try:
        vae.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "names or shapes differ"
        raise ModelError(f"The VAE weights {weights} do not fit its configuration {config_path}: {first_line}") from None
    return vae


def _current_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename mid-block attention weights saved by older diffusers versions."""
    renamed = {}
    for key, value in state.items():
        if ".attentions." in key:
            for old, new in _OLD_ATTENTION_NAMES.items():
                marker = f".{old}"
                if marker in key:
                    key = key.replace(marker, f".{new}")
                    break
        renamed[key] = value
    return renamed


def scaling_factor(vae: Autoencoder) -> float:
    return float(getattr(vae.config, "scaling_factor", None) or 0.18215)


def shift_factor(vae: Autoencoder) -> float:
    return float(getattr(vae.config, "shift_factor", None) or 0.0)


def encode_moments(
    vae: Autoencoder, images: torch.Tensor, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and standard deviation [B, 4, H/8, W/8], float32, of images [B, 3, H, W] in [-1, 1].

    The caller draws the sample (mean + std * eps) itself, so the order of
    random draws is in one place (SPEC §9.9). `dtype`: see `_run`.
    """
    posterior = _run(vae, vae.encode, images, dtype).latent_dist
    return posterior.mean.float(), posterior.std.float()


def to_latents(vae: Autoencoder, sample: torch.Tensor) -> torch.Tensor:
    """A posterior sample in the diffusion model's latent scale."""
    return (sample - shift_factor(vae)) * scaling_factor(vae)


def decode(
    vae: Autoencoder, latents: torch.Tensor, window: LatentWindow | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Images in [-1, 1], float32 [B, 3, 8h, 8w], for diffusion latents [B, 4, h, w], or for `window` of them only."""
    if window is not None:
        latents = latents[:, :, window.y0 : window.y1, window.x0 : window.x1]
    z = latents / scaling_factor(vae) + shift_factor(vae)
    images: torch.Tensor = _run(vae, vae.decode, z, dtype).sample
    return images.float().contiguous()


def _run(vae: Autoencoder, method: Callable[[torch.Tensor], Any], x: torch.Tensor, dtype: torch.dtype) -> Any:
    """vae.encode or vae.decode of `x`; on the CPU in `dtype` (float32 or bfloat16).

    float32: the 3x3 convolutions by Winograd (see winograd.py). bfloat16: under
    autocast, PyTorch's (oneDNN's) bfloat16 convolutions, those with 256 channels
    or more by Winograd F(2x2, 3x3) in bfloat16 (winograd_bf16.py), with the layers
    that read or write images and latents in float32 and the upsamplers'
    convolutions by phases (blocks.upsample_conv). Both
    run channels-last, with GroupNorm statistics computed precisely (norms.py).
    Other devices: the VAE as it is, in float32.
    """
    weight = next(vae.parameters())
    if weight.device.type != "cpu" or weight.dtype != torch.float32:
        return method(x)
    with contextlib.ExitStack() as stack:
        if dtype == torch.bfloat16:
            stack.enter_context(_float32_ends(vae))
            stack.enter_context(_phase_upsamplers(vae))
            stack.enter_context(winograd_bf16_convolutions(vae))
            stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
            channels_last = True
        else:
            # the Winograd kernels read and write channels-last; PyTorch's layers keep it when given it
            channels_last = stack.enter_context(winograd_convolutions(vae)) > 0
        if channels_last:
            stack.enter_context(precise_group_norms(vae))
            x = x.contiguous(memory_format=torch.channels_last)
        return method(x)


# Convolutions with fewer channels than this on one side read or write images or latents.
_END_CHANNELS = 16


def _float32_ends(vae: torch.nn.Module) -> contextlib.AbstractContextManager[int]:
    """Within the block, the convolutions that read or write images and latents run in float32 under autocast.

    They are a few hundredths of the VAE's work. One that reads an image or latent
    answers in bfloat16 (what autocast would give the next layer), one that writes
    them answers in float32.
    """
    convs = (
        conv
        for conv in vae.modules()
        if isinstance(conv, torch.nn.Conv2d) and min(conv.in_channels, conv.out_channels) < _END_CHANNELS
    )
    return replaced_forwards(convs, _Float32Forward)


class _Float32Forward:
    def __init__(self, conv: torch.nn.Conv2d) -> None:
        self.original = conv.forward
        self.writes_ends = conv.out_channels < _END_CHANNELS

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with without_autocast(x):
            y: torch.Tensor = self.original(x.float())
        return y if self.writes_ends else y.to(torch.bfloat16)


def _phase_upsamplers(vae: torch.nn.Module) -> contextlib.AbstractContextManager[int]:
    """Within the block, diffusers' Upsample2D (nearest x2 + 3x3 conv) runs as four 2x2 phase convolutions.

    16 instead of 36 multiply-adds per input pixel and channel pair, and no
    upsampled copy; for the bfloat16 path (Winograd already makes the float32 one cheap).
    """
    return replaced_forwards((module for module in vae.modules() if _is_plain_upsampler(module)), _PhaseForward)


def _is_plain_upsampler(module: torch.nn.Module) -> bool:
    conv = getattr(module, "conv", None)
    return (
        type(module).__name__ == "Upsample2D"
        and getattr(module, "use_conv", False)
        and not getattr(module, "use_conv_transpose", True)
        and getattr(module, "interpolate", False)
        and getattr(module, "norm", None) is None
        and isinstance(conv, torch.nn.Conv2d)
        and conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    )


class _PhaseForward:
    def __init__(self, upsampler: torch.nn.Module) -> None:
        self.original = upsampler.forward
        self.conv = cast("torch.nn.Conv2d", upsampler.conv)

    def __call__(self, x: torch.Tensor, output_size: Any = None, *args: Any, **kwargs: Any) -> torch.Tensor:
        if output_size is not None or args or kwargs or x.dim() != 4:
            result: torch.Tensor = self.original(x, output_size, *args, **kwargs)
            return result
        return upsample_conv(x, phase_kernels(self.conv.weight), self.conv.bias)


def decode_window_for(mask_latent: torch.Tensor, margin: int) -> LatentWindow:
    """The smallest latent window holding every masked cell of `mask_latent` [h, w] plus `margin` cells."""
    side_h, side_w = mask_latent.shape[-2:]
    rows = torch.nonzero(mask_latent.reshape(side_h, side_w).any(dim=1)).flatten()
    cols = torch.nonzero(mask_latent.reshape(side_h, side_w).any(dim=0)).flatten()
    if rows.numel() == 0:
        return LatentWindow(0, 0, 0, 0)

    def span(lo: int, hi: int, limit: int) -> tuple[int, int]:
        return max(0, lo - margin), min(limit, hi + margin)

    y0, y1 = span(int(rows[0]), int(rows[-1]) + 1, side_h)
    x0, x1 = span(int(cols[0]), int(cols[-1]) + 1, side_w)
    return LatentWindow(y0, y1, x0, x1)

"""Which model files the application knows: where to fetch them and how to check them.

The catalogue is data, not discovery: every entry carries its URL and the
checksum published with it, so a file can be verified before anything loads it.
Exact sizes are recorded only where known (a wrong size would refuse a good file);
`approx_size` is what download offers show, an estimate from the parameter count
(4 bytes each) that nothing checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from inpaint_studio.core.errors import ModelError


@dataclass(frozen=True)
class ModelFile:
    """One file of a model, as published."""

    name: str  # file name on disk, e.g. "big-lama.pt"
    url: str  # full https URL
    size: int | None  # bytes, None if unknown
    md5: str | None = None
    sha256: str | None = None
    approx_size: int | None = None  # bytes, roughly: shown before a download, never checked

    @property
    def shown_size(self) -> int | None:
        """The size to show before downloading: the exact one, else the estimate."""
        return self.size if self.size is not None else self.approx_size

    @property
    def has_checksum(self) -> bool:
        return bool(self.md5 or self.sha256)

    def mismatch(self, size: int, md5: str, sha256: str) -> str | None:
        """None when a file with these measurements is this one, else what differs."""
        if self.size is not None and size != self.size:
            return f"it has {size} bytes, the catalogue says {self.size}"
        if self.md5 and md5.lower() != self.md5.lower():
            return f"its MD5 is {md5}, the catalogue says {self.md5}"
        if self.sha256 and sha256.lower() != self.sha256.lower():
            return f"its SHA-256 is {sha256}, the catalogue says {self.sha256}"
        return None


@dataclass(frozen=True)
class ModelInfo:
    """A model an engine can use: one or more files installed together in one folder."""

    id: str  # "big-lama", "migan"
    name: str  # display name
    engine: str  # engine id that uses it ("lama", "migan")
    licence: str
    description: str
    files: tuple[ModelFile, ...]
    format: str  # "torchscript" | "state_dict" | "safetensors" | "config"
    # A state dict's top-level parts (tensor names start with "<part>."): `models verify` checks
    # them, so that another network's weights are not reported as fine.
    parts: tuple[str, ...] = ()


_HUB = "https://huggingface.co"
# Moebius publishes no checksums or sizes. Its files are state dicts (read with
# weights-only unpickling, never run), so they are accepted as downloaded.
_MOEBIUS_VARIANTS = {
    "pretrained": ("pretrained", "pretrained on large-scale data; suits most photos"),
    "places2": ("ft_places2", "fine-tuned on Places2 scenes"),
    "celebahq": ("ft_celebahq", "fine-tuned on CelebA-HQ faces"),
    "ffhq": ("ft_ffhq", "fine-tuned on FFHQ faces"),
}


def _moebius_unet(variant: str) -> ModelInfo:
    folder, what = _MOEBIUS_VARIANTS[variant]
    return ModelInfo(
        id=f"moebius-{variant}",
        name=f"Moebius ({variant})",
        engine="moebius",
        licence="Apache-2.0",
        description=f"Moebius inpainting UNet, 0.23B parameters, {what} (hustvl/Moebius).",
        files=(
            ModelFile(
                "diffusion_pytorch_model.bin",
                f"{_HUB}/hustvl/Moebius/resolve/main/{folder}/diffusion_pytorch_model.bin",
                None,
                approx_size=905_000_000,  # 226.2M float32 values (../shared/moebius/manifest_full.json)
            ),
        ),
        format="state_dict",
        parts=("embedding_layer", "diff_model"),
    )


_MOEBIUS_VAE = f"{_HUB}/hustvl/PixelHacker/resolve/main/vae"

CATALOGUE: dict[str, ModelInfo] = {
    "big-lama": ModelInfo(
        id="big-lama",
        name="Big LaMa",
        engine="lama",
        licence="Apache-2.0",
        description="LaMa (FFC ResNet, about 51M parameters) as TorchScript, packaged for IOPaint.",
        files=(
            ModelFile(
                name="big-lama.pt",
                url="https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt",
                size=None,
                md5="e3aa4aaa15225a33ec84f9f4bc47e500",
                approx_size=205_000_000,  # about 51M parameters
            ),
        ),
        format="torchscript",
    ),
    "migan": ModelInfo(
        id="migan",
        name="MI-GAN",
        engine="migan",
        licence="MIT",
        description="MI-GAN (Picsart, about 5.9M parameters, 512x512) as TorchScript, packaged for IOPaint.",
        files=(
            ModelFile(
                name="migan_traced.pt",
                url="https://github.com/Sanster/models/releases/download/migan/migan_traced.pt",
                size=None,
                md5="76eb3b1a71c400ee3290524f7a11b89c",
                approx_size=24_000_000,  # about 5.9M parameters
            ),
        ),
        format="torchscript",
    ),
    "mobile-sam": ModelInfo(
        id="mobile-sam",
        name="MobileSAM",
        engine="sam",  # not an inpainting engine: the click-to-select tool (selection/sam)
        licence="Apache-2.0",
        description="MobileSAM (Segment Anything with a TinyViT encoder, about 10M parameters) for click-to-select.",
        files=(
            ModelFile(
                name="mobile_sam.pt",
                url="https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
                size=None,
                # The MD5 IOPaint's catalogue gives for its mirror of this file
                # (https://github.com/Sanster/models/releases/download/MobileSAM/mobile_sam.pt);
                # not checked against a download here, which these build machines cannot make.
                md5="f3c0d8cda613564d499310dab6c812cd",
                approx_size=41_000_000,  # about 10M parameters
            ),
        ),
        format="state_dict",
        parts=("image_encoder", "prompt_encoder", "mask_decoder"),
    ),
    **{f"moebius-{variant}": _moebius_unet(variant) for variant in _MOEBIUS_VARIANTS},
    "moebius-vae": ModelInfo(
        id="moebius-vae",
        name="Moebius VAE",
        engine="moebius",
        licence="Apache-2.0",
        description=(
            "The image encoder/decoder Moebius works through: a diffusers AutoencoderKL, 84M parameters (hustvl/PixelHacker)."
        ),
        files=(
            ModelFile("config.json", f"{_MOEBIUS_VAE}/config.json", None, approx_size=1_000),
            ModelFile(
                "diffusion_pytorch_model.bin",
                f"{_MOEBIUS_VAE}/diffusion_pytorch_model.bin",
                None,
                approx_size=335_000_000,  # about 84M parameters
            ),
        ),
        format="state_dict",
        parts=("encoder", "decoder"),
    ),
}


def lookup(catalogue: Mapping[str, ModelInfo], model_id: str) -> ModelInfo:
    """The entry for `model_id` in `catalogue`, or a ModelError naming the known ids."""
    try:
        return catalogue[model_id]
    except KeyError:
        known = ", ".join(sorted(catalogue)) or "none"
        raise ModelError(f"Unknown model '{model_id}'. Known models: {known}.") from None


def model_info(model_id: str) -> ModelInfo:
    """The built-in catalogue entry for `model_id`, or a ModelError naming the known ids."""
    return lookup(CATALOGUE, model_id)

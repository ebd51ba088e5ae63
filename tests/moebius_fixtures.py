"""Small, randomly initialised Moebius models of the real architecture, installed in a model store.

The UNet has the tiny fixture's widths at the official latent size (64x64,
so the engine's 512x512 crops fit it); the VAE is a diffusers AutoencoderKL
with four levels (downscale 8) and narrow channels. Both are written in the
published file layout and installed through the store's import, as a user would.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from moebius_configs import SMALL_CONFIG

from inpaint_studio.engines.moebius.network import build_model
from inpaint_studio.engines.moebius.vae import build_vae, published_config
from inpaint_studio.models.store import ModelStore

ENGINE_CONFIG = copy.deepcopy(SMALL_CONFIG)
ENGINE_CONFIG["unet_constructor_args"]["sample_size"] = 64

# The published VAE's layout, narrow and shallow.
VAE_CONFIG = {
    "_class_name": "AutoencoderKL",
    **published_config(),
    "block_out_channels": [8, 8, 16, 16],
    "layers_per_block": 1,
    "norm_num_groups": 4,
}


def write_unet(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = build_model(ENGINE_CONFIG)
    # Random BatchNorm statistics, so that eval mode is exercised, not the identity.
    for name, buffer in model.named_buffers():
        if name.endswith("running_mean"):
            buffer.normal_(0, 0.1)
        elif name.endswith("running_var"):
            buffer.uniform_(0.5, 1.5)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "diffusion_pytorch_model.bin"
    torch.save(model.state_dict(), path)
    return path


def write_vae(folder: Path, seed: int = 0, state_transform=None) -> Path:
    torch.manual_seed(seed)
    vae = build_vae(VAE_CONFIG)
    state = vae.state_dict()
    if state_transform is not None:
        state = state_transform(state)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(VAE_CONFIG))
    torch.save(state, folder / "diffusion_pytorch_model.bin")
    return folder


def install_moebius(store: ModelStore, source: Path, variants=("pretrained",)) -> None:
    """Write the small models under `source` and import them into `store`."""
    for index, variant in enumerate(variants):
        store.import_file(f"moebius-{variant}", write_unet(source / variant, seed=index))
    store.import_file("moebius-vae", write_vae(source / "vae"))

"""The network's hyper-parameters, read from a config dict and checked before anything is built.

A config dict has the layout of the shared fixtures' `tiny_config.json`: the
UNet's constructor arguments under `unet_constructor_args` (the reference's
names) and the wrapper's under `removal_model`. Settings that change the
architecture in ways this implementation does not have (a mid block, class
embeddings, other block types) are refused instead of silently ignored.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inpaint_studio.engines.moebius.inputs import MoebiusConfigError

DOWN_BLOCK = "DWMixTFDownBlock2D"
UP_BLOCK = "DWMixTFUpBlock2D"

# The official model (config/model_cfg/moebius.yaml, 512 px input, SPEC §2), in the fixture layout.
_OFFICIAL_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 9,
    "out_channels": 4,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "down_block_types": [DOWN_BLOCK] * 3,
    "mid_block_type": None,
    "up_block_types": [UP_BLOCK] * 3,
    "block_out_channels": [320, 640, 1280],
    "layers_per_block": 2,
    "transformer_layers_per_block": 1,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "act_fn": "silu",
    "attention_head_dim": 8,
    "cross_attention_dim": 768,
    "encoder_hid_dim": 3072,
    "encoder_hid_dim_type": "text_proj",
    "projection_class_embeddings_input_dim": 2560,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "use_lambda_cross_attn": True,
    "use_local_self_attn": True,
    "num_embeddings": 20,
    "mix_mlp_ratio": 2.5,
}
_OFFICIAL: dict[str, dict[str, Any]] = {
    "unet_constructor_args": _OFFICIAL_UNET,
    "removal_model": {"num_embeddings": 20, "embedding_dim": 3072},
}

# Constructor arguments that must keep the value the architecture was written for.
_FIXED = {
    "mid_block_type": None,
    "encoder_hid_dim_type": "text_proj",
    "act_fn": "silu",
    "use_lambda_cross_attn": True,
    "use_local_self_attn": True,
    "center_input_sample": False,
    "class_embed_type": None,
    "addition_embed_type": None,
    "num_class_embeds": None,
    "time_embedding_type": "positional",
    "time_embedding_dim": None,
    "time_embedding_act_fn": None,
    "timestep_post_act": None,
    "time_cond_proj_dim": None,
    "resnet_time_scale_shift": "default",
    "resnet_skip_time_act": False,
    "resnet_out_scale_factor": 1.0,
    "downsample_padding": 1,
    "dropout": 0.0,
}


def official_config() -> dict[str, Any]:
    """The official 512-pixel model's config dict (a fresh copy), as `build_model` takes it."""
    return copy.deepcopy(_OFFICIAL)


@dataclass(frozen=True)
class MoebiusConfig:
    """Everything the network's shapes depend on."""

    sample_size: int
    in_channels: int
    out_channels: int
    block_out_channels: tuple[int, ...]
    layers_per_block: int
    transformer_layers_per_block: int
    heads: int
    norm_num_groups: int
    norm_eps: float
    cross_attention_dim: int
    encoder_hid_dim: int
    context_tokens: int
    embedding_rows: int
    flip_sin_to_cos: bool
    freq_shift: float
    conv_in_kernel: int
    conv_out_kernel: int

    @property
    def time_embed_dim(self) -> int:
        return 4 * self.block_out_channels[0]

    def level_side(self, level: int) -> int:
        return self.sample_size >> level

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> MoebiusConfig:
        """Read a fixture-layout dict; missing arguments take the official model's values."""
        if not isinstance(config, Mapping):
            raise MoebiusConfigError(f"A Moebius config must be a dict, not {type(config).__name__}.")
        unet = dict(_OFFICIAL_UNET)
        # A flat dict (the yaml layout, as in manifest_full.json's "config") is read as the UNet's arguments.
        unet.update(config.get("unet_constructor_args", config))
        wrapper = dict(config.get("removal_model", {}))
        for key, expected in _FIXED.items():
            if key in unet and unet[key] != expected:
                raise MoebiusConfigError(
                    f"This Moebius implementation needs {key} = {expected!r}; the config has {unet[key]!r}."
                )
        levels = len(unet["block_out_channels"])
        blocks_ok = list(unet["down_block_types"]) == [DOWN_BLOCK] * levels
        blocks_ok = blocks_ok and list(unet["up_block_types"]) == [UP_BLOCK] * levels
        if not blocks_ok:
            raise MoebiusConfigError(
                f"The Moebius network has only {DOWN_BLOCK} and {UP_BLOCK} blocks, one of each per level."
            )
        if unet.get("num_attention_heads") is not None:
            raise MoebiusConfigError("Set the head count with attention_head_dim, not num_attention_heads.")
        embedding_rows = int(wrapper.get("num_embeddings", unet["num_embeddings"]))
        embedding_dim = int(wrapper.get("embedding_dim", unet["encoder_hid_dim"]))
        if embedding_dim != unet["encoder_hid_dim"]:
            raise MoebiusConfigError(
                f"The condition embedding is {embedding_dim} wide but the UNet expects encoder_hid_dim "
                f"{unet['encoder_hid_dim']}."
            )
        result = cls(
            sample_size=int(unet["sample_size"]),
            in_channels=int(unet["in_channels"]),
            out_channels=int(unet["out_channels"]),
            block_out_channels=tuple(int(c) for c in unet["block_out_channels"]),
            layers_per_block=int(unet["layers_per_block"]),
            transformer_layers_per_block=int(unet["transformer_layers_per_block"]),
            heads=int(unet["attention_head_dim"]),
            norm_num_groups=int(unet["norm_num_groups"]),
            norm_eps=float(unet["norm_eps"]),
            cross_attention_dim=int(unet["cross_attention_dim"]),
            encoder_hid_dim=int(unet["encoder_hid_dim"]),
            # The cross-lambda position tables have one column per prompt token; a
            # prompt is half of the table (conditional and unconditional halves).
            context_tokens=int(unet["num_embeddings"]) // 2,
            embedding_rows=embedding_rows,
            flip_sin_to_cos=bool(unet["flip_sin_to_cos"]),
            freq_shift=float(unet["freq_shift"]),
            conv_in_kernel=int(unet["conv_in_kernel"]),
            conv_out_kernel=int(unet["conv_out_kernel"]),
        )
        result._check()
        return result

    def _check(self) -> None:
        """Refuse sizes the layers cannot take (SPEC §2 and §4)."""
        levels = len(self.block_out_channels)
        if levels < 1:
            raise MoebiusConfigError("A Moebius config needs at least one entry in block_out_channels.")
        if self.sample_size <= 0 or self.sample_size % (1 << (levels - 1)):
            raise MoebiusConfigError(
                f"sample_size {self.sample_size} must be divisible by {1 << (levels - 1)} "
                f"so that every level halves exactly."
            )
        groups = self.norm_num_groups
        for width in self.block_out_channels:
            if width % self.heads or width % groups:
                raise MoebiusConfigError(
                    f"Channel width {width} must be divisible by the head count {self.heads} "
                    f"and by norm_num_groups {groups}."
                )
        if self.layers_per_block < 1 or self.transformer_layers_per_block < 1:
            raise MoebiusConfigError("layers_per_block and transformer_layers_per_block must be at least 1.")
        if self.context_tokens < 1 or self.embedding_rows < 1:
            raise MoebiusConfigError("num_embeddings must be at least 2.")
        if self.conv_in_kernel % 2 == 0 or self.conv_out_kernel % 2 == 0:
            raise MoebiusConfigError("conv_in_kernel and conv_out_kernel must be odd.")

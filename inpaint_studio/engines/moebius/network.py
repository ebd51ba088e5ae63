"""The Moebius UNet (3 down and 3 up levels, no mid block) and the wrapper the checkpoints store.

The wrapper (`MoebiusModel`) holds the 20-row condition embedding table and
the UNet under the attribute names `embedding_layer` and `diff_model`, so an
official `diffusion_pytorch_model.bin` loads into it with strict=True.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as functional
from torch import nn

from inpaint_studio.engines.moebius.blocks import (
    DepthwiseSeparableConv,
    Downsample,
    DWResnetBlock,
    Linear,
    SinusoidalTimesteps,
    TimestepEmbedding,
    Upsample,
    in_autocast_dtype,
    tile_rows,
)
from inpaint_studio.engines.moebius.config import MoebiusConfig
from inpaint_studio.engines.moebius.inputs import (
    MoebiusInputError,
    batch_timesteps,
    check_latent_side,
    check_tensor,
)
from inpaint_studio.engines.moebius.transformer import MixTransformer2D


class _LevelBlock(nn.Module):
    """Resnet + transformer pairs at one resolution, then an optional resampler."""

    def __init__(self, cfg: MoebiusConfig, level: int, resnet_widths: list[tuple[int, int]]) -> None:
        super().__init__()
        width = cfg.block_out_channels[level]
        side = cfg.level_side(level)
        self.attentions = nn.ModuleList(
            MixTransformer2D(
                width,
                cfg.heads,
                side,
                cfg.cross_attention_dim,
                cfg.context_tokens,
                cfg.norm_num_groups,
                cfg.transformer_layers_per_block,
            )
            for _ in resnet_widths
        )
        self.resnets = nn.ModuleList(
            DWResnetBlock(cin, cout, cfg.time_embed_dim, cfg.norm_num_groups, cfg.norm_eps)
            for cin, cout in resnet_widths
        )


class DownBlock(_LevelBlock):
    """Returns the block's output and every state it pushes on the skip stack."""

    def __init__(self, cfg: MoebiusConfig, level: int) -> None:
        cin = cfg.block_out_channels[max(level - 1, 0)]
        cout = cfg.block_out_channels[level]
        super().__init__(cfg, level, [(cin if j == 0 else cout, cout) for j in range(cfg.layers_per_block)])
        last = level == len(cfg.block_out_channels) - 1
        self.downsamplers = None if last else nn.ModuleList([Downsample(cout)])

    def forward(
        self, h: torch.Tensor, emb: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        states = []
        for resnet, attention in zip(self.resnets, self.attentions, strict=True):
            h = attention(resnet(h, emb), context)
            states.append(h)
        if self.downsamplers is not None:
            h = self.downsamplers[0](h)
            states.append(h)
        return h, states


class UpBlock(_LevelBlock):
    """Consumes one skip per pair (concatenated after the current state), then upsamples."""

    def __init__(self, cfg: MoebiusConfig, level: int, h_width: int, skip_widths: list[int]) -> None:
        cout = cfg.block_out_channels[level]
        widths = [((h_width if j == 0 else cout) + skip, cout) for j, skip in enumerate(skip_widths)]
        super().__init__(cfg, level, widths)
        self.upsamplers = None if level == 0 else nn.ModuleList([Upsample(cout)])

    def forward(
        self, h: torch.Tensor, skips: list[torch.Tensor], emb: torch.Tensor, context: torch.Tensor
    ) -> torch.Tensor:
        for resnet, attention in zip(self.resnets, self.attentions, strict=True):
            h = attention(resnet(torch.cat([h, tile_rows(skips.pop(), h.shape[0])], dim=1), emb), context)
        if self.upsamplers is not None:
            h = self.upsamplers[0](h)
        return h


class MoebiusUNet(nn.Module):
    """Noise predictor: 9-channel latent (noisy, mask, masked image) + timestep + 10 tokens -> noise."""

    def __init__(self, cfg: MoebiusConfig) -> None:
        super().__init__()
        self.config = cfg
        widths = cfg.block_out_channels
        levels = len(widths)
        # The layers that read the latents and write the noise run in float32 under autocast too.
        self.conv_in = DepthwiseSeparableConv(cfg.in_channels, widths[0], cfg.conv_in_kernel, float32=True)
        self.time_proj = SinusoidalTimesteps(widths[0], cfg.flip_sin_to_cos, cfg.freq_shift)
        self.time_embedding = TimestepEmbedding(widths[0], cfg.time_embed_dim)
        self.encoder_hid_proj = Linear(cfg.encoder_hid_dim, cfg.cross_attention_dim)
        self.down_blocks = nn.ModuleList(DownBlock(cfg, level) for level in range(levels))

        # The skip stack's widths, bottom to top, as the down path will push them.
        skip_widths = [widths[0]]
        for level in range(levels):
            skip_widths += [widths[level]] * cfg.layers_per_block + ([widths[level]] if level < levels - 1 else [])
        up_blocks = []
        h_width = widths[-1]
        for level in reversed(range(levels)):
            pairs = cfg.layers_per_block + 1
            taken = [skip_widths.pop() for _ in range(pairs)]
            up_blocks.append(UpBlock(cfg, level, h_width, taken))
            h_width = widths[level]
        self.up_blocks = nn.ModuleList(up_blocks)

        self.conv_norm_out = nn.GroupNorm(cfg.norm_num_groups, widths[0], eps=cfg.norm_eps)
        self.conv_out = DepthwiseSeparableConv(widths[0], cfg.out_channels, cfg.conv_out_kernel, float32=True)

    def forward(
        self, sample: torch.Tensor, timesteps: torch.Tensor, encoder_hidden_states: torch.Tensor
    ) -> torch.Tensor:
        """Noise [B', 4, S, S] for `sample` [B, 9, S, S] and condition tokens [B', 10, D].

        B' is B, or a multiple of it when every sample row is shared by B' / B prompts
        (copy 0 first, as tile_rows repeats): the layers before the first cross-lambda
        then run once per sample row.
        """
        emb = self.time_embedding(self.time_proj(batch_timesteps(timesteps, sample.shape[0])).to(sample.dtype))
        context = self.encoder_hid_proj(encoder_hidden_states)
        # Channels-last throughout: the transformers' tokens are then views of the grid,
        # and the 1x1 and depthwise convs run faster in this layout. conv_in computes in
        # float32 under autocast; what follows runs in autocast's dtype (residuals included).
        h = in_autocast_dtype(self.conv_in(sample.contiguous(memory_format=torch.channels_last)))
        skips = [h]
        for block in self.down_blocks:
            h, states = block(h, emb, context)
            skips += states
        for block in self.up_blocks:
            h = block(h, skips, emb, context)
        noise: torch.Tensor = self.conv_out(functional.silu(self.conv_norm_out(h)))
        return noise.contiguous()


class MoebiusModel(nn.Module):
    """The checkpoint's wrapper: condition embedding table (two 10-token prompts) + UNet."""

    def __init__(self, cfg: MoebiusConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embedding_layer = nn.Embedding(cfg.embedding_rows, cfg.encoder_hid_dim)
        self.diff_model = MoebiusUNet(cfg)

    def forward(self, latent_model_input: torch.Tensor, timesteps: Any, input_ids: torch.Tensor) -> torch.Tensor:
        """The noise prediction [B, 4, S, S] for latents [B, 9, S, S] and token ids [B, 10]."""
        latents = self._check_latents(latent_model_input)
        ids = self._check_ids("input_ids", input_ids, latents.shape[0])
        noise: torch.Tensor = self.diff_model(latents, timesteps, self.embedding_layer(ids))
        return noise

    def guided_noise(
        self, latent_model_input: torch.Tensor, timesteps: Any, uncond_ids: torch.Tensor, cond_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(unconditional, conditional) noise for the same latents [B, 9, S, S]: one guided step.

        Equal to `forward(cat([x, x]), t, cat([uncond_ids, cond_ids])).chunk(2)`, but the
        condition enters only at the cross-lambdas, so everything before the first one
        (conv_in, the first resnet, the first self-lambda) runs on B rows, not 2B.
        """
        latents = self._check_latents(latent_model_input)
        batch = latents.shape[0]
        uncond = self._check_ids("uncond_ids", uncond_ids, batch)
        cond = self._check_ids("cond_ids", cond_ids, batch)
        eps: torch.Tensor = self.diff_model(latents, timesteps, self.embedding_layer(torch.cat([uncond, cond])))
        return eps[:batch], eps[batch:]

    def _check_latents(self, latents: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        return check_latent_side("the latent input", latents, cfg.sample_size, cfg.in_channels)

    def _check_ids(self, name: str, input_ids: torch.Tensor, batch: int) -> torch.Tensor:
        cfg = self.config
        ids = check_tensor(name, input_ids, (batch, cfg.context_tokens), floating=False)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= cfg.embedding_rows):
            raise MoebiusInputError(f"Moebius {name} must lie in 0..{cfg.embedding_rows - 1}.")
        return ids


def build_model(config: Mapping[str, Any]) -> MoebiusModel:
    """The wrapper for a fixture-layout config dict, in eval mode (BatchNorm must use running stats).

    Weights are freshly initialised; load a checkpoint with load_state_dict(strict=True).
    """
    return MoebiusModel(MoebiusConfig.from_dict(config)).eval()

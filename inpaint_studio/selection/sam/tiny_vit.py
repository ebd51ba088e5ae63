"""TinyViT, the image encoder MobileSAM puts in place of SAM's ViT-H: a padded 1024x1024 photo to a
256-channel embedding 16 times smaller (64x64).

Four stages: inverted-residual convolutions (MBConv) at 1/4 scale, then windowed self-attention with
learned relative-position biases at 1/8, 1/16 and 1/16 again (MobileSAM's last downsampling keeps
the resolution), and a neck to the prompt embedding's 256 channels. Attribute names follow the
published weights (`patch_embed.seq.0.c.weight`, `layers.1.blocks.0.attn.attention_biases`, ...):
some modules exist only so that the file loads strictly, such as the ImageNet classifier head,
which SAM never runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import nn

from inpaint_studio.selection.sam.norm import LayerNorm2d


@dataclass(frozen=True)
class TinyViTConfig:
    """TinyViT-5M as MobileSAM configures it (`build_sam_vit_t`); tests use smaller ones."""

    image_size: int = 1024  # the square side the photo is padded to
    embed_dims: tuple[int, ...] = (64, 128, 160, 320)
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (2, 4, 5, 10)  # the first stage has no attention; its entry is unused
    window_sizes: tuple[int, ...] = (7, 7, 14, 7)
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    out_channels: int = 256  # the neck: the width of SAM's prompt embeddings
    num_classes: int = 1000  # the unused ImageNet head, whose weights the published file holds

    @property
    def embedding_side(self) -> int:
        """The side of the output embedding: 1/4 from the stem, then two downsamplings by 2."""
        return self.image_size // 16


class ConvBN(nn.Sequential):
    """A convolution without bias followed by batch normalisation (named `c` and `bn` in the weights)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.add_module("c", nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_channels))


class PatchEmbed(nn.Module):
    """The stem: two stride-2 3x3 convolutions, the photo to 1/4 of its side."""

    def __init__(self, in_channels: int, dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(ConvBN(in_channels, dim // 2, 3, stride=2), nn.GELU(), ConvBN(dim // 2, dim, 3, stride=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class MBConv(nn.Module):
    """Inverted residual: widen (1x1), depthwise 3x3, narrow (1x1), add the input."""

    def __init__(self, dim: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.conv1 = ConvBN(dim, hidden)
        self.conv2 = ConvBN(hidden, hidden, 3, groups=hidden)
        self.conv3 = ConvBN(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(F.gelu(self.conv2(F.gelu(self.conv1(x)))))
        return F.gelu(x + y)


class PatchMerging(nn.Module):
    """Downsampling between stages: 1x1 to the next width, depthwise 3x3 with `stride`, 1x1."""

    def __init__(self, dim: int, out_dim: int, stride: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(dim, out_dim)
        self.conv2 = ConvBN(out_dim, out_dim, 3, stride=stride, groups=out_dim)
        self.conv3 = ConvBN(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(F.gelu(self.conv2(F.gelu(self.conv1(x)))))


class WindowAttention(nn.Module):
    """Multi-head self-attention over the tokens of square windows, with a learned bias per head for
    each (|row offset|, |column offset|) between two tokens of a window."""

    bias_index: torch.Tensor

    def __init__(self, dim: int, num_heads: int, window_size: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)  # per head: its query, key and value, side by side
        self.proj = nn.Linear(dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, window_size * window_size))
        # Which bias each pair of tokens gets. Offsets are numbered row-major (|dy| * side + |dx|),
        # the order in which TinyViT first meets them, so trained biases land where they belong.
        rows, cols = torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij")
        rows, cols = rows.flatten(), cols.flatten()
        offsets = (rows[:, None] - rows[None, :]).abs() * window_size + (cols[:, None] - cols[None, :]).abs()
        self.register_buffer("bias_index", offsets, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (windows, tokens, dim) to the same shape."""
        windows, tokens, _ = x.shape
        qkv = self.qkv(self.norm(x)).view(windows, tokens, self.num_heads, 3 * self.head_dim)
        q, k, v = (part.transpose(1, 2) for part in qkv.split(self.head_dim, dim=3))
        # Written out rather than scaled_dot_product_attention, which checks a float mask on every
        # call: a tenth of the encoder's time on a CPU.
        scores = (q @ k.transpose(-2, -1)) * self.head_dim**-0.5 + self.attention_biases[:, self.bias_index]
        out = scores.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(windows, tokens, -1))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(self.norm(x))))


class TinyViTBlock(nn.Module):
    """Window attention, a depthwise convolution that mixes across window borders, an MLP."""

    def __init__(self, dim: int, num_heads: int, window_size: int, mlp_ratio: float, local_conv_size: int) -> None:
        super().__init__()
        self.window_size = window_size
        self.attn = WindowAttention(dim, num_heads, window_size)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.local_conv = ConvBN(dim, dim, local_conv_size, groups=dim)  # runs before the MLP; listed after it, as in the weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, C) to the same shape."""
        x = x + self._windowed_attention(x)
        x = self.local_conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + self.mlp(x)

    def _windowed_attention(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        side = self.window_size
        # Zero-padded at the bottom and right to whole windows; the padding takes part as keys, as in
        # training, and is cut off again.
        pad_bottom, pad_right = -height % side, -width % side
        padded = F.pad(x, (0, 0, 0, pad_right, 0, pad_bottom))
        rows, cols = (height + pad_bottom) // side, (width + pad_right) // side
        windows = padded.view(batch, rows, side, cols, side, channels).transpose(2, 3).reshape(-1, side * side, channels)
        out = self.attn(windows).view(batch, rows, cols, side, side, channels).transpose(2, 3)
        out = out.reshape(batch, rows * side, cols * side, channels)
        return out[:, :height, :width]


class ConvStage(nn.Module):
    """The first stage: MBConv blocks, then the downsampling to the next stage."""

    def __init__(self, dim: int, depth: int, expand_ratio: float, downsample: PatchMerging | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(MBConv(dim, expand_ratio) for _ in range(depth))
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W)."""
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class AttentionStage(nn.Module):
    """A later stage: TinyViT blocks, then the downsampling to the next stage (none after the last)."""

    def __init__(self, dim: int, depth: int, config: TinyViTConfig, stage: int, downsample: PatchMerging | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TinyViTBlock(dim, config.num_heads[stage], config.window_sizes[stage], config.mlp_ratio, config.local_conv_size)
            for _ in range(depth)
        )
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W)."""
        x = x.permute(0, 2, 3, 1)
        for block in self.blocks:
            x = block(x)
        x = x.permute(0, 3, 1, 2)
        return x if self.downsample is None else self.downsample(x)


class TinyViT(nn.Module):
    """The image encoder: (B, 3, S, S) normalised pixels to a (B, out_channels, S/16, S/16) embedding."""

    def __init__(self, config: TinyViTConfig) -> None:
        super().__init__()
        self.config = config
        dims, last = config.embed_dims, len(config.embed_dims) - 1
        self.patch_embed = PatchEmbed(3, dims[0])
        self.layers = nn.ModuleList()
        for stage, (dim, depth) in enumerate(zip(dims, config.depths, strict=True)):
            # Every stage but the last ends by moving to the next width; the move into the last
            # stage keeps the resolution (stride 1), so the embedding is 1/16 of the input.
            downsample = None if stage == last else PatchMerging(dim, dims[stage + 1], stride=1 if stage + 1 == last else 2)
            if stage == 0:
                self.layers.append(ConvStage(dim, depth, config.mbconv_expand_ratio, downsample))
            else:
                self.layers.append(AttentionStage(dim, depth, config, stage, downsample))
        self.norm_head = nn.LayerNorm(dims[-1])  # the classifier: only its weights are used (to load the file)
        self.head = nn.Linear(dims[-1], config.num_classes)
        out = config.out_channels
        self.neck = nn.Sequential(
            nn.Conv2d(dims[-1], out, kernel_size=1, bias=False),
            LayerNorm2d(out),
            nn.Conv2d(out, out, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out),
        )

    def forward(self, x: torch.Tensor, after_stage: Callable[[], None] | None = None) -> torch.Tensor:
        """The embedding of normalised, padded pixels; `after_stage()` is called between stages
        (a cancel check: it may raise to stop)."""
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
            if after_stage is not None:
                after_stage()
        return self.neck(x)

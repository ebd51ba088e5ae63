"""SAM's prompt encoder: clicks and a box to "sparse" tokens, and the dense embedding added to the photo's.

A position is encoded with random Fourier features (a fixed Gaussian matrix saved with the weights);
a learned vector then says what the position is: a click on the object, a click off it, a box's
top-left or bottom-right corner, or padding ("not a point").
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from inpaint_studio.selection.sam.norm import LayerNorm2d

# Point labels, as SAM's decoder was trained with them.
NOT_A_POINT, BACKGROUND, OBJECT = -1, 0, 1


class PositionEmbeddingRandom(nn.Module):
    """Coordinates in [0, 1] to sin/cos of their projection on random frequencies."""

    positional_encoding_gaussian_matrix: torch.Tensor

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_features))

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        """(..., 2) x, y in [0, 1] to (..., 2 * num_features)."""
        projected = 2 * math.pi * ((2 * coords - 1) @ self.positional_encoding_gaussian_matrix)
        return torch.cat([projected.sin(), projected.cos()], dim=-1)

    def grid(self, height: int, width: int) -> torch.Tensor:
        """The encoding of every cell centre of a height x width grid, (C, height, width)."""
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
        xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
        coords = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (height, width, 2) as x, y
        return self.encode(coords).permute(2, 0, 1)


class PromptEncoder(nn.Module):
    def __init__(self, embed_dim: int, embedding_side: int, input_side: int, mask_in_chans: int) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.embedding_side = embedding_side  # of the photo's embedding
        self.input_side = input_side  # of the padded photo the encoder saw: clicks are in its pixels
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        # Background click, object click, box top-left, box bottom-right.
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        # SAM can also take a previous low-resolution mask as a prompt. This app prompts with clicks and
        # boxes only; the layers are here so that the published weights load.
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def dense_positions(self) -> torch.Tensor:
        """The positional encoding of the photo's embedding grid, (1, C, side, side)."""
        return self.pe_layer.grid(self.embedding_side, self.embedding_side)[None]

    def forward(
        self, points: tuple[torch.Tensor, torch.Tensor] | None, boxes: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse tokens (B, N, C) for `points` ((B, N, 2) x, y in input pixels; (B, N) labels) and
        `boxes` ((B, 4) x0, y0, x1, y1), and the dense embedding (B, C, side, side) for "no mask"."""
        batch = points[0].shape[0] if points is not None else boxes.shape[0] if boxes is not None else 1
        device = self.no_mask_embed.weight.device
        sparse = [torch.empty(batch, 0, self.embed_dim, device=device)]
        if points is not None:
            # Without a box the decoder was trained with one padding point after the clicks.
            sparse.append(self._embed_points(*points, pad=boxes is None))
        if boxes is not None:
            sparse.append(self._embed_boxes(boxes))
        dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, self.embedding_side, self.embedding_side)
        return torch.cat(sparse, dim=1), dense

    def _encode_pixels(self, coords: torch.Tensor) -> torch.Tensor:
        return self.pe_layer.encode((coords + 0.5) / self.input_side)  # + 0.5: the pixel's centre

    def _embed_points(self, coords: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        if pad:
            coords = torch.cat([coords, torch.zeros_like(coords[:, :1])], dim=1)
            labels = torch.cat([labels, torch.full_like(labels[:, :1], NOT_A_POINT)], dim=1)
        embedding = self._encode_pixels(coords.float())
        labels = labels[..., None]
        embedding = torch.where(labels == NOT_A_POINT, self.not_a_point_embed.weight, embedding)
        embedding = embedding + (labels == BACKGROUND) * self._learned(0)
        return embedding + (labels == OBJECT) * self._learned(1)

    def _embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        corners = self._encode_pixels(boxes.float().reshape(-1, 2, 2))
        top_left = corners[:, 0] + self._learned(2)
        bottom_right = corners[:, 1] + self._learned(3)
        return torch.stack([top_left, bottom_right], dim=1)

    def _learned(self, kind: int) -> torch.Tensor:
        """The learned vector (1, C) of a kind of point: background click, object click, box corner 1 or 2."""
        return cast(nn.Embedding, self.point_embeddings[kind]).weight

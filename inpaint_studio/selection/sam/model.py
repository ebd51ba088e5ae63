"""The whole MobileSAM network, loading its published weights, and the photo's way in and the masks' way out.

Way in (as SAM's predictor): the photo is resized so its longer side is 1024 px (bilinear with
antialiasing, as PIL does it, which is what SAM's torchvision resize runs), normalised with SAM's
pixel mean and standard deviation, and zero-padded at the bottom and right to 1024x1024. Clicks and
boxes are scaled by the same factors. Way out: the decoder's 256x256 logits are upscaled to
1024x1024, the padding is cut off, the rest is resized to the photo and thresholded at 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F  # noqa: N812 - the usual name

from inpaint_studio.core.errors import ModelError
from inpaint_studio.models.safe_load import load_state_dict, state_dict_mismatch
from inpaint_studio.selection.sam.mask_decoder import MaskDecoder, TwoWayTransformer
from inpaint_studio.selection.sam.prompt_encoder import PromptEncoder
from inpaint_studio.selection.sam.tiny_vit import TinyViT, TinyViTConfig

PIXEL_MEAN = (123.675, 116.28, 103.53)  # ImageNet's, in 0-255 RGB, as SAM was trained
PIXEL_STD = (58.395, 57.12, 57.375)
MASK_THRESHOLD = 0.0  # on the logits


@dataclass(frozen=True)
class SamConfig:
    """MobileSAM's sizes (`build_sam_vit_t`); the prompt width is the encoder's output width."""

    encoder: TinyViTConfig = field(default_factory=TinyViTConfig)
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_heads: int = 8
    decoder_mlp_dim: int = 2048
    iou_head_hidden_dim: int = 256
    num_multimask_outputs: int = 3


MOBILE_SAM = SamConfig()


class Sam(nn.Module):
    """Image encoder, prompt encoder and mask decoder, under the names of the published state dict."""

    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor

    def __init__(self, config: SamConfig = MOBILE_SAM) -> None:
        super().__init__()
        self.config = config
        encoder, dim = config.encoder, config.encoder.out_channels
        self.image_encoder = TinyViT(encoder)
        self.prompt_encoder = PromptEncoder(dim, encoder.embedding_side, encoder.image_size, config.mask_in_chans)
        transformer = TwoWayTransformer(config.decoder_depth, dim, config.decoder_heads, config.decoder_mlp_dim)
        self.mask_decoder = MaskDecoder(
            dim, transformer, config.num_multimask_outputs, iou_head_depth=3, iou_head_hidden_dim=config.iou_head_hidden_dim
        )
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(-1, 1, 1), persistent=False)

    @property
    def image_size(self) -> int:
        return self.config.encoder.image_size


def load_mobile_sam(path: Path | str) -> Sam:
    """MobileSAM with the weights in `path` (a state dict, read without running code), in eval mode on the CPU.

    Raises ModelError naming the file when it is missing, damaged, or its tensors do not fit the network.
    """
    path = Path(path)
    state = load_state_dict(path)
    model = Sam(MOBILE_SAM)
    problem = state_dict_mismatch(model, state)
    if problem:
        raise ModelError(f"The file {path} is not MobileSAM's weights: {problem}.")
    model.load_state_dict(state, strict=True)
    return model.eval()


def input_size(height: int, width: int, side: int) -> tuple[int, int]:
    """(height, width) of the photo resized so that its longer side is `side`, rounded as SAM rounds."""
    scale = side / max(height, width)
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))  # a 1 x 5000 strip keeps a row


def image_to_input(model: Sam, image: np.ndarray) -> torch.Tensor:
    """uint8 RGB (H, W, 3) to the encoder's (1, 3, S, S) input on the model's device: resized, normalised, padded."""
    side = model.image_size
    height, width = input_size(image.shape[0], image.shape[1], side)
    resized = Image.fromarray(np.ascontiguousarray(image)).resize((width, height), Image.Resampling.BILINEAR)
    pixels = torch.from_numpy(np.array(resized)).to(model.pixel_mean.device).permute(2, 0, 1).float()
    normalised = (pixels - model.pixel_mean) / model.pixel_std
    return F.pad(normalised, (0, side - width, 0, side - height))[None]


def logits_to_mask(logits: torch.Tensor, side: int, input_hw: tuple[int, int], photo_hw: tuple[int, int]) -> np.ndarray:
    """The decoder's low-resolution logits (h, w) for one mask to a uint8 mask (255 = selected) of the photo's size."""
    padded = F.interpolate(logits[None, None].float(), (side, side), mode="bilinear", align_corners=False)[0, 0]
    content = padded[: input_hw[0], : input_hw[1]].cpu().numpy()
    # The last resize runs in OpenCV (the same half-pixel bilinear as torch's), which keeps a click on a
    # large photo fast and the full-size array off the GPU.
    full = cv2.resize(content, (photo_hw[1], photo_hw[0]), interpolation=cv2.INTER_LINEAR)
    return np.where(full > MASK_THRESHOLD, np.uint8(255), np.uint8(0))

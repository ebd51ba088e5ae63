"""One photo's SAM session: the embedding computed once, then masks for clicks and a box in milliseconds.

`embed` is the slow part (seconds on a CPU) and may run on a background thread; `predict` runs the
prompt encoder and the mask decoder only (well under a tenth of a second on one CPU core). A single
click is ambiguous (a shirt, or the person wearing it?), so for one click SAM's three candidate masks
are made and the one with the best predicted IoU is kept, as SAM's predictor recommends; with more
clicks or a box the single-mask output is the better one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from inpaint_studio.core.boxes import Box
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.selection.sam.model import Sam, image_to_input, input_size, load_mobile_sam, logits_to_mask
from inpaint_studio.selection.sam.prompt_encoder import BACKGROUND, OBJECT

Click = tuple[float, float, bool]  # x, y in photo pixels, and True for "part of the object"


@dataclass(frozen=True)
class _Embedding:
    features: torch.Tensor  # (1, C, side, side) on the model's device
    photo_hw: tuple[int, int]
    input_hw: tuple[int, int]  # the photo's size inside the padded encoder input


class SamSession:
    """MobileSAM on one device, with the embedding of the photo last given to `embed`."""

    def __init__(self, model: Sam | Path | str, device: str = "cpu") -> None:
        """`model`: a built network, or the path of MobileSAM's weights (ModelError if they cannot be used)."""
        network = model if isinstance(model, Sam) else load_mobile_sam(model)
        self.device = device
        self.model = network.to(device).eval()
        with torch.inference_mode():
            self._image_pe = self.model.prompt_encoder.dense_positions()  # the same for every photo and click
        # Replaced in one assignment, so predict on one thread sees the old or the new photo's
        # embedding whole while embed runs on another.
        self._embedding: _Embedding | None = None

    @property
    def embedded_size(self) -> tuple[int, int] | None:
        """(height, width) of the photo embedded last, or None before the first `embed`."""
        embedding = self._embedding
        return embedding.photo_hw if embedding is not None else None

    def embed(self, image: np.ndarray, cancel: CancelToken | None = None) -> None:
        """Encode the photo (uint8 RGB, H x W x 3) for the next predictions. Slow: seconds on a CPU.

        Raises JobCancelled (leaving the previous embedding) when `cancel` is set between encoder stages.
        """
        check = cancel.raise_if_cancelled if cancel is not None else None
        photo_hw = (int(image.shape[0]), int(image.shape[1]))
        with torch.inference_mode():
            features = self.model.image_encoder(image_to_input(self.model, image), after_stage=check)
        self._embedding = _Embedding(features, photo_hw, input_size(*photo_hw, self.model.image_size))

    def predict(self, points: Sequence[Click] = (), box: Box | None = None) -> np.ndarray:
        """The mask (uint8, 255 = selected, the photo's size) for clicks (x, y, is_object) and an optional box."""
        embedding = self._embedding
        if embedding is None:
            raise RuntimeError("SamSession.predict needs the photo's embedding: call embed(image) first.")
        if not points and box is None:
            return np.zeros(embedding.photo_hw, np.uint8)
        (height, width), (in_height, in_width) = embedding.photo_hw, embedding.input_hw
        scale = torch.tensor([in_width / width, in_height / height], device=self.device)
        sam = self.model
        with torch.inference_mode():
            point_prompt = None
            if points:
                coords = torch.tensor([[x, y] for x, y, _ in points], dtype=torch.float32, device=self.device) * scale
                labels = torch.tensor([OBJECT if inside else BACKGROUND for *_, inside in points], device=self.device)
                point_prompt = (coords[None], labels[None])
            box_prompt = None
            if box is not None:
                corners = torch.tensor([[box.x0, box.y0], [box.x1, box.y1]], dtype=torch.float32, device=self.device)
                box_prompt = (corners * scale).reshape(1, 4)
            sparse, dense = sam.prompt_encoder(point_prompt, box_prompt)
            multimask = len(points) == 1 and box is None
            logits, iou = sam.mask_decoder(embedding.features, self._image_pe, sparse, dense, multimask)
            best = logits[0, int(iou[0].argmax())]
            return logits_to_mask(best, sam.image_size, embedding.input_hw, embedding.photo_hw)

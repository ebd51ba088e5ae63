"""MI-GAN (Sargsyan et al. 2023, Picsart): a small, fast inpainting GAN for 512x512 crops.

About 6M parameters, so it runs interactively even on a CPU. Tensor
conventions (see ../shared/MODELS.md): `model(x)` with
x = cat([0.5 - m, img * (1 - m)]), img float [1, 3, 512, 512] RGB in [-1, 1],
m [1, 1, 512, 512] with 1 = hole; output [1, 3, 512, 512] in [-1, 1]. The
pipeline hands it a square window around each mask region scaled to 512 and
keeps the original pixels outside the mask when pasting back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from inpaint_studio.core.devices import Device
from inpaint_studio.core.errors import EngineError
from inpaint_studio.engines.base import EngineInfo, EngineKind
from inpaint_studio.engines.torch_engine import TorchEngine

if TYPE_CHECKING:
    import torch

_SIZE = 512


class MiganEngine(TorchEngine):
    # Plain convolutions: float16 on CUDA keeps the quality and halves the memory.
    half_on_cuda = True
    info = EngineInfo(
        id="migan",
        name="MI-GAN",
        description="Fast, light inpainting network working on 512x512 crops. Good on objects of moderate size.",
        kind=EngineKind.LEARNED,
        devices=(Device.CPU, Device.CUDA, Device.MPS),
        working_size=_SIZE,
        fixed_size=True,
        square_crop=True,
        # At least 128 px of photo around each region, as the model's authors crop.
        context_margin=128,
        interactive=True,
        models=("migan",),
    )

    def to_tensors(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, ...]:
        import torch

        if image.shape[:2] != (_SIZE, _SIZE):
            raise EngineError(f"MI-GAN works on {_SIZE}x{_SIZE} crops, got {image.shape[1]}x{image.shape[0]}.")
        rgb = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None]
        rgb.mul_(1.0 / 127.5).sub_(1.0)
        hole = torch.from_numpy((mask > 0).astype(np.float32))[None, None]
        return (torch.cat([0.5 - hole, rgb * (1.0 - hole)], dim=1),)

    def from_output(self, output: torch.Tensor, image: np.ndarray) -> np.ndarray:
        import torch

        rgb = output[0].mul(127.5).add_(127.5).round_().clamp_(0, 255).to(torch.uint8)
        return np.ascontiguousarray(rgb.permute(1, 2, 0).numpy())

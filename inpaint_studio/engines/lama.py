"""LaMa (Suvorov et al. 2022, "big-lama"): a large-mask inpainting network with Fourier convolutions.

Its fast Fourier convolutions see the whole crop at once, which is why it
continues repeating texture and long structures across big holes. Tensor
conventions (see ../shared/MODELS.md): `model(image, mask)`, image float32
[1, 3, H, W] RGB in [0, 1], mask float32 [1, 1, H, W] with 1 = hole, H and W
a multiple of 8; output [1, 3, H, W] in [0, 1].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from inpaint_studio.core.devices import Device
from inpaint_studio.engines.base import EngineInfo, EngineKind
from inpaint_studio.engines.torch_engine import TorchEngine

if TYPE_CHECKING:
    import torch

_MULTIPLE = 8


def pad_symmetric(array: np.ndarray, multiple: int) -> np.ndarray:
    """`array` grown at the bottom and right to a multiple of `multiple`, mirrored (edge repeated)."""
    height, width = array.shape[:2]
    pad = [(0, -height % multiple), (0, -width % multiple)] + [(0, 0)] * (array.ndim - 2)
    if not pad[0][1] and not pad[1][1]:
        return array
    return np.pad(array, pad, mode="symmetric")


class LamaEngine(TorchEngine):
    # Kept in float32 on CUDA: the Fourier convolutions (FFT) lose too much in float16.
    half_on_cuda = False
    info = EngineInfo(
        id="lama",
        name="LaMa",
        description="Large-mask inpainting network (big-lama). Best for large objects and repeating texture.",
        kind=EngineKind.LEARNED,
        devices=(Device.CPU, Device.CUDA, Device.MPS),
        # Trained at 256 px, LaMa generalises well up to about 2k thanks to its
        # image-wide Fourier convolutions, but time and memory grow with the
        # pixel count: 1024 keeps a large object at near full resolution while a
        # crop stays around a second on a GPU and a few seconds on a CPU.
        working_size=1024,
        # The engine pads itself: MODELS.md pads image *and* mask symmetrically,
        # while the pipeline pads the mask with zeros, which would show the
        # mirrored object as known context when a hole touches the photo's edge.
        pad_multiple=1,
        # The network uses context from the whole crop, and a wide ring of it is
        # cheap next to the hole (IOPaint crops with the same 128 px margin).
        context_margin=128,
        context_ratio=0.25,
        interactive=True,
        models=("big-lama",),
    )

    def to_tensors(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, ...]:
        import torch

        image = pad_symmetric(image, _MULTIPLE)
        hole = pad_symmetric(mask > 0, _MULTIPLE)
        rgb = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))
        rgb.mul_(1.0 / 255.0)
        return rgb[None], torch.from_numpy(hole.astype(np.float32))[None, None]

    def from_output(self, output: torch.Tensor, image: np.ndarray) -> np.ndarray:
        import torch

        height, width = image.shape[:2]
        rgb = output[0, :, :height, :width].mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
        return np.ascontiguousarray(rgb.permute(1, 2, 0).numpy())

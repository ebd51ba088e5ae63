"""A small convolutional network that marks scratches, hairs and dust pixel by pixel.

A four-level U-Net (16-32-48-64 channels, 228 k parameters) reads the photo
(RGB, plus each pixel's weakest and strongest channel, where white and black
damage stand out most) and gives each pixel the probability that damage
changed it. It was trained on the CPU with `tools/train_damage_detector.py`:
`restore.degrade` damage drawn over photos that are not in the evaluation set.

Its receptive field (101 px) lets it tell a scratch from a similar line of
the photo by what surrounds it, which the classical filters (`classical.py`)
judge over 15-31 px only; and it is trained to mark the damage's own pixels,
so the fill is not grown around them (each pixel of growth costs about 2 dB
inside thin scratches). Photos with a short side over `WORK_SIDE` are analysed
scaled down to it (damage on a scan scales with its resolution), in tiles so
memory stays bounded, and the log-odds are scaled back up.

torch is imported inside the functions, so the app starts without it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from inpaint_studio.core.errors import ModelError
from inpaint_studio.core.jobs import CancelToken, ProgressFn, no_progress

if TYPE_CHECKING:
    import torch

WIDTHS = (16, 32, 48, 64)
MIN_SIDE = 2 ** (len(WIDTHS) - 1)  # the smallest tile side the network's three poolings can take
IN_CHANNELS = 5  # R, G, B, min(R, G, B), max(R, G, B)
WORK_SIDE = 1024  # photos with a longer short side are analysed scaled down to this
TILE, OVERLAP = 768, 64  # tile side, and context on each side (the receptive field reaches 50 px)
WEIGHTS_NAME = "damage_detector.safetensors"

_lock = threading.Lock()
_cached: dict[Path, torch.nn.Module] = {}

log = logging.getLogger(__name__)


def build_network(normalise: bool = False) -> torch.nn.Module:
    """The detector's architecture. `normalise` adds batch normalisation (training only;
    `fold_batch_norm` merges it into the convolutions for the shipped weights)."""
    import torch
    from torch import nn

    def block(cin: int, cout: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        for a, b in ((cin, cout), (cout, cout)):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b) if normalise else nn.Identity(), nn.ReLU(inplace=True)]
        return nn.Sequential(*layers)

    class DamageNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = WIDTHS
            self.down = nn.ModuleList([block(IN_CHANNELS, w[0])] + [block(w[i], w[i + 1]) for i in range(len(w) - 1)])
            self.up = nn.ModuleList([block(w[i] + w[i + 1], w[i]) for i in range(len(w) - 1)])
            self.head = nn.Conv2d(w[0], 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            skips = []
            for index, stage in enumerate(self.down):
                if index:
                    x = nn.functional.max_pool2d(x, 2)
                x = stage(x)
                skips.append(x)
            for index in reversed(range(len(self.up))):
                skip = skips[index]
                x = nn.functional.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
                x = self.up[index](torch.cat([skip, x], 1))
            return self.head(x)  # logits (N, 1, H, W)

    return DamageNet()


def network_input(rgb: np.ndarray) -> np.ndarray:
    """float32 (5, H, W) from uint8 RGB (H, W, 3): channels centred on 0."""
    planes = rgb.astype(np.float32) * (1 / 255.0) - 0.5
    low, high = planes.min(axis=2), planes.max(axis=2)
    return np.concatenate([planes.transpose(2, 0, 1), low[None], high[None]])


def fold_batch_norm(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of `network` (built with normalise=True) for a network built without it."""
    import torch
    from torch import nn

    folded = build_network(normalise=False)
    trained = dict(network.named_modules())
    with torch.no_grad():
        for name, module in folded.named_modules():
            if not isinstance(module, nn.Conv2d):
                continue
            source = trained[name]
            weight, bias = source.weight.clone(), source.bias.clone()
            parent, _, index = name.rpartition(".")
            norm = trained.get(f"{parent}.{int(index) + 1}") if index.isdigit() else None
            if isinstance(norm, nn.BatchNorm2d):
                assert norm.running_var is not None and norm.running_mean is not None  # tracked in every checkpoint
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                weight = weight * scale[:, None, None, None]
                bias = (bias - norm.running_mean) * scale + norm.bias
            module.weight.copy_(weight)
            assert module.bias is not None
            module.bias.copy_(bias)
    return {key: value.contiguous() for key, value in folded.state_dict().items()}


def default_weights() -> Path:
    """The shipped weights (inside the package's resources)."""
    from inpaint_studio.resources import resource_path

    return resource_path(WEIGHTS_NAME)


def load_network(path: Path | None = None) -> torch.nn.Module:
    """The detector with weights from `path` (default: the shipped ones), cached per file."""
    from inpaint_studio.models.safe_load import load_state_dict, state_dict_mismatch

    path = Path(path) if path is not None else default_weights()
    with _lock:
        if path not in _cached:
            network = build_network()
            state = load_state_dict(path)
            problem = state_dict_mismatch(network, state) or "names or shapes differ"
            try:
                network.load_state_dict(state)
            except RuntimeError as e:  # missing or mis-shaped tensors
                log.warning("the damage detector's weights in %s do not fit: %s", path, e)
                raise ModelError(
                    f"The damage detector's weights in {path} do not fit its network: {problem}; "
                    "reinstall the app to get the shipped weights back."
                ) from e
            _cached[path] = network.eval()
        return _cached[path]


def damage_logits(
    rgb: np.ndarray,
    network: torch.nn.Module | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """float32 (H, W): log-odds that damage changed each pixel of `rgb` (uint8 RGB).

    `progress` hears the share of tiles done; `cancel` is checked between tiles (JobCancelled).
    """
    import torch

    network = network if network is not None else load_network()
    height, width = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / min(height, width))
    work = rgb
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        work = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    logits = np.empty(work.shape[:2], np.float32)
    tiles = list(_tiles(*work.shape[:2]))
    with torch.inference_mode():
        for done, ((top, left, bottom, right), (y0, x0, y1, x1)) in enumerate(tiles):
            if cancel is not None:
                cancel.raise_if_cancelled()
            progress(done / len(tiles))
            tile = work[y0:y1, x0:x1]
            # The network halves a tile three times: a side under MIN_SIDE (a photo 1, 2 or 7 pixels
            # across) is first extended with copies of its edge pixels, and the extension dropped again.
            pad_y, pad_x = max(0, MIN_SIDE - tile.shape[0]), max(0, MIN_SIDE - tile.shape[1])
            if pad_y or pad_x:
                tile = cv2.copyMakeBorder(np.ascontiguousarray(tile), 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
            x = torch.from_numpy(network_input(tile))[None]
            out = network(x)[0, 0].numpy()
            logits[top:bottom, left:right] = out[top - y0 : bottom - y0, left - x0 : right - x0]
    progress(1.0)
    if scale < 1.0:
        return cv2.resize(logits, (width, height), interpolation=cv2.INTER_LINEAR)
    return logits


def _tiles(height: int, width: int):
    """((top, left, bottom, right) kept, (y0, x0, y1, x1) computed with context) covering the image."""
    for top in range(0, height, TILE):
        for left in range(0, width, TILE):
            bottom, right = min(top + TILE, height), min(left + TILE, width)
            yield (top, left, bottom, right), (
                max(0, top - OVERLAP), max(0, left - OVERLAP), min(height, bottom + OVERLAP), min(width, right + OVERLAP)
            )

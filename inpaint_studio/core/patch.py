"""A rectangle of new pixels with per-pixel coverage: what one fill changes in a photo.

Keeping results as patches (not whole images) lets a layer store only what it
changed, and lets the untouched rest of a photo stay bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inpaint_studio.core.boxes import Box


@dataclass(frozen=True, eq=False)  # identity, not an elementwise array comparison
class Patch:
    x: int
    y: int
    rgb: np.ndarray  # uint8 (h, w, 3)
    alpha: np.ndarray  # uint8 (h, w); 255 = replaced, 0 = untouched

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def box(self) -> Box:
        """The rectangle the patch covers."""
        return Box(self.x, self.y, self.x + self.width, self.y + self.height)

    def composite_onto(self, image: np.ndarray) -> None:
        """Blend this patch into `image` (uint8 RGB or RGBA, modified in place).

        Integer blend: alpha 0 leaves a pixel exactly as it was, alpha 255
        takes the patch's pixel exactly. An alpha channel in `image` is kept.
        """
        region = image[self.y : self.y + self.height, self.x : self.x + self.width, :3]
        _blend()(region, self.rgb, self.alpha)


def _blend() -> Callable[[np.ndarray, np.ndarray, np.ndarray], None]:
    """The compiled blend, imported on first use: numba costs start-up time the CLI may not need."""
    from inpaint_studio.core._blend_kernel import blend

    return blend


def apply_patches(image: np.ndarray, patches: list[Patch]) -> np.ndarray:
    """A copy of `image` with `patches` composited in order."""
    out = image.copy()
    for patch in patches:
        patch.composite_onto(out)
    return out


def coverage_mask(shape: tuple[int, int], patches: list[Patch]) -> np.ndarray:
    """Bool (H, W): True where any patch changes the image (alpha > 0)."""
    covered = np.zeros(shape, dtype=bool)
    for p in patches:
        covered[p.y : p.y + p.height, p.x : p.x + p.width] |= p.alpha > 0
    return covered

"""The photo record: an opened photo's pixels as engines see them, and all it came with.

Shared by every floor above (documents, saving, engines' callers, batch), so it
lives here; `io.image_file` fills it when reading and consults it when writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

# Pillow modes with more than 8 bits per sample.
DEEP_MODES = {"I;16", "I", "F"}


@dataclass
class Photo:
    path: Path
    format: str  # Pillow format name ("JPEG", "PNG", ...); multi-picture JPEG (MPO) counts as "JPEG"
    rgb: np.ndarray  # uint8 (H, W, 3), oriented, C-contiguous: what engines process and the GUI shows
    alpha: np.ndarray | None  # uint8 (H, W), oriented; None if the image has no transparency
    native: Image.Image  # oriented, in the source's mode; for 16-bit RGB(A) the 8-bit view (see `deep`)
    exif: bytes | None  # with Orientation = 1, since the pixels are already upright
    icc_profile: bytes | None
    save_options: dict[str, Any]  # Pillow save kwargs reproducing the input's format settings
    deep: np.ndarray | None = None  # uint16 (H, W, 3|4) RGB(A), oriented: 16-bit colour Pillow cannot hold
    xmp: bytes | None = None  # the XMP packet (keywords, rating, captions ...), orientation reset like the EXIF's
    iptc: bytes | None = None  # IPTC-IIM records (a JPEG's Photoshop APP13 block, a TIFF's tag 33723)
    frames: int = 1  # frames or pages in the file (animated GIF/WebP, multi-page TIFF); only the first is edited

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def bit_depth(self) -> int:
        """8, or 16 for any source with more than 8 bits per channel (16-bit, 32-bit int, float)."""
        return 16 if self.deep is not None or self.native.mode in DEEP_MODES else 8

    @classmethod
    def from_pixels(cls, rgb: np.ndarray, path: Path) -> Photo:
        """A photo that never was a file (pasted from the clipboard): saved as PNG unless exported otherwise."""
        pixels = np.ascontiguousarray(rgb, dtype=np.uint8)
        return cls(path, "PNG", pixels, None, Image.fromarray(pixels), None, None, {})

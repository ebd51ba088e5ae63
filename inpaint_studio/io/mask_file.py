"""Masks from image files: 255 = pixels to fill, 0 = keep.

A mask is read like a photo (same formats, orientation and error messages).
A painted layer with transparency uses its alpha (opaque = fill); anything
else uses its brightness (white = fill).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from inpaint_studio.core.mask_ops import binarize, resize_mask
from inpaint_studio.io.image_file import load_image, resolve_max_pixels


def load_mask(
    path: str | os.PathLike, size: tuple[int, int] | None = None, *, max_pixels: int | None = None
) -> tuple[np.ndarray, list[str]]:
    """Return a uint8 (H, W) 0/255 mask and warning sentences.

    `size` is the photo's (width, height); a mask of another size is scaled to it
    (nearest neighbour) with a warning. The pixel limit is `max_pixels` as for
    load_image, raised to the photo's own size: that photo has passed the check.
    """
    path = Path(path)
    limit = resolve_max_pixels(max_pixels)
    if size is not None:
        limit = max(limit, size[0] * size[1])
    loaded = load_image(path, max_pixels=limit)
    if loaded.alpha is not None and loaded.alpha.min() < 255:
        values = loaded.alpha
    else:
        values = np.asarray(Image.fromarray(loaded.rgb).convert("L"))
    mask = binarize(values)

    warnings: list[str] = []
    if size is not None and (loaded.width, loaded.height) != tuple(size):
        width, height = size
        warnings.append(
            f"Mask '{path}' is {loaded.width}x{loaded.height} but the image is {width}x{height}; "
            "it was scaled to fit."
        )
        mask = resize_mask(mask, width, height)
    return mask, warnings

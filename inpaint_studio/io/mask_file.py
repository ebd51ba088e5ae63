"""Masks in image files: 255 = pixels to fill, 0 = keep.

A mask is read like a photo (same formats, orientation and error messages).
A painted layer with transparency uses its alpha (opaque = fill); anything
else uses its brightness (white = fill). Masks are written greyscale, in
lossless formats only, atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from inpaint_studio.core.errors import ImageError
from inpaint_studio.core.mask_ops import binarize, resize_mask
from inpaint_studio.io.atomic import atomic_write
from inpaint_studio.io.image_file import load_image, resolve_max_pixels

_MASK_FORMATS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}  # lossless only


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


def save_mask(mask: np.ndarray, path: Path) -> Path:
    """Write a 0/255 mask as a greyscale image (PNG, TIFF or BMP by extension), atomically."""
    fmt = mask_format(path)
    image = Image.fromarray(np.ascontiguousarray(mask), mode="L")
    try:
        atomic_write(path, lambda file: image.save(file, format=fmt))
    except OSError as e:
        raise ImageError(f"Cannot write the mask '{path}': {(e.strerror or str(e)).rstrip('.')}.") from e
    return path


def mask_format(path: Path) -> str:
    """The Pillow format to write a mask at `path` in; a clear ImageError if it cannot be written there."""
    fmt = _MASK_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"Cannot write the mask '{path}': use a .png, .tif or .bmp name (a mask must be lossless).")
    if path.is_dir():
        raise ImageError(f"Cannot write the mask '{path}': it is a folder.")
    if not path.parent.is_dir():
        raise ImageError(f"Cannot write the mask '{path}': the folder '{path.parent}' does not exist.")
    return fmt

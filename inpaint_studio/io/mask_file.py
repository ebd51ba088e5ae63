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
from PIL import Image, ImageOps

from inpaint_studio.core.errors import ImageError
from inpaint_studio.core.mask_ops import binarize, resize_mask
from inpaint_studio.io.atomic import atomic_write, name_length_problem
from inpaint_studio.io.image_file import (
    check_is_readable_file,
    check_jpeg_scans,
    check_size,
    explained_read_errors,
    load_image,
    open_image,
    pillow_bomb_check_off,
    resolve_max_pixels,
)

_MASK_FORMATS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}  # lossless only
# A mask may have this many times its photo's pixels (and MASK_FREE_PIXELS in any case) before
# it is decoded reduced (JPEG) or refused: a huge mask for a small photo would cost gigabytes
# only to be scaled down.
MASK_OVERSIZE = 4
MASK_FREE_PIXELS = 16_000_000


def load_mask(
    path: str | os.PathLike, size: tuple[int, int] | None = None, *, max_pixels: int | None = None
) -> tuple[np.ndarray, list[str]]:
    """Return a uint8 (H, W) 0/255 mask and warning sentences.

    `size` is the photo's (width, height); a mask of another size is scaled to it
    (nearest neighbour) with a warning. The pixel limit is `max_pixels` as for
    load_image, raised to the photo's own size: that photo has passed the check.
    A mask far larger than the photo is decoded reduced (JPEG) or refused.
    """
    path = Path(path)
    limit = resolve_max_pixels(max_pixels)
    reduced = None
    if size is not None:
        limit = max(limit, size[0] * size[1])
        reduced = _load_oversized(path, size, limit)
    if reduced is not None:
        values, (mask_width, mask_height) = reduced
    else:
        loaded = load_image(path, max_pixels=limit)
        if loaded.alpha is not None and loaded.alpha.min() < 255:
            values = loaded.alpha
        else:
            values = np.asarray(Image.fromarray(loaded.rgb).convert("L"))
        mask_width, mask_height = loaded.width, loaded.height
    mask = binarize(values)

    warnings: list[str] = []
    if size is not None and (mask_width, mask_height) != tuple(size):
        width, height = size
        warnings.append(
            f"Mask '{path}' is {mask_width}x{mask_height} but the image is {width}x{height}; "
            "it was scaled to fit."
        )
        mask = resize_mask(mask, width, height)
    return mask, warnings


def _load_oversized(path: Path, size: tuple[int, int], limit: int) -> tuple[np.ndarray, tuple[int, int]] | None:
    """None for a mask of a sensible size (load it as usual); else its brightness, decoded reduced
    (a JPEG, by libjpeg while decoding), and its full upright size. ImageError if it cannot be reduced."""
    allowed = max(MASK_OVERSIZE * size[0] * size[1], MASK_FREE_PIXELS)
    check_is_readable_file(path)
    with explained_read_errors(path), pillow_bomb_check_off(), open_image(path) as im:
        full_size = im.size
        if full_size[0] * full_size[1] <= allowed:
            return None
        check_size(path, full_size, limit)
        if im.format in ("JPEG", "MPO"):
            check_jpeg_scans(path)
            im.draft("L", size)  # 1/2 to 1/8 of the size, never smaller than the photo
        if im.width * im.height > allowed:
            raise ImageError(
                f"Cannot use the mask '{path}': it is {full_size[0]}x{full_size[1]} pixels, more than "
                f"{MASK_OVERSIZE} times the {size[0]}x{size[1]} photo it is for; make the mask the photo's size."
            )
        im.load()
        upright = ImageOps.exif_transpose(im)
        values = np.asarray(upright.convert("L"))
    if (upright.width > upright.height) != (im.width > im.height):
        full_size = (full_size[1], full_size[0])  # turned a quarter by its orientation
    return values, full_size


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
    problem = name_length_problem(path)  # first: Path.is_dir raises for a name that long
    if problem:
        raise ImageError(f"Cannot write the mask '{path}': {problem}.")
    if path.is_dir():
        raise ImageError(f"Cannot write the mask '{path}': it is a folder.")
    if not path.parent.is_dir():
        raise ImageError(f"Cannot write the mask '{path}': the folder '{path.parent}' does not exist.")
    return fmt

"""Reading and writing photos and masks."""

from inpaint_studio.core.photo import Photo
from inpaint_studio.io.atomic import atomic_write
from inpaint_studio.io.image_file import (
    DEFAULT_MAX_PIXELS,
    default_output_path,
    load_image,
    save_image,
)
from inpaint_studio.io.mask_file import load_mask, save_mask

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "Photo",
    "atomic_write",
    "default_output_path",
    "load_image",
    "load_mask",
    "save_image",
    "save_mask",
]

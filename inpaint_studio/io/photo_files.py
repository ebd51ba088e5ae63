"""Which files of a folder are photos: one rule for the folder browser, batches and mask folders."""

from __future__ import annotations

from pathlib import Path

from inpaint_studio.core.errors import InpaintStudioError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"})

# The Pillow formats Inpaint Studio decodes, whatever a file is named: every Image.open in the
# package passes these (or fewer). The photo formats above, plus GIF; "JPEG" opens multi-picture
# JPEGs (MPO) too. Never EPS, PS or PDF: Pillow hands those to Ghostscript, where a crafted file
# can loop forever.
READ_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")
READ_FORMAT_NAMES = "JPEG, PNG, WebP, TIFF, BMP or GIF"  # for messages


def find_images(folder: Path) -> list[Path]:
    """Photos directly inside `folder` (not sub-folders, not hidden files), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InpaintStudioError(f"'{folder}' is not a folder.")
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()),
        key=lambda p: p.name.lower(),
    )

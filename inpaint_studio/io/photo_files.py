"""Which files of a folder are photos: one rule for the folder browser, batches and mask folders."""

from __future__ import annotations

from pathlib import Path

from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.io.formats import PHOTO_SUFFIXES

# Every photo format's extensions (io.formats), HEIC and AVIF included even where their decoder is
# missing: such a photo is then refused with the reason, never skipped without a word.
IMAGE_SUFFIXES = PHOTO_SUFFIXES


def find_images(folder: Path) -> list[Path]:
    """Photos directly inside `folder` (not sub-folders, not hidden files), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InpaintStudioError(f"'{folder}' is not a folder.")
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()),
        key=lambda p: p.name.lower(),
    )

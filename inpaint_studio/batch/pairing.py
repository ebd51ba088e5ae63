"""Which files of a folder are photos, and which mask goes with each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inpaint_studio.errors import InpaintStudioError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"})


@dataclass(frozen=True)
class BatchItem:
    image: Path
    mask: Path | None  # None: no mask was found for this photo
    output: Path


def find_images(folder: Path) -> list[Path]:
    """Photos directly inside `folder` (not sub-folders, not hidden files), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InpaintStudioError(f"'{folder}' is not a folder.")
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()),
        key=lambda p: p.name.lower(),
    )


def _masks_by_stem(mask_dir: Path, *, suffixed_only: bool) -> dict[str, Path]:
    """Mask files keyed by the lower-case stem of the photo they serve.

    `photo.png` and `photo_mask.png` both serve `photo` (the suffixed one wins);
    with `suffixed_only` (masks kept beside the photos) only `*_mask` files count.
    """
    masks: dict[str, Path] = {}
    for path in find_images(mask_dir):
        stem = path.stem.lower()
        if stem.endswith("_mask"):
            masks[stem[: -len("_mask")]] = path
    if not suffixed_only:
        for path in find_images(mask_dir):
            masks.setdefault(path.stem.lower(), path)
    return masks


def plan_batch(
    input_dir: Path,
    output_dir: Path,
    *,
    mask: Path | None = None,
    mask_dir: Path | None = None,
) -> list[BatchItem]:
    """One item per photo in `input_dir`: one `mask` for all, or masks matched by stem in `mask_dir`."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if (mask is None) == (mask_dir is None):
        raise InpaintStudioError("Give exactly one of a mask file (--mask) or a mask folder (--mask-dir).")
    images = find_images(input_dir)
    if output_dir.exists() and output_dir.resolve() == input_dir.resolve():
        raise InpaintStudioError(
            f"The output folder '{output_dir}' is the input folder; choose another so the originals stay untouched."
        )
    if mask is not None:
        mask = Path(mask)
        if not mask.is_file():
            raise InpaintStudioError(f"Mask file '{mask}' not found.")
        mask_files = {mask.resolve()}
        pick = lambda image: mask  # noqa: E731
    else:
        mask_dir = Path(mask_dir)
        masks = _masks_by_stem(mask_dir, suffixed_only=mask_dir.resolve() == input_dir.resolve())
        mask_files = {m.resolve() for m in masks.values()}
        pick = lambda image: masks.get(image.stem.lower())  # noqa: E731
    # Masks kept beside the photos are not photos to process.
    photos = [image for image in images if image.resolve() not in mask_files]
    return [BatchItem(image, pick(image), output_dir / image.name) for image in photos]

"""Remove the masked content of one photo file and write the result: the unit of work
behind `inpaint-studio remove`, every item of a batch, and the GUI's batch dialog."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inpaint_studio.core.errors import ImageError
from inpaint_studio.core.jobs import CancelToken, ProgressFn, no_progress
from inpaint_studio.core.mask_ops import is_empty
from inpaint_studio.core.patch import apply_patches
from inpaint_studio.core.photo import Photo
from inpaint_studio.engines.base import Engine
from inpaint_studio.engines.pipeline import DEFAULT_FEATHER, inpaint_patches
from inpaint_studio.io import load_image, load_mask, save_image
from inpaint_studio.io.image_file import check_output_path
from inpaint_studio.io.mask_file import mask_format


@dataclass
class FileOutcome:
    """What happened to one file. `output` is None when nothing was written."""

    image: Path
    output: Path | None = None
    skipped: str | None = None  # why nothing was done, e.g. an empty mask
    warnings: list[str] = field(default_factory=list)
    regions: int = 0
    engine_seconds: float = 0.0


def process_file(
    engine: Engine,
    image_path: Path,
    mask_path: Path,
    output_path: Path,
    params: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = False,
    quality: int | None = None,
    max_pixels: int | None = None,
    feather: int = DEFAULT_FEATHER,
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
) -> FileOutcome:
    """Load, fill every mask region, save atomically in the input's format.

    Raises InpaintStudioError subclasses (bad files, engine failure, cancel);
    nothing is written unless the whole job succeeds.
    """
    image_path, output_path = Path(image_path), Path(output_path)
    check_job_paths(image_path, output_path, mask=Path(mask_path), overwrite=overwrite)
    photo = load_image(image_path, max_pixels=max_pixels)
    mask, warnings = load_mask(mask_path, size=(photo.width, photo.height))
    outcome = FileOutcome(image=image_path, warnings=warnings)
    if is_empty(mask):
        outcome.skipped = f"the mask '{Path(mask_path).name}' is empty, so there is nothing to remove"
        return outcome

    fill_and_save(
        engine, photo, mask, output_path, outcome, params,
        overwrite=overwrite, quality=quality, feather=feather, progress=progress, cancel=cancel,
    )
    return outcome


def check_job_paths(
    image: Path, output: Path, *, mask: Path | None = None, mask_out: Path | None = None, overwrite: bool = False
) -> None:
    """Before any work: each output can be written, the two outputs are different files, and no
    output replaces an input (the photo, the mask) unless `overwrite`. ImageError names the file."""
    check_output_path(output)
    if mask_out is not None:
        mask_format(mask_out)
        if _same_file(output, mask_out):
            raise ImageError(
                f"The output '{output}' and the mask output '{mask_out}' are the same file; give them different names."
            )
    if overwrite:
        return
    if _same_file(output, image):
        raise ImageError(f"Refusing to overwrite the input file '{output}'; choose another output or pass --overwrite.")
    if mask is not None and _same_file(output, mask):
        raise ImageError(
            f"Refusing to overwrite the input mask '{output}' with the result; choose another output or pass --overwrite."
        )
    if mask_out is not None and _same_file(mask_out, image):
        raise ImageError(
            f"Refusing to overwrite the input file '{mask_out}' with the mask; choose another --mask-out or pass --overwrite."
        )


def _same_file(a: Path, b: Path) -> bool:
    """True if `a` and `b` name one file: by any path or link when both exist, else by their resolved paths."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return os.path.normcase(a.resolve()) == os.path.normcase(b.resolve())
    except OSError:
        return False


def fill_and_save(
    engine: Engine,
    photo: Photo,
    mask: np.ndarray,
    output_path: Path,
    outcome: FileOutcome,
    params: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = False,
    quality: int | None = None,
    feather: int = DEFAULT_FEATHER,
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
) -> None:
    """Fill every region of a non-empty `mask` in `photo`, save the result, and record it in `outcome`."""
    started = time.perf_counter()
    patches = inpaint_patches(engine, photo.rgb, mask, params, progress=progress, cancel=cancel, feather=feather)
    outcome.engine_seconds = time.perf_counter() - started
    outcome.regions = len(patches)
    result = apply_patches(photo.rgb, patches)
    outcome.output = save_image(photo, result, output_path, overwrite=overwrite, quality=quality, warn=outcome.warnings.append)

"""Restore one photo file: detect its damage, fill it, write the result (and the mask).

The unit of work behind `inpaint-studio restore`. It follows `remove`'s rules
(batch.file_job): the output is written atomically in the input's format, the
input is never replaced without `overwrite`, and nothing is written unless the
whole job succeeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inpaint_studio.batch.file_job import FileOutcome, check_job_paths, fill_and_save
from inpaint_studio.core.jobs import CancelToken, ProgressFn, no_progress
from inpaint_studio.core.mask_ops import is_empty
from inpaint_studio.engines.base import Engine
from inpaint_studio.io import load_image
from inpaint_studio.io.mask_file import save_mask
from inpaint_studio.restore.detect import (
    DEFAULT_DETECTOR,
    DEFAULT_SENSITIVITY,
    damage_map,
    fill_mask,
    threshold_for,
)


def restore_file(
    engine: Engine,
    image_path: Path,
    output_path: Path,
    params: Mapping[str, Any] | None = None,
    *,
    sensitivity: float = DEFAULT_SENSITIVITY,
    detector: str = DEFAULT_DETECTOR,
    mask_path: Path | None = None,
    overwrite: bool = False,
    quality: int | None = None,
    max_pixels: int | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
) -> FileOutcome:
    """Detect damage in `image_path`, fill it with `engine`, save to `output_path`.

    `mask_path`, if given, receives the detected mask (255 = damage), even when
    it is empty. `FileOutcome.regions` is the number of filled crops.
    """
    image_path, output_path = Path(image_path), Path(output_path)
    mask_path = Path(mask_path) if mask_path is not None else None
    threshold_for(sensitivity, detector)  # a bad value or detector fails before the work
    check_job_paths(image_path, output_path, mask_out=mask_path, overwrite=overwrite)
    photo = load_image(image_path, max_pixels=max_pixels)
    damage = damage_map(photo.rgb, detector)
    mask = damage.mask(sensitivity)
    outcome = FileOutcome(image=image_path)
    if is_empty(mask):
        outcome.skipped = f"no scratches or dust were found in '{image_path.name}' at sensitivity {sensitivity:g}"
    else:
        fill_and_save(
            engine, photo, fill_mask(mask, damage.detector.fill_grow), output_path, outcome, params,
            overwrite=overwrite, quality=quality, progress=progress, cancel=cancel,
        )
    if mask_path is not None:
        save_mask(mask, mask_path)
    return outcome

"""The one path every engine's work goes through.

For each group of mask regions: crop the photo with context around it, scale
the crop to the engine's working size if it has one, pad to the engine's
multiple, run the engine, undo padding and scaling, and turn the result into a
`Patch` whose alpha is 255 on the mask and fades to 0 over `feather` pixels
outside it. Pixels farther than `feather` from the mask are never touched, and
a small object in a large photo costs a crop, not the whole photo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from inpaint_studio.core.boxes import Box, union
from inpaint_studio.core.errors import EngineError
from inpaint_studio.core.jobs import CancelToken, ProgressFn, no_progress
from inpaint_studio.core.mask_ops import MASK_THRESHOLD
from inpaint_studio.core.patch import Patch, apply_patches
from inpaint_studio.core.sampling import SamplingArea
from inpaint_studio.engines.base import Engine, EngineContext, EngineInfo, RunReport

DEFAULT_FEATHER = 3


def _expand_to_square(box: Box, width: int, height: int) -> Box:
    """Grow the shorter side to match the longer, shifting to stay inside the image."""
    side = max(box.width, box.height)

    def fit(lo: int, hi: int, limit: int) -> tuple[int, int]:
        size = min(side, limit)
        grow = size - (hi - lo)
        lo -= grow // 2
        lo = min(max(lo, 0), limit - size)
        return lo, lo + size

    x0, x1 = fit(box.x0, box.x1, width)
    y0, y1 = fit(box.y0, box.y1, height)
    return Box(x0, y0, x1, y1)


def _trimmed_patch(x: int, y: int, rgb: np.ndarray, alpha: np.ndarray) -> Patch:
    """The patch cut down to the pixels it changes (alpha > 0).

    The engine needed the context around the mask, the layer does not: the
    trimmed patch is about half the memory and compositing work.
    """
    bx, by, bw, bh = cv2.boundingRect((alpha > 0).astype(np.uint8))
    rows, cols = slice(by, by + bh), slice(bx, bx + bw)
    return Patch(x + bx, y + by, np.ascontiguousarray(rgb[rows, cols]), np.ascontiguousarray(alpha[rows, cols]))


def plan_crops(mask: np.ndarray, info: EngineInfo, feather: int = DEFAULT_FEATHER, reach: Box | None = None) -> list[Box]:
    """Disjoint crop boxes that together hold every mask pixel plus its context.

    Each connected mask region gets a margin of max(context_margin,
    context_ratio * its longest side) (never less than the feather width),
    and is widened to hold `reach` too (the area the user said to copy from);
    boxes that overlap are merged into their bounding box until none overlap.
    Labelling runs inside the mask's bounding rectangle only, so a small object
    in a large photo costs little.
    """
    height, width = mask.shape
    binary = (mask > MASK_THRESHOLD).astype(np.uint8)
    bx, by, bw, bh = cv2.boundingRect(binary)
    if bw == 0 or bh == 0:
        return []
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary[by : by + bh, bx : bx + bw], connectivity=8)
    boxes = []
    for x, y, w, h, _area in stats[1:count].tolist():
        x, y = x + bx, y + by
        margin = max(info.context_margin, int(info.context_ratio * max(w, h)), feather + 1)
        box = Box(max(0, x - margin), max(0, y - margin), min(width, x + w + margin), min(height, y + h + margin))
        boxes.append(box if reach is None else union([box, reach]))

    # Merge by rasterising the boxes and labelling the result; the bounding box of
    # a merged group can touch yet another box, so repeat until the count is stable.
    while True:
        if info.square_crop:
            boxes = [_expand_to_square(b, width, height) for b in boxes]
        ox, oy = min(b.x0 for b in boxes), min(b.y0 for b in boxes)
        canvas = np.zeros((max(b.y1 for b in boxes) - oy, max(b.x1 for b in boxes) - ox), np.uint8)
        for b in boxes:
            canvas[b.y0 - oy : b.y1 - oy, b.x0 - ox : b.x1 - ox] = 1
        merged_count, _, merged_stats, _ = cv2.connectedComponentsWithStats(canvas, connectivity=4)
        merged = [Box(x + ox, y + oy, x + ox + w, y + oy + h) for x, y, w, h, _ in merged_stats[1:merged_count].tolist()]
        if len(merged) == len(boxes):
            return sorted(merged, key=lambda b: (b.y0, b.x0))
        boxes = merged


def _scale_for(info: EngineInfo, width: int, height: int) -> float:
    longest = max(width, height)
    if info.working_size is None:
        return 1.0
    if info.fixed_size or longest > info.working_size:
        return info.working_size / longest
    return 1.0


def feather_alpha(mask: np.ndarray, feather: int) -> np.ndarray:
    """uint8 alpha: 255 on the mask, a linear fade to 0 over `feather` px outside it."""
    binary = mask > MASK_THRESHOLD
    if feather <= 0:
        return np.where(binary, np.uint8(255), np.uint8(0))
    # Distance of every keep-pixel to the nearest mask pixel (0 on the mask).
    distance = cv2.distanceTransform(np.where(binary, 0, 255).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    alpha = np.clip((feather + 1 - distance) / (feather + 1), 0.0, 1.0)
    alpha[distance > feather] = 0.0
    return np.rint(alpha * 255).astype(np.uint8)


@dataclass(frozen=True)
class _WorkImage:
    """A crop as the engine sees it: scaled to its working size and padded to its multiple."""

    image: np.ndarray
    mask: np.ndarray
    height: int  # before padding
    width: int
    scale: float

    def back_to_crop(self, array: np.ndarray, crop_width: int, crop_height: int) -> np.ndarray:
        """A working-size array (image or alpha) without the padding, at the crop's size."""
        array = array[: self.height, : self.width]
        if self.scale == 1.0:
            return array
        interpolation = cv2.INTER_CUBIC if self.scale < 1.0 else cv2.INTER_AREA
        return cv2.resize(array, (crop_width, crop_height), interpolation=interpolation)


def _to_work(info: EngineInfo, crop: np.ndarray, crop_mask: np.ndarray) -> _WorkImage:
    """Scale the crop to the engine's working size and pad it to the engine's multiple."""
    height, width = crop_mask.shape
    scale = _scale_for(info, width, height)
    if scale != 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        shrinking = scale < 1.0
        work = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
        # Any fill pixel inside a shrunk cell keeps the cell marked: thin scratches survive.
        work_mask = cv2.resize(crop_mask, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_NEAREST)
        work_mask = np.where(work_mask > 0, np.uint8(255), np.uint8(0))
    else:
        work, work_mask = crop, crop_mask
    work_h, work_w = work_mask.shape

    target_h, target_w = work_h, work_w
    if info.fixed_size and info.working_size:
        target_h = target_w = info.working_size
    multiple = max(1, info.pad_multiple)
    target_h = -(-target_h // multiple) * multiple
    target_w = -(-target_w // multiple) * multiple
    pad_bottom, pad_right = target_h - work_h, target_w - work_w
    if pad_bottom or pad_right:
        # Mirror padding gives the engine plausible content; padded pixels are never filled.
        border = cv2.BORDER_REFLECT if min(work_h, work_w) > 1 else cv2.BORDER_REPLICATE
        work = cv2.copyMakeBorder(work, 0, pad_bottom, 0, pad_right, border)
        work_mask = cv2.copyMakeBorder(work_mask, 0, pad_bottom, 0, pad_right, cv2.BORDER_CONSTANT, value=0)
    return _WorkImage(np.ascontiguousarray(work), np.ascontiguousarray(work_mask), work_h, work_w, scale)


def _work_sources(work: _WorkImage, allowed: np.ndarray) -> np.ndarray:
    """The crop's allowed-source map at the engine's working size: a shrunk cell is allowed only if all
    its pixels are (an excluded speck stays excluded); padding is never a source."""
    if work.scale != 1.0:
        size = (work.width, work.height)
        forbidden = cv2.resize((~allowed).astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA)
        allowed = forbidden == 0
    sources = np.zeros(work.mask.shape, bool)
    sources[: work.height, : work.width] = allowed
    return sources


def _paste_alpha(engine: Engine, work: _WorkImage, crop_mask: np.ndarray, soft_mask: np.ndarray, feather: int) -> np.ndarray:
    """The crop's paste weights: the engine's own blend if it specifies one, else the feathered mask.

    Where the mask is soft (values between 0 and 255: a soft brush edge, a
    feathered mask) the fill shows only as much as the mask says, fading from
    the fully masked core; for a mask of 0 and 255 only, nothing changes.
    """
    engine_alpha = engine.paste_alpha(work.mask)
    if engine_alpha is None:
        alpha = feather_alpha(crop_mask, feather)
    else:
        height, width = crop_mask.shape
        alpha = work.back_to_crop(np.asarray(engine_alpha, dtype=np.uint8), width, height)
    if soft_mask.min() == 0 and not np.any((soft_mask > 0) & (soft_mask < 255)):
        return alpha  # hard mask: the engine's or the pipeline's own blend
    core = feather_alpha(np.where(soft_mask == 255, np.uint8(255), np.uint8(0)), feather)
    blended: np.ndarray = np.minimum(alpha, np.maximum(soft_mask, core))
    return blended


def _run_engine(engine: Engine, work: _WorkImage, params: Mapping[str, Any], context: EngineContext) -> np.ndarray:
    """The engine's result for the working image, checked."""
    info = engine.info
    result = engine.inpaint(work.image, work.mask, params, context)
    if not isinstance(result, np.ndarray) or result.dtype != np.uint8 or result.shape != work.image.shape:
        got = getattr(result, "shape", type(result).__name__)
        raise EngineError(f"{info.name} returned an image of the wrong kind ({got}, expected {work.image.shape} uint8).")
    return result


def inpaint_patches(
    engine: Engine,
    image: np.ndarray,
    mask: np.ndarray,
    params: Mapping[str, Any] | None = None,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
    feather: int = DEFAULT_FEATHER,
    preview: Callable[[Patch], None] | None = None,
    report: RunReport | None = None,
    sampling: SamplingArea | None = None,
) -> list[Patch]:
    """Run `engine` over every mask region of `image`; one Patch per crop.

    image: uint8 (H, W, 3) RGB. mask: uint8 (H, W), > 0 = fill (see core.mask_ops). An empty
    mask gives no patches. `preview` receives the work in progress of engines
    that show it, as a patch of the crop being filled; `report` collects what
    the engine tells about the run (notices, the device that did the work).
    `sampling` is where engines that copy from the photo may copy from (each
    crop then reaches the included area); other engines ignore it.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise EngineError(f"Expected a uint8 RGB image, got {image.dtype} {image.shape}.")
    if mask.shape != image.shape[:2]:
        raise EngineError(f"Mask size {mask.shape[1]}x{mask.shape[0]} differs from image size {image.shape[1]}x{image.shape[0]}.")
    cancel = cancel or CancelToken()
    report = report if report is not None else RunReport()
    resolved = engine.resolve_params(params)
    if not engine.info.copies_from_photo:
        sampling = None
    boxes = plan_crops(mask, engine.info, feather, sampling.include_box() if sampling is not None else None)
    patches = []
    for index, box in enumerate(boxes):
        cancel.raise_if_cancelled()
        crop = np.ascontiguousarray(image[box.slices])
        soft_mask = mask[box.slices]
        crop_mask = np.where(soft_mask > MASK_THRESHOLD, np.uint8(255), np.uint8(0))
        work = _to_work(engine.info, crop, crop_mask)
        alpha = _paste_alpha(engine, work, crop_mask, soft_mask, feather)

        def crop_progress(fraction: float, index: int = index) -> None:
            progress((index + min(max(fraction, 0.0), 1.0)) / len(boxes))

        def as_patch(work_rgb: np.ndarray, box: Box = box, work: _WorkImage = work, alpha: np.ndarray = alpha) -> Patch:
            return _trimmed_patch(box.x0, box.y0, work.back_to_crop(work_rgb, box.width, box.height), alpha)

        def crop_preview(work_rgb: np.ndarray) -> None:
            assert preview is not None
            preview(as_patch(work_rgb))

        sources = _work_sources(work, sampling.allowed(box)) if sampling is not None else None
        context = EngineContext(crop_progress, cancel, crop_preview if preview else None, report, sources)
        result = _run_engine(engine, work, resolved, context)
        patches.append(as_patch(result))
    cancel.raise_if_cancelled()
    progress(1.0)
    return patches


def inpaint_image(
    engine: Engine,
    image: np.ndarray,
    mask: np.ndarray,
    params: Mapping[str, Any] | None = None,
    *,
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
    feather: int = DEFAULT_FEATHER,
    report: RunReport | None = None,
    sampling: SamplingArea | None = None,
) -> np.ndarray:
    """`image` with every mask region filled by `engine` (a new array)."""
    patches = inpaint_patches(
        engine, image, mask, params, progress=progress, cancel=cancel, feather=feather, report=report, sampling=sampling
    )
    return apply_patches(image, patches)

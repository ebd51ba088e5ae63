"""The Python API: remove objects, restore old photos and select objects from a script.

    import inpaint_studio

    clean = inpaint_studio.remove("photo.jpg", "mask.png")            # a PIL image
    clean.save("photo_clean.jpg")
    mask = inpaint_studio.select("photo.jpg", box=(120, 80, 360, 400))  # a PIL image, "L"
    fixed = inpaint_studio.restore(old_scan_array)                     # a numpy array

The same work as the command line, in memory: fills go through the shared pipeline
(`engines.pipeline`), masks follow the mask-file rules of `io.mask_file`, damage is
found by `restore.detect` and selections by `selection.prompts`. Nothing is written
to disk.

Inputs and outputs:
- A photo is a path (str or os.PathLike), a PIL image or a numpy array. A path is read
  as the command line reads it (any supported format, turned upright by its EXIF
  orientation, 16-bit and CMYK converted to 8-bit RGB). A PIL image is used as it is,
  converted to RGB. An array must be uint8 RGB, shape (height, width, 3).
- A mask is the same kinds, with the mask-file rule: white (> 127) marks what to fill;
  an image with transparency uses its alpha (opaque = fill); a bool array is True =
  fill. A mask of another size than the photo is scaled to it, with a warning.
- What comes back follows the photo: a numpy array for an array, else a PIL image
  (RGB; RGBA with the photo's own alpha when it had one). `select` returns the mask
  as a uint8 array (255 = selected) or a PIL image of mode "L" by the same rule.

Errors a caller can cause (a missing file, a wrong shape, an unknown engine, a model
that is not installed) raise `InpaintStudioError` with a one-sentence message. The
engine of the last call is kept, so a loop over photos loads a learned model once.
This module imports numpy, Pillow, OpenCV and the engines only when a function runs.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from inpaint_studio.core.errors import EngineNotReadyError, InpaintStudioError

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from inpaint_studio.engines.base import Engine
    from inpaint_studio.models import ModelStore

    ImageInput: TypeAlias = str | os.PathLike[str] | Image.Image | np.ndarray
    ImageOutput: TypeAlias = Image.Image | np.ndarray

__all__ = ["remove", "restore", "select"]

DEFAULT_ENGINE = "patchmatch"  # engines.registry.DEFAULT_ENGINE, without importing the engines here


def remove(
    image: ImageInput,
    mask: ImageInput,
    *,
    engine: str = DEFAULT_ENGINE,
    device: str = "auto",
    models_dir: str | os.PathLike[str] | None = None,
    **params: Any,
) -> ImageOutput:
    """`image` with the white part of `mask` filled by `engine` (see the module's docstring for the types).

    `params` are the engine's settings, as `--param NAME=VALUE` on the command line
    (`seed=3`, `preset="fast"`). An empty mask gives the photo back unchanged.
    `models_dir`: where learned engines find their weights (default: the folder in
    the settings, as for the command line).
    """
    rgb, alpha, as_array = _read_photo(image)
    fill = _read_mask(mask, rgb.shape[1], rgb.shape[0])
    return _output(_fill(rgb, fill, engine, device, models_dir, params), alpha, as_array)


def restore(
    image: ImageInput,
    *,
    sensitivity: float | None = None,
    detector: str | None = None,
    engine: str = DEFAULT_ENGINE,
    device: str = "auto",
    models_dir: str | os.PathLike[str] | None = None,
    **params: Any,
) -> ImageOutput:
    """`image` with the scratches, hairs and dust that `detector` finds at `sensitivity` filled by `engine`.

    sensitivity: 0 (only obvious damage) to 1 (faint damage too; more false finds),
    default 0.4; detector: "learned" (the default, shipped) or "classical". A photo
    where nothing is found comes back unchanged.
    """
    from inpaint_studio.core.mask_ops import is_empty
    from inpaint_studio.restore.detect import DEFAULT_DETECTOR, DEFAULT_SENSITIVITY, damage_map, threshold_for

    sensitivity = DEFAULT_SENSITIVITY if sensitivity is None else sensitivity
    detector = detector or DEFAULT_DETECTOR
    if isinstance(sensitivity, bool) or not isinstance(sensitivity, (int, float)) or not 0 <= sensitivity <= 1:
        raise InpaintStudioError(f"The sensitivity must be a number from 0 to 1; got {sensitivity!r}.")
    threshold_for(sensitivity, detector)  # an unknown detector fails before the photo is read
    rgb, alpha, as_array = _read_photo(image)
    damage = damage_map(rgb, detector)
    found = damage.mask(sensitivity)
    if is_empty(found):
        return _output(rgb.copy(), alpha, as_array)
    return _output(_fill(rgb, damage.fill_mask(sensitivity), engine, device, models_dir, params), alpha, as_array)


def select(
    image: ImageInput,
    *,
    box: Sequence[int] | None = None,
    points: Sequence[Sequence[int]] = (),
    method: str | None = None,
    tolerance: int | None = None,
    contiguous: bool = True,
    device: str = "auto",
    models_dir: str | os.PathLike[str] | None = None,
) -> ImageOutput:
    """The mask of an object: a uint8 array (255 = selected) for an array photo, else a PIL image of mode "L".

    box: (x0, y0, x1, y1), two corners in pixels of the upright photo. points: (x, y)
    on the object, or (x, y, 0) for a point that is not (x, y, 1) is on it again.
    method: "grabcut" (the object in the box, refined by the points; the default with
    a box), "wand" (the colour region around each point; the default without one) or
    "sam" (MobileSAM, once `inpaint-studio models download mobile-sam` has run).
    tolerance and contiguous apply to the wand.
    """
    import numpy as np
    from PIL import Image

    from inpaint_studio.core.boxes import Box
    from inpaint_studio.selection.prompts import Point, SelectMethod
    from inpaint_studio.selection.prompts import select as select_mask
    from inpaint_studio.selection.wand import DEFAULT_TOLERANCE

    chosen = _method(method, SelectMethod, box is not None)
    prompts = [_point(point) for point in points]
    region = _box(box, Box) if box is not None else None
    if not prompts and region is None:
        raise InpaintStudioError("Say what to select: a box=(x0, y0, x1, y1) around the object and/or points=[(x, y)].")
    sam = None
    if chosen is SelectMethod.SAM:
        from inpaint_studio.engines.devices import resolve_device
        from inpaint_studio.selection.sam import MODEL_ID
        from inpaint_studio.selection.sam.session import SamSession

        weights = _model_store(models_dir).require(MODEL_ID)  # before the photo: says what to download
        sam = SamSession(weights, resolve_device(device, ("cpu", "cuda", "mps"), "MobileSAM"))
    rgb, _alpha, as_array = _read_photo(image)
    mask = select_mask(
        rgb,
        chosen,
        [Point(*point) for point in prompts],
        region,
        tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
        contiguous=contiguous,
        sam=sam,
    )
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    return mask if as_array else Image.fromarray(mask, mode="L")


# -- inputs ---------------------------------------------------------------------------------


def _read_photo(image: object) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(uint8 RGB pixels, alpha or None, whether the caller gave an array)."""
    import numpy as np
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        from inpaint_studio.io import load_image

        photo = load_image(Path(image))
        return photo.rgb, photo.alpha, False
    if isinstance(image, Image.Image):
        _check_size(image.width, image.height, "photo")
        alpha = np.asarray(image.getchannel("A")) if "A" in image.getbands() else None
        return np.ascontiguousarray(np.asarray(image.convert("RGB"))), alpha, False
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InpaintStudioError(
                f"A photo array must be uint8 RGB of shape (height, width, 3); got {image.dtype} {image.shape}."
            )
        _check_size(image.shape[1], image.shape[0], "photo")
        return np.ascontiguousarray(image), None, True
    raise InpaintStudioError(f"A photo is a path, a PIL image or a numpy array; got {type(image).__name__}.")


def _read_mask(mask: object, width: int, height: int) -> np.ndarray:
    """A 0/255 uint8 (height, width) mask by the mask-file rules; scaled (with a warning) if its size differs."""
    import numpy as np
    from PIL import Image

    from inpaint_studio.core.mask_ops import binarize, resize_mask

    if isinstance(mask, (str, os.PathLike)):
        from inpaint_studio.io import load_mask

        values, notes = load_mask(Path(mask), size=(width, height))
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=3)
        return values
    if isinstance(mask, np.ndarray):
        if mask.dtype == bool and mask.ndim == 2:
            mask = np.where(mask, np.uint8(255), np.uint8(0))
        elif mask.dtype != np.uint8 or mask.ndim not in (2, 3) or (mask.ndim == 3 and mask.shape[2] not in (3, 4)):
            raise InpaintStudioError(
                "A mask array must be bool or uint8 (> 127 = fill), of shape (height, width) or (height, width, 3 or 4); "
                f"got {mask.dtype} {mask.shape}."
            )
        mask = Image.fromarray(mask)
    if not isinstance(mask, Image.Image):
        raise InpaintStudioError(f"A mask is a path, a PIL image or a numpy array; got {type(mask).__name__}.")
    _check_size(mask.width, mask.height, "mask")
    # As io.mask_file reads a file: transparency when it has some, else brightness.
    alpha = np.asarray(mask.getchannel("A")) if "A" in mask.getbands() else None
    values = binarize(alpha if alpha is not None and alpha.min() < 255 else np.asarray(mask.convert("L")))
    if values.shape != (height, width):
        warnings.warn(
            f"The mask is {values.shape[1]}x{values.shape[0]} but the photo is {width}x{height}; it was scaled to fit.",
            UserWarning,
            stacklevel=3,
        )
        values = resize_mask(values, width, height)
    return values


def _check_size(width: int, height: int, what: str) -> None:
    if width < 1 or height < 1:
        raise InpaintStudioError(f"The {what} is empty ({width}x{height} pixels).")


def _method(method: str | None, kinds: Any, has_box: bool) -> Any:
    if method is None:
        return kinds.GRABCUT if has_box else kinds.WAND
    try:
        return kinds(method)
    except ValueError:
        raise InpaintStudioError(f"Unknown selection method {method!r}; choose one of {', '.join(kinds)}.") from None


def _point(point: Sequence[int]) -> tuple[int, int, bool]:
    if not isinstance(point, Sequence) or isinstance(point, str) or len(point) not in (2, 3):
        raise InpaintStudioError(f"A point is (x, y), or (x, y, 1) on the object and (x, y, 0) off it; got {point!r}.")
    if len(point) == 3 and point[2] not in (0, 1):
        raise InpaintStudioError(f"A point's third value is 1 (on the object) or 0 (not); got {point!r}.")
    return _whole(point[0], point), _whole(point[1], point), len(point) == 2 or bool(point[2])


def _box(box: Sequence[int], kind: Any) -> Any:
    if isinstance(box, str) or not isinstance(box, Sequence) or len(box) != 4:
        raise InpaintStudioError(f"A box is (x0, y0, x1, y1), two corners in pixels; got {box!r}.")
    x0, y0, x1, y1 = (_whole(value, box) for value in box)
    if x1 <= x0 or y1 <= y0:
        raise InpaintStudioError(f"The box {tuple(box)} is empty: its second corner must be right of and below the first.")
    return kind(x0, y0, x1, y1)


def _whole(value: object, context: object) -> int:
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InpaintStudioError(f"Coordinates are whole numbers of pixels; got {value!r} in {context!r}.")
    return int(value)


def _output(rgb: np.ndarray, alpha: np.ndarray | None, as_array: bool) -> ImageOutput:
    if as_array:
        return rgb
    from PIL import Image

    result = Image.fromarray(rgb, mode="RGB")
    if alpha is not None:
        result.putalpha(Image.fromarray(alpha, mode="L"))
    return result


# -- engines ----------------------------------------------------------------------------------

_cache_lock = threading.Lock()
_cached: tuple[tuple[Any, ...], Engine] | None = None  # the last call's engine, with what it was made for


def _fill(
    rgb: np.ndarray,
    mask: np.ndarray,
    engine_id: str,
    device: str,
    models_dir: str | os.PathLike[str] | None,
    params: Mapping[str, Any],
) -> np.ndarray:
    from inpaint_studio.core.mask_ops import is_empty
    from inpaint_studio.engines.pipeline import inpaint_image

    engine = _engine(engine_id, device, models_dir, params)
    if is_empty(mask):
        return rgb.copy()
    return inpaint_image(engine, rgb, mask, engine.resolve_params(params))


def _engine(engine_id: str, device: str, models_dir: str | os.PathLike[str] | None, params: Mapping[str, Any]) -> Engine:
    """The engine for a call, as the command line makes it: ready to run, or EngineNotReadyError saying
    what to download. The previous call's engine is reused when it was made for the same things."""
    global _cached
    from inpaint_studio.engines.devices import resolve_device
    from inpaint_studio.engines.registry import create_engine, engine_class

    cls = engine_class(engine_id)
    cls.resolve_params(params)  # a wrong parameter fails before a model is loaded
    resolved = resolve_device(device, cls.info.devices, cls.info.name)
    store = _model_store(models_dir) if cls.info.models else None
    key = (engine_id, resolved, store.root if store else None, store.mirror if store else None)
    with _cache_lock:
        if _cached is not None and _cached[0] == key:
            engine = _cached[1]
        else:
            if _cached is not None:
                _cached[1].unload()  # frees a learned model's memory (GPU memory too)
                _cached = None
            engine = create_engine(engine_id, resolved, model_store=store)
            _cached = (key, engine)
    reason = engine.readiness(params)
    if reason:
        downloads = " and ".join(f"`inpaint-studio models download {m}`" for m in engine.missing_models(params))
        raise EngineNotReadyError(f"{reason} Run {downloads}.")
    return engine


def _model_store(models_dir: str | os.PathLike[str] | None) -> ModelStore:
    """The store in `models_dir`, else the folder and mirror chosen in the settings, as for the command line."""
    from inpaint_studio.models import ModelStore
    from inpaint_studio.session.settings import Settings

    settings = Settings.load()
    folder = Path(models_dir) if models_dir else settings.models_dir or None
    return ModelStore(folder, mirror=settings.model_mirror or None)

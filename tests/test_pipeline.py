"""The shared crop / resize / pad / paste pipeline, driven by real engines."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_photo

from inpaint_studio.core.errors import EngineError, JobCancelled
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.core.patch import apply_patches, coverage_mask
from inpaint_studio.engines.base import Engine, EngineInfo, EngineKind
from inpaint_studio.engines.fake import FakeEngine
from inpaint_studio.engines.opencv_engines import TeleaEngine
from inpaint_studio.engines.pipeline import (
    feather_alpha,
    inpaint_image,
    inpaint_patches,
    plan_crops,
)


class RecordingEngine(Engine):
    """Fills with the crop's mean colour and records what it was given."""

    info = EngineInfo(
        id="recording", name="Recording", description="", kind=EngineKind.TEST, context_margin=10, context_ratio=0.0
    )

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self.inputs: list[tuple[np.ndarray, np.ndarray]] = []

    def inpaint(self, image, mask, params, context):
        self.inputs.append((image.copy(), mask.copy()))
        out = image.copy()
        out[mask > 127] = image[mask == 0].mean(axis=0).astype(np.uint8)
        return out


def _with_info(engine_class, **changes):
    """A subclass of `engine_class` whose EngineInfo differs by `changes`."""
    from dataclasses import replace

    return type(engine_class.__name__ + "Variant", (engine_class,), {"info": replace(engine_class.info, **changes)})


class RepaintEverythingEngine(RecordingEngine):
    """Changes every pixel of its crop, as a resized learned engine does."""

    def inpaint(self, image, mask, params, context):
        return np.full_like(image, (0, 255, 0))


def test_pixels_beyond_feather_are_bit_identical():
    image = gradient_photo(200, 300)
    mask = np.zeros((200, 300), np.uint8)
    mask[80:120, 100:160] = 255
    feather = 3
    result = inpaint_image(RepaintEverythingEngine(), image, mask, feather=feather)
    # Inside the mask: exactly the engine's fill.
    assert (result[mask > 0] == [0, 255, 0]).all()
    # Farther than the feather width: untouched.
    far = np.ones((200, 300), bool)
    far[80 - feather : 120 + feather, 100 - feather : 160 + feather] = False
    assert np.array_equal(result[far], image[far])
    # The feather ring is blended, not hard: some pixels next to the mask changed.
    ring = ~far & (mask == 0)
    assert (result[ring] != image[ring]).any()


def test_small_mask_in_large_photo_is_a_crop_job():
    height, width = 3000, 5000  # 15 megapixels
    image = np.zeros((height, width, 3), np.uint8)
    mask = np.zeros((height, width), np.uint8)
    mask[1400:1500, 2400:2550] = 255
    engine = FakeEngine()
    inpaint_patches(engine, image, mask)
    assert len(engine.calls) == 1
    crop_h, crop_w = engine.calls[0]
    assert crop_h * crop_w < 0.01 * height * width


def test_separate_regions_get_separate_crops_and_close_ones_merge():
    mask = np.zeros((400, 400), np.uint8)
    mask[20:40, 20:40] = 255
    mask[20:40, 50:60] = 255  # within the margin of the first: merged
    mask[300:320, 300:330] = 255
    boxes = plan_crops(mask, RecordingEngine.info, feather=3)
    assert len(boxes) == 2
    for box in boxes:
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= 400 and box.y1 <= 400
    covered = np.zeros_like(mask, bool)
    for box in boxes:
        covered[box.slices] = True
    assert covered[mask > 0].all()
    # Boxes never overlap, so patches can be pasted in any order.
    a, b = boxes
    assert a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0


def test_context_margin_is_given_to_the_engine():
    image = gradient_photo(300, 300)
    mask = np.zeros((300, 300), np.uint8)
    mask[140:160, 140:160] = 255
    engine = RecordingEngine()
    inpaint_image(engine, image, mask)
    crop, crop_mask = engine.inputs[0]
    assert crop.shape[:2] == (20 + 2 * 10, 20 + 2 * 10)
    assert np.array_equal(crop, image[130:170, 130:170])
    assert set(np.unique(crop_mask)) == {0, 255}


def test_working_size_scales_down_and_back():
    engine = _with_info(RecordingEngine, working_size=64, pad_multiple=8)()
    image = gradient_photo(400, 400)
    mask = np.zeros((400, 400), np.uint8)
    mask[100:300, 150:250] = 255
    result = inpaint_image(engine, image, mask)
    crop, crop_mask = engine.inputs[0]
    assert max(crop.shape[:2]) <= 64
    assert crop.shape[0] % 8 == 0 and crop.shape[1] % 8 == 0
    assert result.shape == image.shape
    assert not np.array_equal(result[mask > 0], image[mask > 0])


def test_fixed_size_engine_gets_exactly_its_square_and_thin_masks_survive_shrinking():
    engine = _with_info(RecordingEngine, working_size=128, fixed_size=True, square_crop=True)()
    image = gradient_photo(600, 900)
    mask = np.zeros((600, 900), np.uint8)
    mask[300, 100:800] = 255  # a 1-px scratch across most of the photo
    inpaint_image(engine, image, mask)
    crop, crop_mask = engine.inputs[0]
    assert crop.shape == (128, 128, 3)
    assert (crop_mask > 0).any()


def test_padding_reaches_the_multiple_and_is_never_filled():
    engine = _with_info(RecordingEngine, pad_multiple=16)()
    image = gradient_photo(100, 100)
    mask = np.zeros((100, 100), np.uint8)
    mask[45:52, 45:53] = 255
    inpaint_image(engine, image, mask)
    crop, crop_mask = engine.inputs[0]
    assert crop.shape[0] % 16 == 0 and crop.shape[1] % 16 == 0
    assert crop_mask[27:, :].max() == 0 or crop.shape[0] == 27  # padded rows carry no fill


def test_region_at_the_photo_edge_is_clamped():
    image = gradient_photo(50, 50)
    mask = np.zeros((50, 50), np.uint8)
    mask[0:5, 45:50] = 255
    result = inpaint_image(TeleaEngine(), image, mask)
    assert result.shape == image.shape


def test_empty_mask_gives_no_patches():
    image = gradient_photo()
    patches = inpaint_patches(FakeEngine(), image, np.zeros(image.shape[:2], np.uint8))
    assert patches == []


def test_patches_compose_to_the_same_result_and_cover_only_the_feathered_mask():
    image = gradient_photo(120, 160)
    mask = np.zeros((120, 160), np.uint8)
    mask[10:20, 10:20] = 255
    mask[90:100, 120:140] = 255
    patches = inpaint_patches(TeleaEngine(), image, mask, feather=2)
    assert len(patches) == 2
    covered = coverage_mask(mask.shape, patches)
    assert covered[mask > 0].all()
    assert covered.sum() < (mask > 0).sum() * 2
    assert np.array_equal(apply_patches(image, patches), inpaint_image(TeleaEngine(), image, mask, feather=2))


def test_feather_alpha_profile():
    mask = np.zeros((21, 21), np.uint8)
    mask[10, 10] = 255
    alpha = feather_alpha(mask, 4)
    assert alpha[10, 10] == 255
    assert 0 < alpha[10, 13] < alpha[10, 12] < alpha[10, 11] < 255
    assert alpha[10, 15] == 0 and alpha[10, 16] == 0


def test_progress_reaches_one_and_cancel_stops_between_regions():
    image = gradient_photo(200, 200)
    mask = np.zeros((200, 200), np.uint8)
    mask[10:20, 10:20] = 255
    mask[150:160, 150:160] = 255
    seen: list[float] = []
    inpaint_image(FakeEngine(), image, mask, progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen)

    token = CancelToken()
    engine = FakeEngine()

    def cancel_after_first(fraction: float) -> None:
        if fraction >= 0.5:
            token.cancel()

    with pytest.raises(JobCancelled):
        inpaint_image(engine, image, mask, progress=cancel_after_first, cancel=token)
    assert len(engine.calls) == 1


def test_engine_errors_and_bad_output_surface_as_engine_error():
    image = gradient_photo(40, 40)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 10:20] = 255
    with pytest.raises(EngineError, match="on purpose"):
        inpaint_image(FakeEngine(), image, mask, {"fail": True})

    class WrongShape(RecordingEngine):
        def inpaint(self, image, mask, params, context):
            return image[:-1]

    with pytest.raises(EngineError, match="wrong kind"):
        inpaint_image(WrongShape(), image, mask)


def test_bad_parameters_are_refused():
    image = gradient_photo(40, 40)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 10:20] = 255
    with pytest.raises(EngineError, match="no parameter 'nope'"):
        inpaint_image(TeleaEngine(), image, mask, {"nope": 1})
    with pytest.raises(EngineError, match="at most"):
        inpaint_image(TeleaEngine(), image, mask, {"radius": 500})
    with pytest.raises(EngineError, match="must be a int"):
        inpaint_image(TeleaEngine(), image, mask, {"radius": "big"})


def test_mismatched_mask_is_refused():
    with pytest.raises(EngineError, match="differs"):
        inpaint_image(TeleaEngine(), gradient_photo(40, 40), np.zeros((30, 40), np.uint8))

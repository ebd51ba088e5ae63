"""The sampling area: include / exclude where PatchMatch may copy from, through the pipeline and the document."""

from __future__ import annotations

import numpy as np

from inpaint_studio.core.boxes import Box
from inpaint_studio.core.document import Document, DocumentEvent
from inpaint_studio.core.mask_edit import BrushStroke
from inpaint_studio.core.photo import Photo
from inpaint_studio.core.sampling import SamplingArea, SamplingMark, SamplingStroke
from inpaint_studio.engines.base import RunReport
from inpaint_studio.engines.pipeline import inpaint_image, plan_crops
from inpaint_studio.engines.registry import create_engine

RED, BLUE, GREEN = (200, 30, 30), (30, 30, 200), (30, 200, 30)


def striped_photo() -> np.ndarray:
    """120x160: red textured left half, blue textured right half, a green square far in the top-left corner."""
    rng = np.random.default_rng(1)
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, :80] = RED
    image[:, 80:] = BLUE
    image = np.clip(image.astype(int) + rng.integers(-12, 13, image.shape), 0, 255).astype(np.uint8)
    image[2:22, 2:22] = GREEN
    return image


def hole_mask() -> np.ndarray:
    mask = np.zeros((120, 160), np.uint8)
    mask[70:90, 70:90] = 255  # across the border of the halves, far from the green corner
    return mask


def painted(box: Box) -> np.ndarray:
    marks = np.zeros((120, 160), np.uint8)
    marks[box.slices] = 255
    return marks


def fill_colour(result: np.ndarray) -> np.ndarray:
    return result[70:90, 70:90].reshape(-1, 3).mean(axis=0)


def test_nothing_painted_means_no_restriction_and_exclude_wins_over_include():
    assert SamplingArea.of(None, None) is None
    assert SamplingArea.of(np.zeros((4, 4), np.uint8), np.full((4, 4), 100, np.uint8)) is None  # soft edges only
    include, exclude = np.zeros((4, 6), np.uint8), np.zeros((4, 6), np.uint8)
    include[:, :3] = 255
    exclude[:2] = 255
    area = SamplingArea.of(include, exclude)
    assert area is not None and area.include_box() == Box(0, 0, 3, 4)
    allowed = area.allowed(Box(0, 0, 6, 4))
    assert allowed[2:, :3].all() and not allowed[:2].any() and not allowed[:, 3:].any()
    assert SamplingArea.of(None, exclude).allowed(Box(0, 0, 6, 4))[2:].all()


def test_patchmatch_copies_only_from_outside_the_excluded_part():
    engine = create_engine("patchmatch")
    image, mask = striped_photo(), hole_mask()
    free = fill_colour(inpaint_image(engine, image, mask))
    assert free[0] > 60 and free[2] > 60  # both halves were copied from
    no_red = fill_colour(inpaint_image(engine, image, mask, sampling=SamplingArea(exclude=painted(Box(0, 0, 80, 120)))))
    assert no_red[2] > 150 and no_red[0] < 60  # blue only


def test_an_included_area_far_from_the_hole_is_reached_and_copied_from():
    engine = create_engine("patchmatch")
    image, mask = striped_photo(), hole_mask()
    area = SamplingArea(include=painted(Box(0, 0, 24, 24)))
    boxes = plan_crops(mask, engine.info, reach=area.include_box())
    assert len(boxes) == 1 and boxes[0].x0 == 0 and boxes[0].y0 == 0  # the crop reaches the corner
    green = fill_colour(inpaint_image(engine, image, mask, sampling=area))
    assert green[1] > 150 and green[0] < 100 and green[2] < 100
    # Engines that do not copy from the photo ignore it.
    telea = create_engine("telea")
    assert np.array_equal(inpaint_image(telea, image, mask, sampling=area), inpaint_image(telea, image, mask))


def test_an_area_leaving_too_little_is_not_used_and_the_user_is_told():
    engine = create_engine("patchmatch")
    image, mask = striped_photo(), hole_mask()
    report = RunReport()
    everything = SamplingArea(exclude=np.full((120, 160), 255, np.uint8))
    result = inpaint_image(engine, image, mask, sampling=everything, report=report)
    assert np.array_equal(result, inpaint_image(engine, image, mask))
    assert any("sampling area" in notice for notice in report.notices)


def test_sampling_strokes_are_undoable_and_reach_the_fill_request(tmp_path):
    from inpaint_studio.worker import FillRequest

    document = Document(Photo.from_pixels(striped_photo(), tmp_path / "photo.png"))
    assert document.sampling_area() is None
    heard = []
    document.listeners.append(lambda what, box: heard.append(what))
    exclude = document.sampling_mask(SamplingMark.EXCLUDE)
    stroke = BrushStroke(exclude, 20, 1.0)
    stroke.add_point(30, 60)
    document.record_sampling_edits([(SamplingMark.EXCLUDE, stroke.finish())], "Sampling area")
    assert DocumentEvent.SAMPLING in heard and exclude[60, 30] == 255
    area = document.sampling_area()
    assert area is not None and area.include is None
    request = FillRequest.snapshot(document.composite, hole_mask(), "patchmatch", sampling=area)
    exclude[60, 30] = 0
    assert request.sampling is not None and request.sampling.exclude[60, 30] == 255  # a snapshot
    document.undo()
    assert not exclude.any() and document.sampling_area() is None
    document.redo()
    assert exclude[60, 30] == 255


def test_a_stroke_paints_one_mark_and_clears_the_other_and_clearing_is_one_step(tmp_path):
    document = Document(Photo.from_pixels(striped_photo(), tmp_path / "photo.png"))
    include, exclude = document.sampling_mask(SamplingMark.INCLUDE), document.sampling_mask(SamplingMark.EXCLUDE)
    stroke = SamplingStroke(include, exclude, 30, 1.0, SamplingMark.EXCLUDE)
    assert stroke.add_point(50, 50) is not None
    document.record_sampling_edits(stroke.finish(), "Sampling area")
    assert exclude[50, 50] == 255 and not include.any()
    stroke = SamplingStroke(include, exclude, 10, 1.0, SamplingMark.INCLUDE)
    stroke.add_point(50, 50)
    document.record_sampling_edits(stroke.finish(), "Sampling area")
    assert include[50, 50] == 255 and exclude[50, 50] == 0 and exclude[50, 40] == 255  # over the exclusion only
    steps = document.history.position
    assert document.clear_sampling_area()
    assert not include.any() and not exclude.any() and document.history.position == steps + 1
    assert not document.clear_sampling_area()  # nothing left: no step
    document.undo()
    assert include[50, 50] == 255 and exclude[50, 40] == 255

"""Mask editing: strokes, shapes and operations change exactly what they should, and undo exactly."""

from __future__ import annotations

import numpy as np
import pytest

from inpaint_studio.core.mask_edit import (
    BrushStroke,
    apply_operation,
    dab_stamp,
    fill_polygon,
    fill_rectangle,
    transformed_mask,
)


def test_hard_dab_is_a_disc_of_the_requested_size():
    stamp = dab_stamp(21, 1.0)
    assert stamp.shape == (23, 23)
    solid = (stamp > 0.5).sum()
    assert abs(solid - np.pi * 10.5**2) < 0.05 * np.pi * 10.5**2
    soft = dab_stamp(21, 0.0)
    assert soft[11, 11] == 1.0 and 0 < soft[11, 16] < 1.0


def test_stroke_paints_a_continuous_line_and_undo_restores_exactly():
    mask = np.zeros((100, 200), np.uint8)
    mask[0:5, 0:5] = 77  # existing content must come back untouched
    original = mask.copy()
    stroke = BrushStroke(mask, diameter=10, hardness=1.0)
    stroke.add_point(20, 50)
    stroke.add_point(180, 50)  # one fast move: dabs are interpolated
    edit = stroke.finish()
    assert (mask[50, 20:181] == 255).all()  # no gaps along the path
    assert mask[50 - 8, 100] == 0 and mask[50 + 8, 100] == 0  # width is the diameter
    assert edit.box[0] <= 15 and edit.box[2] >= 185
    assert edit.nbytes < mask.nbytes  # only the changed rectangle is stored
    painted = mask.copy()
    edit.undo(mask)
    assert np.array_equal(mask, original)
    edit.redo(mask)
    assert np.array_equal(mask, painted)


def test_eraser_removes_mask_and_returns_changed_boxes():
    mask = np.full((60, 60), 255, np.uint8)
    stroke = BrushStroke(mask, diameter=9, hardness=1.0, erase=True)
    box = stroke.add_point(30, 30)
    assert box[0] <= 26 and box[2] >= 35
    assert mask[30, 30] == 0 and mask[30, 45] == 255
    assert stroke.finish() is not None


def test_stroke_off_the_image_changes_nothing():
    mask = np.zeros((50, 50), np.uint8)
    stroke = BrushStroke(mask, diameter=10)
    assert stroke.add_point(-100, -100) is None
    assert stroke.finish() is None and not mask.any()


def test_lasso_and_polygon_fill_their_shape():
    mask = np.zeros((100, 100), np.uint8)
    triangle = [(10.0, 10.0), (90.0, 10.0), (10.0, 90.0)]
    edit = fill_polygon(mask, triangle)
    assert mask[20, 20] == 255 and mask[80, 80] == 0 and mask[12, 85] == 255
    assert edit.box == (9, 9, 92, 92)
    filled = int((mask > 0).sum())
    assert abs(filled - 80 * 80 / 2) < 200
    fill_polygon(mask, [(15.0, 15.0), (40.0, 15.0), (40.0, 40.0), (15.0, 40.0)], erase=True)
    assert mask[25, 25] == 0 and mask[12, 85] == 255


def test_rectangle_in_any_drag_direction_and_clamped():
    mask = np.zeros((50, 50), np.uint8)
    fill_rectangle(mask, (40.0, 30.0), (10.0, 5.0))
    assert mask[5:30, 10:40].all() and mask.sum() == 25 * 30 * 255
    edit = fill_rectangle(mask, (-10.0, -10.0), (5.0, 5.0))
    assert edit.box == (0, 0, 5, 5)
    assert fill_rectangle(mask, (0.0, 0.0), (3.0, 3.0)) is None  # already filled: no edit


@pytest.mark.parametrize("operation", ["invert", "grow", "shrink", "feather", "clear"])
def test_operations_undo_exactly(operation):
    mask = np.zeros((80, 80), np.uint8)
    mask[30:50, 30:50] = 255
    before = mask.copy()
    edit = apply_operation(mask, operation, 4)
    assert edit is not None
    after = mask.copy()
    edit.undo(mask)
    assert np.array_equal(mask, before)
    edit.redo(mask)
    assert np.array_equal(mask, after)


def test_operation_results():
    mask = np.zeros((80, 80), np.uint8)
    mask[30:50, 30:50] = 255
    assert transformed_mask(mask, "grow", 5)[30:50, 26].all()
    assert not transformed_mask(mask, "shrink", 5)[30:50, 32].any()
    assert (transformed_mask(mask, "invert") == 255 - mask).all()
    feathered = transformed_mask(mask, "feather", 6)
    assert 0 < feathered[40, 30] < 255
    with pytest.raises(ValueError):
        transformed_mask(mask, "explode")

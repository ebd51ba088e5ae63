"""The damage generator and the detection score (Qt-free)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_photo

from inpaint_studio.restore import degrade, score_detection


def test_same_seed_gives_the_same_damage_and_another_seed_differs():
    photo = gradient_photo(200, 300)
    a, b, c = degrade(photo, seed=4), degrade(photo, seed=4), degrade(photo, seed=5)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)


@pytest.mark.parametrize("seed", range(5))
def test_mask_is_exactly_the_changed_pixels(seed):
    photo = gradient_photo(240, 320, seed=seed)
    before = photo.copy()
    damaged = degrade(photo, seed=seed)
    assert np.array_equal(photo, before)  # the input is not touched
    assert damaged.image.dtype == np.uint8 and damaged.image.shape == photo.shape
    assert set(np.unique(damaged.mask)) <= {0, 255}
    changed = np.any(damaged.image != photo, axis=2)
    painted = damaged.mask == 255
    assert not (changed & ~painted).any()  # nothing changed outside the mask
    # Inside it, a pixel keeps its value only where rounding lands on it exactly.
    assert (painted & ~changed).sum() <= 0.01 * painted.sum()
    assert 0.002 < painted.mean() < 0.08


def test_counts_can_be_chosen_and_damage_is_visible():
    photo = np.full((256, 256, 3), 128, np.uint8)
    only_dust = degrade(photo, seed=1, scratches=0, hairs=0, dust=10)
    assert 0 < np.count_nonzero(only_dust.mask) < 10 * 100
    nothing = degrade(photo, seed=1, scratches=0, hairs=0, dust=0)
    assert not nothing.mask.any() and np.array_equal(nothing.image, photo)
    # Every painted pixel differs visibly (>= 10 levels in some channel) from the photo.
    damaged = degrade(photo, seed=2)
    change = np.abs(damaged.image.astype(int) - photo).max(axis=2)
    assert change[damaged.mask == 255].min() >= 10


def test_rejects_non_rgb_input():
    with pytest.raises(ValueError):
        degrade(np.zeros((10, 10), np.uint8))


def test_score_counts_a_one_pixel_shift_only_with_tolerance():
    truth = np.zeros((20, 20), np.uint8)
    truth[10, 2:18] = 255
    shifted = np.roll(truth, 1, axis=0)
    assert score_detection(shifted, truth, tolerance=1).f1 == 1.0
    assert score_detection(shifted, truth, tolerance=0).f1 == 0.0
    half = truth.copy()
    half[10, 10:] = 0
    score = score_detection(half, truth, tolerance=0)
    assert score.precision == 1.0 and score.recall == 0.5
    assert score_detection(np.zeros_like(truth), np.zeros_like(truth)).f1 == 1.0

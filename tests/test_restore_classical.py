"""The classical scratch and dust detector on synthetic photos with known damage (Qt-free)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import gradient_photo

from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.restore import DEFAULT_SENSITIVITY, degrade, score_detection
from inpaint_studio.restore import damage_map as any_damage_map
from inpaint_studio.restore import detect_damage as any_detect_damage
from inpaint_studio.restore.detect import fill_mask


def detect_damage(image: np.ndarray, sensitivity: float = DEFAULT_SENSITIVITY) -> np.ndarray:
    return any_detect_damage(image, sensitivity, "classical")


def damage_map(image: np.ndarray):
    return any_damage_map(image, "classical")


def textured_photo(height: int = 256, width: int = 320, seed: int = 1) -> np.ndarray:
    """Fine random texture (like foliage or film grain), no lines."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(128, 40, (height, width, 3)).astype(np.float32), (0, 0), 1.5)
    return np.clip(noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_drawn_scratches_hairs_and_dust_on_a_smooth_photo(seed):
    damaged = degrade(gradient_photo(256, 320), seed=seed)
    score = score_detection(detect_damage(damaged.image), damaged.mask)
    assert score.precision > 0.9 and score.recall > 0.8


def test_finds_damage_on_a_textured_photo():
    damaged = degrade(textured_photo(), seed=3)
    score = score_detection(detect_damage(damaged.image), damaged.mask)
    assert score.f1 > 0.8


def test_a_single_scratch_and_a_speck_are_found_where_they_are():
    photo = gradient_photo(200, 200)
    photo[100:102, 20:180] = 250  # a bright horizontal scratch, 2 px wide
    cv2.circle(photo, (50, 50), 2, (10, 10, 10), -1)  # a dark speck
    mask = detect_damage(photo) > 127
    assert mask[100:102, 30:170].mean() > 0.9
    assert mask[48:53, 48:53].any()
    far = np.ones_like(mask)
    far[95:107, 15:185] = False
    far[44:57, 44:57] = False
    assert not mask[far].any()


def test_a_scratch_wider_than_the_disk_is_found_on_a_large_photo():
    """Damage scales with a scan's resolution: an 8 px scratch is found at a coarser level."""
    photo = gradient_photo(1100, 1400)
    cv2.line(photo, (100, 500), (1300, 620), (245, 245, 245), 8)
    mask = detect_damage(photo) > 127
    line = np.zeros(mask.shape, np.uint8)
    cv2.line(line, (150, 505), (1250, 615), 1, 4)  # the scratch's core, away from its ends
    assert mask[line > 0].mean() > 0.9
    assert mask.mean() < 0.02  # little beyond the scratch and its rim
    # At one scale only (a crop too small for coarser levels) the middle of it is missed.
    crop = detect_damage(np.ascontiguousarray(photo[400:700, 400:1000])) > 127
    assert crop[line[400:700, 400:1000] > 0].mean() < 0.9


def test_neutral_damage_on_saturated_colour_is_found():
    """A light grey speck on yellow is as bright as the yellow in grey, but lifts its blue channel."""
    photo = gradient_photo(200, 200)
    photo[:] = np.clip(photo.astype(int) // 8 + (220, 215, 30), 0, 255).astype(np.uint8)
    speck = np.zeros((200, 200), np.uint8)
    cv2.circle(speck, (100, 100), 2, 255, -1)
    photo[speck > 0] = 215
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(int)
    assert abs(grey[100, 100] - grey[100, 110]) < 10  # invisible to a grey-only detector
    mask = detect_damage(photo) > 127
    assert mask[speck > 0].all()
    assert mask.sum() < 2 * np.count_nonzero(speck)


@pytest.mark.parametrize("photo", [gradient_photo(256, 320), textured_photo()], ids=["smooth", "textured"])
def test_a_clean_photo_is_left_almost_alone(photo):
    assert np.count_nonzero(detect_damage(photo)) / photo[..., 0].size < 0.002


def test_higher_sensitivity_finds_a_superset():
    damaged = degrade(textured_photo(seed=5), seed=5)
    evidence = damage_map(damaged.image)
    masks = [evidence.mask(s) > 127 for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    for lower, higher in zip(masks, masks[1:], strict=False):
        assert not (lower & ~higher).any()
    assert masks[0].sum() < masks[-1].sum()


def test_bands_join_without_seams():
    """A photo taller than one processing band gives the same mask as its pieces would in place."""
    photo = degrade(textured_photo(1200, 200, seed=2), seed=4).image
    whole = detect_damage(photo)
    # Rows far from the top and bottom edges do not depend on how the photo was split.
    middle = detect_damage(photo[300:900])
    assert np.array_equal(whole[400:800], middle[100:500])


def test_fill_mask_grows_the_detection():
    mask = np.zeros((20, 20), np.uint8)
    mask[10, 10] = 255
    grown = fill_mask(mask, 2)
    assert grown[10, 8] == 255 and grown[8, 10] == 255 and grown[10, 13] == 0


@pytest.mark.parametrize("sensitivity", [-0.1, 1.5])
def test_sensitivity_out_of_range_is_a_clear_error(sensitivity):
    with pytest.raises(InpaintStudioError, match="between 0 and 1"):
        detect_damage(gradient_photo(32, 32), sensitivity)


@pytest.mark.parametrize("image", [np.zeros((32, 32), np.uint8), np.zeros((32, 32, 3), np.float32)], ids=["grey", "float"])
def test_wrong_image_kind_is_a_clear_error(image):
    with pytest.raises(InpaintStudioError, match="8-bit RGB"):
        detect_damage(image)


@pytest.mark.shared
def test_mean_f1_on_the_evaluation_photos(eval_dir):
    """The benchmark's figure in small: three photos of the evaluation set."""
    scores = []
    for name in ("aqua", "ladybird", "raindrops"):
        clean = cv2.cvtColor(cv2.imread(str(eval_dir / "images" / f"{name}.png")), cv2.COLOR_BGR2RGB)
        damaged = degrade(clean, seed=11)
        scores.append(score_detection(detect_damage(damaged.image), damaged.mask).f1)
    assert np.mean(scores) > 0.7

"""Selecting objects without weights: GrabCut from a box (and clicks), the magic wand, the magnetic lasso."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_photo

from inpaint_studio.core.boxes import Box
from inpaint_studio.selection.grabcut import fill_holes, select_object
from inpaint_studio.selection.paste import iou, paste_object
from inpaint_studio.selection.scissors import AnchorPaths
from inpaint_studio.selection.wand import magic_wand


def textured(height, width, seed):
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (height // 8 + 1, width // 8 + 1, 3))
    import cv2

    big = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(120 + 40 * big, 0, 255).astype(np.uint8)


def test_a_box_around_a_pasted_object_selects_it():
    photo = gradient_photo(240, 320, seed=1)
    scores = []
    for seed in range(6):
        pasted = paste_object(photo, textured(240, 320, seed + 10), seed=seed)
        mask = select_object(pasted.image, pasted.box)
        assert mask.shape == pasted.truth.shape and set(np.unique(mask)) <= {0, 255}
        assert not mask[: pasted.box.y0].any() and not mask[pasted.box.y1 :].any()  # nothing outside the box
        scores.append(iou(mask, pasted.truth))
    assert np.mean(scores) >= 0.9, scores


def test_clicks_mark_what_is_and_is_not_the_object():
    photo = np.full((200, 200, 3), 30, np.uint8)
    photo[50:150, 50:100] = (200, 40, 40)  # a red block
    photo[50:150, 100:150] = (40, 40, 200)  # beside a blue one, inside the same box
    box = Box(40, 40, 160, 160)
    both = select_object(photo, box)
    assert both[100, 75] and both[100, 125]
    red_only = select_object(photo, box, clicks=[(75, 100, True), (125, 100, False)])
    assert red_only[100, 75] and not red_only[100, 125]


def test_a_degenerate_box_selects_nothing_and_holes_are_filled():
    photo = gradient_photo(60, 60)
    assert not select_object(photo, Box(10, 10, 11, 40)).any()
    ring = np.zeros((40, 40), np.uint8)
    ring[10:30, 10:30] = 255
    ring[15:25, 15:25] = 0
    assert fill_holes(ring)[20, 20] == 255 and not fill_holes(ring)[5, 5]


def test_the_wand_selects_the_clicked_colour_touching_it_or_anywhere():
    photo = np.full((100, 100, 3), 200, np.uint8)
    photo[:, 48:52] = 0  # a dark line splits two white halves
    photo[10:20, 10:20] = 215  # a slightly different square inside the left half
    left = magic_wand(photo, 5, 5, tolerance=20)
    assert left[50, 20] and left[15, 15] and not left[50, 80] and not left[50, 50]
    tight = magic_wand(photo, 5, 5, tolerance=5)
    assert not tight[15, 15]
    everywhere = magic_wand(photo, 5, 5, tolerance=20, contiguous=False)
    assert everywhere[50, 80] and not everywhere[50, 50]
    assert not magic_wand(photo, -1, 5).any()


def test_the_magnetic_lasso_follows_an_edge_between_anchors():
    photo = np.full((300, 300, 3), 40, np.uint8)
    photo[80:220, 80:220] = 210
    paths = AnchorPaths(photo, (80, 80))
    path = paths.path_to((219, 80))  # along the top edge of the square
    assert path[0] == (80.0, 80.0) and path[-1] == (219.0, 80.0)
    ys = np.array([y for _, y in path])
    assert np.abs(ys - 80).max() <= 2  # it hugs the edge instead of cutting across
    far = paths.path_to((299, 299 + 500))
    assert far == [(80.0, 80.0), (299.0, 799.0)]  # out of reach: straight


@pytest.mark.shared
def test_box_selection_on_objects_pasted_into_the_evaluation_photos(eval_dir):
    from PIL import Image

    photos = sorted((eval_dir / "images").glob("*.png"))
    scores = []
    for index, path in enumerate(photos):
        photo = np.asarray(Image.open(path).convert("RGB"))
        source = np.asarray(Image.open(photos[(index + 5) % len(photos)]).convert("RGB"))
        pasted = paste_object(photo, source, seed=index)
        scores.append(iou(select_object(pasted.image, pasted.box), pasted.truth))
    assert np.mean(scores) >= 0.9, scores

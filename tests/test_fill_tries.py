"""Try again, without Qt: tries of one fill layer, the photo under it, seeds, undo, memory."""

from __future__ import annotations

import numpy as np
from conftest import gradient_photo
from test_session_fills import RecordingRunner

from inpaint_studio.core.document import Document
from inpaint_studio.core.fill_tries import add_try, fill_mask_of, is_fill, next_seed, show_try, try_count
from inpaint_studio.core.layer_eraser import LayerEraseStroke
from inpaint_studio.core.patch import Patch
from inpaint_studio.core.photo import Photo
from inpaint_studio.session.fills import Fills
from inpaint_studio.worker import JobFinished


def solid(x, y, width, height, colour) -> Patch:
    return Patch(x, y, np.full((height, width, 3), colour, np.uint8), np.full((height, width), 255, np.uint8))


def filled_document(tmp_path):
    """A 60x40 photo with one fill of a 20x10 hole (red), and a later fill over part of it (green)."""
    document = Document(Photo.from_pixels(gradient_photo(40, 60), tmp_path / "photo.png"))
    mask = np.zeros((40, 60), np.uint8)
    mask[10:20, 10:30] = 255
    document.mask[...] = mask
    first = document.add_fill([solid(10, 10, 20, 10, (255, 0, 0))], mask, "Remove 1 · A", {"engine": "a", "seed": 0})
    later = np.zeros_like(mask)
    later[15:25, 25:35] = 255
    document.add_fill([solid(25, 15, 10, 10, (0, 255, 0))], later, "Remove 2 · A", {"engine": "a", "seed": 0})
    return document, first, mask


def test_a_try_is_added_to_the_same_layer_and_the_user_flips_between_tries(tmp_path):
    document, first, mask = filled_document(tmp_path)
    assert is_fill(first) and try_count(first) == 1
    assert np.array_equal(fill_mask_of(first, mask.shape), mask)
    layers = list(document.layers)
    add_try(document, first, [solid(10, 10, 20, 10, (0, 0, 255))], {"engine": "b", "seed": 1})
    assert document.layers == layers  # no new layer
    assert try_count(first) == 2 and first.shown_try == 1 and first.provenance["engine"] == "b"
    assert tuple(document.composite[12, 12]) == (0, 0, 255)
    assert tuple(document.composite[17, 27]) == (0, 255, 0)  # the layer above still covers its part
    assert document.history.undo_label == "Try again"

    show_try(document, first, first.shown_try - 1)
    assert first.shown_try == 0 and tuple(document.composite[12, 12]) == (255, 0, 0)
    assert first.provenance["engine"] == "a" and document.history.undo_label == "Show try 1 of 2"
    show_try(document, first, -1)  # wraps around: the last try
    assert first.shown_try == 1

    document.undo()  # back to try 1
    document.undo()  # back to try 2, just added
    assert first.shown_try == 1 and tuple(document.composite[12, 12]) == (0, 0, 255)
    document.undo()  # the try is gone
    assert try_count(first) == 1 and tuple(document.composite[12, 12]) == (255, 0, 0)
    document.redo()
    assert try_count(first) == 2 and tuple(document.composite[12, 12]) == (0, 0, 255)


def test_the_photo_under_a_layer_leaves_out_that_layer_only(tmp_path):
    document, first, _ = filled_document(tmp_path)
    under = document.composite_without(first)
    assert np.array_equal(under[12, 12], document.original[12, 12])
    assert tuple(under[17, 27]) == (0, 255, 0)  # the layer above stays
    assert np.array_equal(under[30:], document.composite[30:])
    assert tuple(document.composite[12, 12]) == (255, 0, 0)  # the document itself is untouched


def test_each_try_gets_a_seed_no_try_used(tmp_path):
    document, first, _ = filled_document(tmp_path)
    assert next_seed(first, 0) == 1 and next_seed(first, 7) == 7
    add_try(document, first, [solid(10, 10, 20, 10, (0, 0, 255))], {"engine": "a", "seed": 1})
    assert next_seed(first, 0) == 2


def test_an_erased_part_stays_with_its_try_and_hidden_tries_count_as_memory(tmp_path):
    document, first, _ = filled_document(tmp_path)
    size = first.nbytes
    add_try(document, first, [solid(10, 10, 20, 10, (0, 0, 255))], {"engine": "b"})
    assert first.nbytes > size  # the hidden try is kept
    stroke = LayerEraseStroke(document, first, diameter=6, hardness=1.0)
    stroke.add_point(12, 12)
    stroke.finish()
    erased = document.composite[12, 12].copy()
    assert tuple(erased) != (0, 0, 255)
    show_try(document, first, 0)
    show_try(document, first, 1)
    assert np.array_equal(document.composite[12, 12], erased)


def test_a_finished_try_lands_on_its_layer_and_is_dropped_if_the_layer_was_deleted(tmp_path):
    from inpaint_studio.core.layer_commands import delete_layer
    from inpaint_studio.worker import FillRequest

    document, first, mask = filled_document(tmp_path)
    fills = Fills(RecordingRunner())
    request = FillRequest.snapshot(document.composite_without(first), mask, "telea")
    job = fills.start(document, request, try_of=first)
    fills.handle(JobFinished(job, [solid(10, 10, 20, 10, (9, 9, 9))], 0.1, {"engine": "telea"}, "Telea"))
    assert try_count(first) == 2 and len(document.layers) == 2 and not fills.busy
    job = fills.start(document, request, try_of=first)
    delete_layer(document, first)
    fills.handle(JobFinished(job, [solid(10, 10, 20, 10, (8, 8, 8))], 0.1, {"engine": "telea"}, "Telea"))
    assert len(document.layers) == 1 and try_count(first) == 2

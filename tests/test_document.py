"""Document: fills as layers over an untouched original, one history for mask and fills."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_photo

from inpaint_studio.core.document import Document
from inpaint_studio.core.history import History
from inpaint_studio.core.mask_edit import BrushStroke, fill_rectangle
from inpaint_studio.engines.opencv_engines import TeleaEngine
from inpaint_studio.engines.pipeline import inpaint_patches
from inpaint_studio.io import load_image


@pytest.fixture
def document(tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.fromarray(gradient_photo(120, 160)).save(path)
    return Document(load_image(path))


def _fill(document: Document) -> None:
    patches = inpaint_patches(TeleaEngine(), document.composite, document.mask)
    document.add_fill(patches, document.mask.copy(), "OpenCV Telea", {"engine": "telea"})


def test_a_fill_adds_a_layer_clears_its_mask_and_undo_restores_both(document):
    events = []
    document.listeners.append(lambda what, box: events.append(what))
    document.record_mask_edit(fill_rectangle(document.mask, (40, 40), (80, 70)), "Rectangle")
    mask_before_fill = document.mask.copy()
    _fill(document)
    assert len(document.layers) == 1 and not document.mask.any()
    assert not np.array_equal(document.composite[45:65, 45:75], document.original[45:65, 45:75])
    assert document.modified and {"mask", "image", "history"} <= set(events)

    assert document.undo() == "OpenCV Telea"  # the layer name is the step
    assert document.layers == [] and np.array_equal(document.mask, mask_before_fill)
    assert np.array_equal(document.composite, document.original)
    document.redo()
    assert len(document.layers) == 1 and not document.mask.any()


def test_strokes_painted_during_a_job_survive_its_result(document):
    document.record_mask_edit(fill_rectangle(document.mask, (10, 10), (30, 30)), "Rectangle")
    job_mask = document.mask.copy()
    patches = inpaint_patches(TeleaEngine(), document.composite, job_mask)
    document.record_mask_edit(fill_rectangle(document.mask, (100, 80), (120, 100)), "Rectangle")  # while it ran
    document.add_fill(patches, job_mask, "OpenCV Telea", {})
    assert not document.mask[10:30, 10:30].any() and document.mask[80:100, 100:120].all()


def test_hiding_a_layer_shows_the_original_and_the_original_is_never_changed(document):
    original = document.original.copy()
    document.record_mask_edit(fill_rectangle(document.mask, (40, 40), (80, 70)), "Rectangle")
    _fill(document)
    layer = document.layers[0]
    layer.visible = False
    document.recomposite(layer.box)
    assert np.array_equal(document.composite, original)
    assert np.array_equal(document.original, original)


def test_stroke_undo_is_bit_exact_and_saved_state_is_tracked(document):
    stroke = BrushStroke(document.mask, 12)
    stroke.add_point(10, 10)
    stroke.add_point(100, 90)
    document.record_mask_edit(stroke.finish(), "Brush")
    document.mark_saved()
    assert not document.modified
    document.undo()
    assert not document.mask.any() and document.modified


def test_history_budget_drops_the_oldest_steps():
    class Step:
        label = "step"
        nbytes = 400

        def undo(self, document):
            pass

        def redo(self, document):
            pass

    history = History(budget_bytes=1000)
    for _ in range(5):
        history.push(Step())
    assert history.nbytes <= 1000 and history.dropped == 3
    assert history.undo(None) and history.undo(None) and not history.can_undo


def test_a_fill_of_far_apart_regions_stores_only_their_own_boxes(document):

    document.record_mask_edit(fill_rectangle(document.mask, (2, 2), (12, 12)), "Rectangle")
    document.record_mask_edit(fill_rectangle(document.mask, (140, 100), (155, 115)), "Rectangle")
    before = document.mask.copy()
    patches = inpaint_patches(TeleaEngine(), document.composite, document.mask)
    assert len(patches) == 2
    layer = document.add_fill(patches, document.mask.copy(), "OpenCV Telea", {})
    command_bytes = document.history.nbytes  # the whole history, fill included
    union_area = (layer.box[2] - layer.box[0]) * (layer.box[3] - layer.box[1])
    assert command_bytes < union_area  # far less than one byte per pixel of the union box
    assert [crop.pixels.shape for crop in layer.fill_masks] == [(p.height, p.width) for p in patches]
    document.undo()
    assert np.array_equal(document.mask, before)

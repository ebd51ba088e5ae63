"""The layer eraser: brushing away part of a fill layer brings the photo back, undoably."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image

from inpaint_studio.core import layer_commands as ops
from inpaint_studio.core.document import Document
from inpaint_studio.core.layer_eraser import LayerEraseStroke
from inpaint_studio.core.patch import Patch
from inpaint_studio.io import load_image


@pytest.fixture
def document(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(gradient_photo(100, 140)).save(path)
    doc = Document(load_image(path))
    mask = np.zeros(doc.mask.shape, np.uint8)
    mask[20:80, 20:120] = 255
    # Two patches side by side, like a fill of two mask regions.
    left = Patch(20, 20, np.full((60, 50, 3), (250, 0, 0), np.uint8), np.full((60, 50), 255, np.uint8))
    right = Patch(70, 20, np.full((60, 50, 3), (0, 0, 250), np.uint8), np.full((60, 50), 255, np.uint8))
    doc.add_fill([left, right], mask, "Fill", {"engine": "hand"})
    return doc


def _erase(document, layer, points, size=20, hardness=1.0) -> bool:
    stroke = LayerEraseStroke(document, layer, size, hardness)
    for x, y in points:
        stroke.add_point(x, y)
    return stroke.finish()


def test_erasing_reveals_the_original_only_under_the_brush(document):
    layer = document.layers[0]
    before = document.composite.copy()
    assert _erase(document, layer, [(30, 50), (110, 50)], size=12)
    # Under the stroke: the original photo again; away from it: still the fill.
    assert np.array_equal(document.composite[50, 35:105], document.original[50, 35:105])
    assert np.array_equal(document.composite[25:35, 25:115], before[25:35, 25:115])
    assert np.array_equal(document.composite[70:80], before[70:80])
    assert document.history.undo_label == "Erase from 'Fill'"
    assert len(document.history.steps) == 2  # the fill, then the whole stroke as one step


def test_undo_and_redo_of_an_erase_are_bit_exact(document):
    fill_state = document.composite.copy()
    _erase(document, document.layers[0], [(40, 40), (100, 60)], size=16, hardness=0.3)
    erased_state = document.composite.copy()
    assert not np.array_equal(fill_state, erased_state)
    document.undo()
    assert np.array_equal(document.composite, fill_state)
    document.redo()
    assert np.array_equal(document.composite, erased_state)
    # The incremental composite equals one rebuilt from scratch.
    document.recomposite((0, 0, 140, 100))
    assert np.array_equal(document.composite, erased_state)


def test_a_soft_brush_fades_the_layer_rather_than_cutting_it(document):
    _erase(document, document.layers[0], [(45, 50)], size=30, hardness=0.0)
    alpha = document.layers[0].patches[0].alpha
    centre, edge = alpha[30, 25], alpha[30, 25 + 12]
    assert centre < edge < 255 and 0 < edge


def test_a_stroke_that_misses_the_layer_records_nothing(document):
    steps = document.history.steps
    assert not _erase(document, document.layers[0], [(5, 5), (10, 8)], size=6)
    assert document.history.steps == steps


def test_a_duplicate_shares_patches_but_erasing_one_leaves_the_other_alone(document):
    original_layer = document.layers[0]
    copy = ops.duplicate_layer(document, original_layer)
    _erase(document, copy, [(40, 50)], size=10)
    assert (original_layer.patches[0].alpha == 255).all()
    assert (copy.patches[0].alpha < 255).any()


def test_erase_costs_only_the_touched_patches_alpha(document):
    _erase(document, document.layers[0], [(30, 50), (40, 50)], size=10)  # left patch only
    command_bytes = document.history.nbytes - document.layers[0].nbytes
    assert command_bytes < 60 * 50 * 2  # one alpha plane, not rgb, not the whole image

"""Layer operations and history: every command undoes and redoes bit-exactly."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image

from inpaint_studio.core import layer_commands as ops
from inpaint_studio.core.document import Document
from inpaint_studio.core.mask_edit import BrushStroke, apply_operation, fill_rectangle
from inpaint_studio.core.patch import Patch
from inpaint_studio.io import load_image


def _fill(document: Document, box, colour, name) -> None:
    x0, y0, x1, y1 = box
    rgb = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    rgb[...] = colour
    alpha = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    alpha[0, :] = 128  # a soft edge, so blending is exercised
    mask = np.zeros(document.mask.shape, np.uint8)
    mask[y0:y1, x0:x1] = 255
    document.add_fill([Patch(x0, y0, rgb, alpha)], mask, name, {"engine": name})


@pytest.fixture
def document(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(gradient_photo(100, 140)).save(path)
    doc = Document(load_image(path))
    _fill(doc, (10, 10, 60, 60), (255, 0, 0), "red")
    _fill(doc, (40, 40, 90, 90), (0, 0, 255), "blue")
    _fill(doc, (80, 20, 130, 70), (0, 255, 0), "green")
    return doc


def _state(document: Document):
    return (
        document.composite.copy(),
        document.mask.copy(),
        [(layer.id, layer.name, layer.visible, layer.opacity) for layer in document.layers],
    )


def _assert_same(a, b):
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def _undo_redo_exact(document: Document, operation) -> None:
    before = _state(document)
    operation()
    after = _state(document)
    assert not (np.array_equal(before[0], after[0]) and before[2] == after[2] and np.array_equal(before[1], after[1]))
    document.undo()
    _assert_same(_state(document), before)
    document.redo()
    _assert_same(_state(document), after)


def _recomposited(document: Document) -> np.ndarray:
    """The composite rebuilt from scratch, to check the incremental one."""
    height, width = document.mask.shape
    saved = document.composite.copy()
    document.recomposite((0, 0, width, height))
    fresh = document.composite.copy()
    document.composite[...] = saved
    return fresh


@pytest.mark.parametrize(
    "operation",
    [
        lambda d: ops.set_layer_property(d, d.layers[1], "visible", False),
        lambda d: ops.set_layer_property(d, d.layers[1], "opacity", 0.4),
        lambda d: ops.set_layer_property(d, d.layers[0], "name", "renamed"),
        lambda d: ops.move_layer(d, d.layers[0], 2),
        lambda d: ops.delete_layer(d, d.layers[1]),
        lambda d: ops.duplicate_layer(d, d.layers[0]),
        lambda d: ops.merge_down(d, d.layers[1]),
        lambda d: ops.flatten(d),
        lambda d: d.record_mask_edit(fill_rectangle(d.mask, (5, 5), (30, 30)), "Rectangle"),
        lambda d: d.record_mask_edit(apply_operation(d.mask, "invert"), "Invert"),
    ],
    ids=["hide", "opacity", "rename", "move", "delete", "duplicate", "merge", "flatten", "mask-shape", "mask-op"],
)
def test_every_command_undoes_and_redoes_bit_exactly(document, operation):
    _undo_redo_exact(document, lambda: operation(document))
    assert np.array_equal(document.composite, _recomposited(document))


def test_merge_and_flatten_look_exactly_like_the_layers_they_replace(document):
    ops.set_layer_property(document, document.layers[1], "opacity", 0.5)
    looks = document.composite.copy()
    ops.merge_down(document, document.layers[1])
    assert len(document.layers) == 2
    assert np.abs(document.composite.astype(int) - looks).max() <= 1
    ops.flatten(document)
    assert len(document.layers) == 1
    assert np.abs(document.composite.astype(int) - looks).max() <= 1


def test_hidden_layers_are_dropped_by_flatten_and_the_original_is_untouched(document):
    original = document.original.copy()
    ops.set_layer_property(document, document.layers[2], "visible", False)
    ops.flatten(document)
    assert document.layers[0].name == "Flattened fills"
    assert (document.composite[45, 110] == original[45, 110]).all()  # green was hidden
    assert np.array_equal(document.original, original)


def test_jumping_across_the_history_is_exact(document):
    states = [_state(document)]
    stroke = BrushStroke(document.mask, 9)
    stroke.add_point(5, 95)
    stroke.add_point(135, 95)
    document.record_mask_edit(stroke.finish(), "Brush")
    states.append(_state(document))
    ops.delete_layer(document, document.layers[0])
    states.append(_state(document))
    ops.set_layer_property(document, document.layers[0], "opacity", 0.25)
    states.append(_state(document))
    base = document.history.position - 3
    assert document.history.steps[base:] == ["Brush", "Delete layer 'red'", "Layer opacity"]
    for target in (0, 3, 1, 2, 0, 3):
        document.history.jump(document, base + target)
        _assert_same(_state(document), states[target])


def test_flattening_far_apart_fills_keeps_one_patch_per_group_not_their_union(document):
    _fill(document, (132, 92, 139, 99), (9, 9, 9), "corner")  # clear of the other three
    looks = document.composite.copy()
    merged = ops.flatten(document)
    # red, blue and green overlap one another; the corner fill stands alone.
    assert len(merged.patches) == 2
    assert merged.nbytes == (120 * 80 + 7 * 7) * 4  # not the (139 - 10) x (99 - 10) union
    assert np.abs(document.composite.astype(int) - looks).max() <= 1
    document.undo()
    assert np.array_equal(document.composite, looks)

"""The selection tools in the window: drag a box, click with the wand, click around with the magnetic lasso."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from test_ui_main_window import _run_fill_at, drag, widget_point

from inpaint_studio.selection.paste import iou
from inpaint_studio.ui.mask_tools import Tool


@pytest.fixture
def squares(window, tmp_path):
    """A grey photo with a red square (60..140 x 40..120) and a blue one (200..260 x 60..140)."""
    photo = np.full((200, 300, 3), 90, np.uint8)
    photo[40:120, 60:140] = (210, 40, 40)
    photo[60:140, 200:260] = (40, 60, 210)
    path = tmp_path / "squares.png"
    Image.fromarray(photo).save(path)
    assert window.open_file(path, confirm=False)
    truth = np.zeros((200, 300), np.uint8)
    truth[40:120, 60:140] = 255
    return window, truth


def wait_for_mask(qtbot, win, steps):
    qtbot.waitUntil(lambda: len(win.document.history.steps) == steps, timeout=5000)


def test_a_box_dragged_around_an_object_selects_it_in_one_step(qtbot, squares):
    window, truth = squares
    qtbot.keyClick(window.canvas, Qt.Key.Key_W)
    assert window.tools.tool == Tool.OBJECT_SELECT
    drag(qtbot, window, [(50, 30), (100, 80), (150, 130)])
    wait_for_mask(qtbot, window, 1)
    assert iou(window.document.mask, truth) > 0.95
    assert window.document.history.undo_label == "Object selection"
    window.undo()
    assert not window.document.mask.any()


def test_a_thin_object_grabcut_loses_is_said_and_nothing_is_filled(qtbot, window, tmp_path):
    # A mast across a night sky: GrabCut keeps only the solid lamp on it (25 of 5600 pixels in the box).
    photo = np.clip(np.full((200, 300, 3), (40, 60, 110)) + np.random.default_rng(0).normal(0, 4, (200, 300, 3)), 0, 255)
    photo = photo.astype(np.uint8)
    cv2.line(photo, (40, 20), (260, 190), (200, 190, 170), 3)
    photo[88:93, 130:135] = (230, 60, 60)
    Image.fromarray(photo).save(tmp_path / "mast.png")
    assert window.open_file(tmp_path / "mast.png", confirm=False)
    window.auto_run_action.setChecked(True)  # a selection that landed would be filled at once
    qtbot.keyClick(window.canvas, Qt.Key.Key_W)
    drag(qtbot, window, [(100, 50), (170, 130)])
    qtbot.waitUntil(lambda: "almost nothing" in window.statusBar().currentMessage(), timeout=5000)
    assert "Segment Anything" in window.statusBar().currentMessage()
    assert not window.document.mask.any() and window.document.history.undo_label is None  # nothing added, no fill
    qtbot.wait(300)
    assert window.document.layers == []


def test_alt_click_inside_the_box_takes_a_part_away(qtbot, squares):
    window, _ = squares
    window.set_tool(Tool.OBJECT_SELECT)
    drag(qtbot, window, [(50, 30), (270, 150)])  # both squares
    wait_for_mask(qtbot, window, 1)
    assert window.document.mask[80, 100] and window.document.mask[100, 230]
    point = widget_point(window, 230, 100)
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, point)
    wait_for_mask(qtbot, window, 2)
    assert window.document.mask[80, 100] and not window.document.mask[100, 230]


def test_the_magic_wand_selects_the_clicked_colour_with_its_tolerance(qtbot, squares):
    window, truth = squares
    qtbot.keyClick(window.canvas, Qt.Key.Key_W, Qt.KeyboardModifier.ShiftModifier)
    assert window.tools.tool == Tool.MAGIC_WAND
    assert all(option.isVisible() for option in window.tool_options.wand_options)  # its options, not the brush's
    assert not any(option.isVisible() for option in window.tool_options.brush_options)
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, pos=widget_point(window, 100, 80))
    wait_for_mask(qtbot, window, 1)
    assert np.array_equal(window.document.mask > 0, truth > 0)
    window.tool_options.contiguous_box.setChecked(False)
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, pos=widget_point(window, 20, 20))  # the grey, everywhere
    wait_for_mask(qtbot, window, 2)
    assert window.document.mask[10, 10] and window.document.mask[190, 290] and not window.document.mask[100, 230]
    assert window.settings.wand_contiguous is False


def test_the_magnetic_lasso_outline_follows_the_square_and_enter_closes_it(qtbot, squares):
    window, truth = squares
    window.set_tool(Tool.MAGNETIC_LASSO)
    for x, y in [(60, 40), (139, 40), (139, 119), (60, 119)]:
        qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, pos=widget_point(window, x, y))
        qtbot.wait(400)  # each anchor's paths are prepared in the background
        qtbot.mouseMove(window.canvas, widget_point(window, x + 1, y + 1))
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)
    assert window.document.history.undo_label == "Magnetic lasso"
    assert iou(window.document.mask, truth) > 0.9
    assert window.document.layers == []  # Enter closed the outline; it did not run a fill


def test_alt_click_sets_the_clone_source_and_strokes_go_into_one_retouch_layer(qtbot, squares):
    window, _ = squares
    qtbot.keyClick(window.canvas, Qt.Key.Key_S)
    assert window.tools.tool == Tool.CLONE
    window.tools.set_brush_size(10)
    window.tools.hardness = 1.0
    drag(qtbot, window, [(150, 150), (160, 150)])  # no source yet: says what to do
    assert "Alt+click" in window.statusBar().currentMessage() and window.document.layers == []
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, widget_point(window, 100, 80))
    drag(qtbot, window, [(100, 160), (110, 160)])  # paints the red square's colour 80 px lower
    drag(qtbot, window, [(120, 160), (125, 160)])  # aligned: 80 px above again
    assert [layer.name for layer in window.document.layers] == ["Retouch"]
    assert len(window.document.layers[0].patches) == 2
    assert (window.document.composite[160, 105] == (210, 40, 40)).all()
    assert window.document.history.undo_label == "Clone stamp"
    window.undo()
    assert len(window.document.layers[0].patches) == 1


def test_the_layer_retouching_landed_in_becomes_the_selected_one(qtbot, squares):
    # As in Photoshop, the layer just painted is the active one: the layer eraser then erases the clone, not a fill.
    window, _ = squares
    _run_fill_at(qtbot, window, (200, 60, 260, 140))  # the blue square removed: "Remove 1" is selected
    fill = window.document.layers[0]
    assert window.layers_panel.selected_layer is fill
    qtbot.keyClick(window.canvas, Qt.Key.Key_S)
    window.tools.set_brush_size(10)
    window.tools.hardness = 1.0
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, widget_point(window, 100, 80))
    drag(qtbot, window, [(100, 160), (110, 160)])
    retouch = window.document.layers[1]
    assert retouch.name == "Retouch" and window.layers_panel.selected_layer is retouch
    qtbot.keyClick(window.canvas, Qt.Key.Key_E, Qt.KeyboardModifier.ShiftModifier)
    drag(qtbot, window, [(95, 160), (115, 160)])
    assert (window.document.composite[160, 105] == 90).all()  # the clone erased: the grey photo again
    assert not np.array_equal(window.document.composite[100, 230], window.document.original[100, 230])  # fill kept

    _run_fill_at(qtbot, window, (60, 40, 140, 120))  # "Remove 2", above the Retouch layer, is selected
    assert window.layers_panel.selected_layer is window.document.layers[-1] is not retouch
    patches = len(retouch.patches)
    qtbot.keyClick(window.canvas, Qt.Key.Key_J, Qt.KeyboardModifier.ShiftModifier)
    drag(qtbot, window, [(30, 170), (40, 170)])
    qtbot.waitUntil(lambda: len(retouch.patches) == patches + 1, timeout=10000)
    assert window.layers_panel.selected_layer is retouch


def test_the_spot_healing_brush_fills_with_the_engine_into_the_retouch_layer(qtbot, squares):
    window, _ = squares
    qtbot.keyClick(window.canvas, Qt.Key.Key_J, Qt.KeyboardModifier.ShiftModifier)
    assert window.tools.tool == Tool.SPOT_HEAL
    window.tools.set_brush_size(12)
    drag(qtbot, window, [(30, 170), (40, 170)])
    qtbot.waitUntil(lambda: bool(window.document.layers), timeout=10000)
    assert [layer.name for layer in window.document.layers] == ["Retouch"]
    assert (window.document.composite[170, 35] == (255, 0, 255)).all()  # the fake engine's fill
    assert not window.document.mask.any()  # the document's mask was never touched
    assert window.document.history.undo_label.startswith("Spot healing")

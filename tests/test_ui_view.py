"""Issue 18's "Feel": zoom keys and field, before/after, Select > Modify amounts, mask colour, clipboard,
the File and Help commands — each driven through the window's keys, menus and fields."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_photo, on_the_desktop
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QInputDialog
from test_ui_main_window import drag, widget_point

from inpaint_studio.ui.mask_tools import Tool
from inpaint_studio.ui.qimage import array_to_qimage, qimage_to_array
from inpaint_studio.ui.shortcuts_sheet import shortcut_rows


@pytest.fixture
def window(window, qtbot):
    return on_the_desktop(window, qtbot)


def rendered(win, x, y):
    colour = win.canvas.grab().toImage().pixelColor(widget_point(win, x + 0.5, y + 0.5))
    return colour.red(), colour.green(), colour.blue()


def fill_at(qtbot, win, box):
    win.set_tool(Tool.RECTANGLE)
    drag(qtbot, win, [box[:2], box[2:]])
    layers = len(win.document.layers)
    win.run_fill()
    qtbot.waitUntil(lambda: len(win.document.layers) == layers + 1 and not win.workspace.fills.busy, timeout=10000)


# PySide6 6.5 deletes what QAction.menu() returned, and the actions got through it, once the action's
# wrapper is gone: the menus and actions walked here are kept referenced.
_walked: list = []


def menu_actions(win, title):
    menu_action = next(a for a in win.menuBar().actions() if a.text().replace("&", "") == title)
    return menu_actions_of(menu_action)


def menu_actions_of(action):
    sub = action.menu()
    if not sub:
        return [action]
    _walked.extend([action, sub])
    return [a for child in sub.actions() for a in menu_actions_of(child)]


def test_ctrl_equals_zooms_in_and_the_zoom_field_takes_a_percentage(qtbot, window):
    window.canvas.actual_size()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert window.canvas.zoom > 1.0
    field = window.views.zoom_field
    assert field.value() == round(window.canvas.zoom * 100)
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, "250")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert window.canvas.zoom == pytest.approx(2.5)
    assert QApplication.focusWidget() is window.canvas  # back to painting


def test_the_before_after_divider_shows_the_original_left_of_it(qtbot, window):
    fill_at(qtbot, window, (120, 60, 200, 140))
    window.canvas.actual_size()
    qtbot.wait(50)
    assert rendered(window, 150, 100) == (255, 0, 255)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Y)
    divider = window.views.divider
    assert divider.isVisible() and window.views.split_action.isChecked()
    # Drag the divider to the right of the fill: the fill's place now shows the original.
    target = window.canvas.mapTo(window.canvas, widget_point(window, 250, 100))
    qtbot.mousePress(divider, Qt.MouseButton.LeftButton, pos=QPoint(divider.width() // 2, divider.height() // 2))
    qtbot.mouseMove(divider, divider.mapFrom(window.canvas, target))
    qtbot.mouseRelease(divider, Qt.MouseButton.LeftButton, pos=divider.mapFrom(window.canvas, target))
    assert window.canvas.split == pytest.approx(target.x(), abs=2)
    assert rendered(window, 150, 100) == tuple(int(v) for v in window.document.original[100, 150])
    qtbot.keyClick(window.canvas, Qt.Key.Key_Y)
    assert not divider.isVisible() and window.canvas.split is None
    assert rendered(window, 150, 100) == (255, 0, 255)


def test_holding_backslash_labels_the_original(qtbot, window):
    window.canvas.actual_size()
    qtbot.mouseMove(window.canvas, widget_point(window, 150, 100))
    corner = QPoint(20, 18)
    before = window.canvas.grab().toImage().pixelColor(corner)
    qtbot.keyPress(window.canvas, Qt.Key.Key_Backslash)
    label = window.canvas.grab().toImage().pixelColor(corner)
    qtbot.keyRelease(window.canvas, Qt.Key.Key_Backslash)
    assert label.lightness() < before.lightness() - 20  # the dark plate of the "Original" caption
    assert window.canvas.grab().toImage().pixelColor(corner) == before


def test_modify_amounts_are_asked_for_and_remembered(qtbot, window, monkeypatch):
    offered = []

    def get_int(parent, title, label, value, low, high):
        offered.append(value)
        return 7, True

    monkeypatch.setattr(QInputDialog, "getInt", get_int)
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 60), (160, 120)])
    before = int(np.count_nonzero(window.document.mask))
    window.masks.grow_action.trigger()
    assert np.count_nonzero(window.document.mask) > before and window.settings.mask_grow_px == 7
    assert window.document.history.undo_label == "Grow mask 7 px"
    window.masks.grow_action.trigger()
    assert offered == [4, 7]  # the amount used last is offered next
    assert window.masks.grow_action in menu_actions(window, "Select")


def test_the_mask_colour_is_chosen_in_the_view_menu_and_remembered(qtbot, window):
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 60), (160, 120)])
    window.canvas.actual_size()
    qtbot.wait(50)
    green = next(a for a in menu_actions(window, "View") if a.text() == "Green")
    green.trigger()
    red, g, blue = rendered(window, 130, 90)
    assert g > red and g > blue and window.settings.overlay_color == "#20d040"
    full = next(a for a in menu_actions(window, "View") if a.text() == "Opacity 100 %")
    full.trigger()
    assert rendered(window, 130, 90) == (0x20, 0xD0, 0x40) and window.settings.overlay_opacity == 1.0


def test_copy_merged_and_paste_as_a_new_photo(qtbot, window):
    fill_at(qtbot, window, (120, 60, 200, 140))
    qtbot.keyClick(window.canvas, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    copied = qimage_to_array(QGuiApplication.clipboard().image())
    assert np.array_equal(copied[..., :3], window.document.composite)
    other = gradient_photo(90, 120, seed=4)
    QGuiApplication.clipboard().setImage(array_to_qimage(other).copy())
    window.document.mark_saved()
    qtbot.keyClick(window.canvas, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.document.original, other)
    assert window.windowTitle().startswith("Pasted image.png") and window.isWindowModified()
    window.document.mark_saved()


def test_file_close_save_all_and_close_folder_are_in_the_file_menu(qtbot, window):
    file_menu = menu_actions(window, "File")
    for action in (window.files.close_action, window.files.save_all_action, window.files.close_folder_action):
        assert action in file_menu
    assert not window.files.close_folder_action.isEnabled()  # no folder open
    qtbot.keyClick(window.canvas, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert window.document is None and not window.files.close_action.isEnabled()
    assert window.windowTitle().startswith("Inpaint Studio")


def test_the_run_menu_shows_the_keys_that_work_wherever_the_focus_is(qtbot, window):
    # Enter and Esc are handled by the window (so they work in a field or list too), not bound to the
    # actions: the menu still names them, as every menu names its commands' keys.
    shown = {action.text().split("\t")[0]: action.text().partition("\t")[2] for action in menu_actions(window, "Run")}
    assert shown["&Remove masked area"] == "Enter" and shown["&Cancel"] == "Esc"
    assert window.run_action.shortcut().isEmpty()  # shown, not bound: Enter in a dialog is the dialog's


def test_the_shortcut_sheet_lists_every_shortcut_of_the_window(qtbot, window):
    rows = {keys: command for _, section in shortcut_rows(window) for keys, command in section}
    assert rows["Ctrl+Z"] == "Undo" and rows["B"].startswith("Brush") and rows["Ctrl+1"] == "Actual size (100%)"
    assert rows["Ctrl++ or Ctrl+="] == "Zoom in"
    every = {a.shortcut().toString() for a in window.actions() if not a.shortcut().isEmpty()}
    listed = {key for keys in rows for key in keys.split(" or ")}
    assert every <= listed


def test_a_long_fill_shows_its_progress_with_the_time_left_and_cancel(qtbot, window):
    from inpaint_studio.ui.fill_controls import time_left

    assert time_left(4.0, 0.5) == " · about 4 s left" and time_left(0.2, 0.5) == ""
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 60), (160, 120)])
    window.engines.params = {"steps": 60, "step_seconds": 0.05}
    window.run_fill()
    bar = window.fill_controls.progress
    qtbot.waitUntil(lambda: "left" in bar.text(), timeout=5000)
    assert bar.isVisible() and window.fill_controls.cancel_button.isVisible()
    qtbot.mouseClick(window.fill_controls.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.workspace.fills.busy, timeout=3000)
    assert not bar.isVisible() and window.document.layers == []

"""The editor's interaction as a person drives it: focus left on toolbar buttons and lists, held keys
with auto-repeat, real drags, fields committed with Enter or Esc (issue 18's "Broken" list)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_photo, on_the_desktop
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog
from test_ui_main_window import drag, widget_point

from inpaint_studio.io.project_file import load_project
from inpaint_studio.session.settings import Settings
from inpaint_studio.ui.mask_tools import Tool
from inpaint_studio.ui.preferences_dialog import PreferencesDialog


@pytest.fixture
def window(window, qtbot):
    return on_the_desktop(window, qtbot)


def send_key(widget, key, kind=QEvent.Type.KeyPress, repeat=False, text=""):
    """A key event as the system delivers it to the focused widget (auto-repeat included)."""
    QApplication.sendEvent(widget, QKeyEvent(kind, key, Qt.KeyboardModifier.NoModifier, text, repeat))


def hold_space_and_drag(qtbot, win, start, end, flagged=True, repeats=6):
    """Space held where the focus is, with the repeats a held key gives, while the pointer hovers over the
    canvas and then drags on it. Unflagged repeats (plain release and press pairs) are what a system
    without detectable auto-repeat delivers: the worst case."""
    canvas = win.canvas

    def focus():
        widget = QApplication.focusWidget()
        assert widget is not None  # the window is active: some widget has the keys
        return widget

    def repeat():
        send_key(focus(), Qt.Key.Key_Space, QEvent.Type.KeyRelease, repeat=flagged, text=" ")
        send_key(focus(), Qt.Key.Key_Space, repeat=flagged, text=" ")

    qtbot.mouseMove(canvas, widget_point(win, *start))
    send_key(focus(), Qt.Key.Key_Space, text=" ")
    for _ in range(3):
        repeat()  # held before the drag begins
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=widget_point(win, *start))
    for step in range(1, repeats + 1):
        repeat()
        x = start[0] + (end[0] - start[0]) * step / repeats
        y = start[1] + (end[1] - start[1]) * step / repeats
        qtbot.mouseMove(canvas, widget_point(win, x, y))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=widget_point(win, *end))
    send_key(focus(), Qt.Key.Key_Space, QEvent.Type.KeyRelease, text=" ")


def mask_rectangle(qtbot, win, box):
    win.set_tool(Tool.RECTANGLE)
    drag(qtbot, win, [box[:2], box[2:]])


def wait_for_layers(qtbot, win, count):
    qtbot.waitUntil(lambda: len(win.document.layers) == count and not win.workspace.fills.busy, timeout=10000)


# ---------------------------------------------------------------- 1. Space pans whatever has the focus


@pytest.mark.parametrize("flagged", [True, False])
def test_space_drag_pans_after_clicking_remove_and_never_presses_it(qtbot, window, flagged):
    mask_rectangle(qtbot, window, (100, 60, 160, 120))
    qtbot.mouseClick(window.run_toolbar.run_button, Qt.MouseButton.LeftButton)
    wait_for_layers(qtbot, window, 1)
    assert QApplication.focusWidget() is not window.run_toolbar.run_button  # a click does not take the focus
    mask_rectangle(qtbot, window, (20, 20, 60, 60))  # what a pressed button would fill now
    window.run_toolbar.run_button.setFocus()  # where it has the focus anyway (Tab), Space still pans
    steps = len(window.document.history.steps)
    window.canvas.set_zoom(2.0)
    before = (window.canvas._ox, window.canvas._oy)
    hold_space_and_drag(qtbot, window, (150, 100), (120, 80), flagged)
    qtbot.wait(100)
    assert (window.canvas._ox, window.canvas._oy) != before  # the view moved
    assert len(window.document.layers) == 1 and not window.workspace.fills.busy  # no fill ran
    assert len(window.document.history.steps) == steps  # and no stroke was painted


@pytest.mark.parametrize("flagged", [True, False])
def test_space_over_the_canvas_does_not_toggle_a_clicked_layer(qtbot, window, flagged):
    mask_rectangle(qtbot, window, (100, 60, 160, 120))
    window.run_fill()
    wait_for_layers(qtbot, window, 1)
    panel = window.layers_panel
    item_rect = panel.list.visualItemRect(panel.list.item(0))
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=item_rect.center())
    panel.list.setFocus()  # even with the keyboard focus in the list
    hold_space_and_drag(qtbot, window, (150, 100), (100, 100), flagged, repeats=20)
    assert window.document.layers[0].visible
    assert window.document.history.undo_label.startswith("Remove 1")  # nothing else was done


def test_enter_or_escape_in_the_size_field_commits_and_hands_focus_back_without_a_fill(qtbot, window):
    mask_rectangle(qtbot, window, (100, 60, 160, 120))  # a mask Enter on the canvas would fill
    qtbot.keyClick(window.canvas, Qt.Key.Key_B)  # the brush, whose size the field sets
    spin = window.tool_options.size_spin
    qtbot.mouseClick(spin.lineEdit(), Qt.MouseButton.LeftButton)
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "55")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert window.tools.brush_size == 55
    assert QApplication.focusWidget() is window.canvas
    qtbot.wait(100)
    assert window.document.layers == [] and not window.workspace.fills.busy
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "31")
    qtbot.keyClick(spin, Qt.Key.Key_Escape)
    assert window.tools.brush_size == 31 and QApplication.focusWidget() is window.canvas


def test_holding_enter_runs_one_fill(qtbot, window):
    mask_rectangle(qtbot, window, (100, 60, 160, 120))
    window.canvas.setFocus()
    send_key(window.canvas, Qt.Key.Key_Return)
    for _ in range(5):
        send_key(window.canvas, Qt.Key.Key_Return, QEvent.Type.KeyRelease, repeat=True)
        send_key(window.canvas, Qt.Key.Key_Return, repeat=True)
    wait_for_layers(qtbot, window, 1)
    qtbot.wait(200)
    assert len(window.document.layers) == 1


# ---------------------------------------------------------------- 2. one Auto setting, remembered


def test_the_auto_box_and_the_run_menu_item_are_one_setting_saved_at_once(qtbot, window, tmp_path):
    box = window.run_toolbar.auto_run_box
    assert box.isVisible() and not box.isChecked() and not window.auto_run_action.isChecked()
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    assert window.auto_run_action.isChecked() and window.settings.auto_run
    qtbot.waitUntil(lambda: Settings.load(tmp_path / "settings.json").auto_run, timeout=3000)  # saved, not only at quit
    window.auto_run_action.trigger()
    assert not box.isChecked() and not window.settings.auto_run


# ---------------------------------------------------------------- 3. no mask fringe after a fill


@pytest.mark.parametrize("feather", [False, True])
def test_a_fill_leaves_no_faint_mask_behind(qtbot, window, feather, monkeypatch):
    assert window.tools.hardness < 1.0  # the default brush has a soft edge
    window.set_tool(Tool.BRUSH)
    window.tools.set_brush_size(24)
    drag(qtbot, window, [(60, 100), (120, 100), (180, 110)])
    if feather:
        monkeypatch.setattr(QInputDialog, "getInt", lambda *args: (6, True))
        window.masks.feather_action.trigger()  # Select > Modify > Feather…
    soft = (window.document.mask > 0) & (window.document.mask < 255)
    assert soft.any()  # the overlay shows these faintly: they are filled faintly too
    window.run_fill()
    wait_for_layers(qtbot, window, 1)
    assert not window.document.mask.any()


# ---------------------------------------------------------------- 4. the newest fill is the active layer


def test_the_newest_fill_becomes_the_active_layer_and_the_layer_eraser_works_on_it(qtbot, window):
    for box in ((20, 20, 80, 80), (150, 100, 220, 160)):
        mask_rectangle(qtbot, window, box)
        window.run_fill()
        wait_for_layers(qtbot, window, 2 if box[0] == 150 else 1)
    newest = window.document.layers[-1]
    assert window.layers_panel.selected_layer is newest
    # Hovering a fill in the list says how it was made (engine, its seed if it has one, device).
    tip = window.layers_panel.list.currentItem().toolTip()
    assert tip.startswith(newest.name) and tip.endswith(f"\n{newest.provenance['engine']}, on cpu")
    window.set_tool(Tool.LAYER_ERASER)
    window.tools.set_brush_size(30)
    drag(qtbot, window, [(170, 130), (200, 130)])
    assert window.document.history.undo_label == f"Erase from '{newest.name}'"


# ---------------------------------------------------------------- 5. only strokes that add run with Auto


def test_with_auto_on_erasing_and_subtracting_trim_without_a_fill(qtbot, window):
    mask_rectangle(qtbot, window, (40, 40, 200, 160))
    window.auto_run_action.setChecked(True)
    window.set_tool(Tool.ERASER)
    window.tools.set_brush_size(20)
    drag(qtbot, window, [(50, 100), (190, 100)])
    window.set_tool(Tool.RECTANGLE)
    window.subtract_action.trigger()
    drag(qtbot, window, [(40, 40), (80, 80)])
    qtbot.wait(200)
    assert window.document.layers == [] and window.document.mask.any()
    window.subtract_action.trigger()
    drag(qtbot, window, [(220, 20), (260, 60)])  # adds: now it runs, with everything trimmed so far
    wait_for_layers(qtbot, window, 1)


# ---------------------------------------------------------------- 6. the batch's current mask after a fill


def test_the_batch_dialog_offers_the_mask_of_the_last_fill(qtbot, window):
    mask_rectangle(qtbot, window, (220, 140, 280, 180))  # a watermark in the corner
    filled = window.document.mask.copy()
    window.run_fill()
    wait_for_layers(qtbot, window, 1)
    assert not window.document.mask.any()
    window.batch_process()
    dialog = window.batch_dialog
    assert dialog._mask is not None and np.array_equal(dialog._mask > 0, filled > 0)
    dialog.reject()


# ---------------------------------------------------------------- 7. a project behaves as a project


def test_a_reopened_project_is_named_in_the_title_and_save_updates_it(qtbot, window, tmp_path, monkeypatch):
    mask_rectangle(qtbot, window, (20, 20, 60, 60))
    window.run_fill()
    wait_for_layers(qtbot, window, 1)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(tmp_path / "work.ora"), ""))
    assert window.save_project_as()
    assert window.open_file(tmp_path / "work.ora")
    assert window.windowTitle().startswith("work.ora")

    def no_dialog(*args, **kwargs):
        raise AssertionError("Save asked for a name")

    monkeypatch.setattr(QFileDialog, "getSaveFileName", no_dialog)
    mask_rectangle(qtbot, window, (150, 100, 200, 150))
    window.run_fill()
    wait_for_layers(qtbot, window, 2)
    qtbot.keyClick(window.canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not window.isWindowModified()
    assert len(load_project(tmp_path / "work.ora").layers) == 2
    assert not (tmp_path / "photo_inpainted.png").exists()  # exporting stays a command of its own


# ---------------------------------------------------------------- 8. the brush follows the photo


def test_the_brush_size_follows_the_photo(qtbot, window, tmp_path):
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    Image.fromarray(gradient_photo(1280, 2560)).save(big)
    Image.fromarray(gradient_photo(240, 320)).save(small)
    assert window.open_file(big, confirm=False)
    window.tool_options.size_spin.setValue(238)
    assert window.open_file(small, confirm=False)
    assert window.tools.brush_size == round(238 / 2560 * 320)
    assert window.tool_options.size_spin.value() == window.tools.brush_size


# ---------------------------------------------------------------- 9. settings saved when changed


def test_preferences_are_saved_when_changed(qtbot, window, tmp_path):
    dialog = PreferencesDialog(window.settings, window)
    dialog.autosave_minutes.setValue(7)
    window.apply_preferences(dialog)
    qtbot.waitUntil(lambda: Settings.load(tmp_path / "settings.json").autosave_minutes == 7, timeout=3000)
    assert window.isVisible()  # no quit needed


def test_a_mirror_that_is_not_an_address_is_said_and_preferences_stay_open(qtbot, window, monkeypatch):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    said, stayed = [], []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *args: said.append(text))

    def type_into_preferences():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, PreferencesDialog):
            QTimer.singleShot(50, type_into_preferences)
            return
        dialog.mirror.setFocus()
        qtbot.keyClicks(dialog.mirror, "ftp//my mirror")
        qtbot.keyClick(dialog.mirror, Qt.Key.Key_Return)  # OK is the default button
        stayed.append(dialog.isVisible())
        dialog.mirror.selectAll()  # as the dialog leaves it
        qtbot.keyClicks(dialog.mirror, "https://mirror.example.com/models")
        qtbot.keyClick(dialog.mirror, Qt.Key.Key_Return)

    QTimer.singleShot(50, type_into_preferences)
    window.preferences_action.trigger()
    assert stayed == [True] and said == [
        "The model mirror 'ftp//my mirror' is not an http(s) address such as https://mirror.example.com."
    ]
    assert window.settings.model_mirror == "https://mirror.example.com/models"


def test_space_on_a_focused_spin_box_away_from_the_canvas_is_left_to_it(qtbot, window):
    """Only over the canvas is Space the editor's: elsewhere widgets keep their own keys."""
    qtbot.mouseMove(window.layers_panel, QPoint(5, 5))
    window.canvas.leaveEvent(QEvent(QEvent.Type.Leave))
    assert not window.canvas.pointer_inside()
    send_key(window.tool_options.size_spin, Qt.Key.Key_Space, text=" ")
    assert not window.canvas._pan_mode


# ---------------------------------------------------------------- Try again: tries of one fill


def test_try_again_from_the_layers_list_adds_a_try_and_alt_arrows_flip_between_them(qtbot, window):
    window.set_engine("patchmatch")
    mask_rectangle(qtbot, window, (100, 60, 180, 120))
    window.run_fill()
    wait_for_layers(qtbot, window, 1)
    layer = window.document.layers[0]
    first = window.document.composite.copy()
    bar = window.tries
    assert bar.label.text() == "Try 1 of 1 · PatchMatch" and not bar.next_action.isEnabled()

    window.layers_panel.list.setFocus()  # as after clicking the layer: the list has the keys
    control_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.layers_panel.list, Qt.Key.Key_R, control_shift)
    qtbot.waitUntil(lambda: len(layer.tries) == 2 and not window.workspace.fills.busy, timeout=10000)
    assert window.document.layers == [layer] and window.layers_panel.selected_layer is layer
    assert layer.provenance["seed"] != layer.tries[0].provenance["seed"]
    second = window.document.composite.copy()
    assert not np.array_equal(first, second)  # another seed, another fill
    assert bar.label.text() == "Try 2 of 2 · PatchMatch"

    qtbot.keyClick(window.layers_panel.list, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert np.array_equal(window.document.composite, first) and bar.label.text() == "Try 1 of 2 · PatchMatch"
    qtbot.keyClick(window.layers_panel.list, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert np.array_equal(window.document.composite, second)

    # Another engine for the next try; its name shows with it. Undo takes the steps back one by one.
    window.set_engine("fake")
    bar.try_again_action.trigger()
    qtbot.waitUntil(lambda: len(layer.tries) == 3 and not window.workspace.fills.busy, timeout=10000)
    assert bar.label.text() == "Try 3 of 3 · Fake (tests)"
    window.canvas.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(layer.tries) == 2 and np.array_equal(window.document.composite, second)


def test_try_again_without_a_fill_selected_says_what_to_do(qtbot, window):
    messages = []
    window.tries.status = lambda text, timeout: messages.append(text)
    window.tries.try_again()
    assert not window.tries.try_again_action.isEnabled()
    assert messages == ["Select a fill in the Layers panel to try it again."]


# ---------------------------------------------------------------- Ctrl as well as Alt (window managers take Alt+drag)


def test_ctrl_does_what_alt_does_for_desktops_that_take_alt_drag(qtbot, window):
    mask_rectangle(qtbot, window, (40, 40, 200, 160))
    window.set_tool(Tool.BRUSH)
    window.tools.set_brush_size(20)
    drag(qtbot, window, [(60, 100), (180, 100)], modifiers=Qt.KeyboardModifier.ControlModifier)
    assert window.document.mask[100, 120] == 0 and window.document.mask[50, 120] == 255  # Ctrl subtracts
    window.set_tool(Tool.CLONE)
    drag(qtbot, window, [(250, 50), (250, 50)], modifiers=Qt.KeyboardModifier.ControlModifier)
    assert window.retouch_tools.source == pytest.approx((250, 50), abs=1)  # Ctrl+click sets the source

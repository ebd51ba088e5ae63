"""The main window driven through real widgets: tools, runs, errors, files."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from inpaint_studio.engines.base import EngineKind
from inpaint_studio.engines.fake import FakeEngine
from inpaint_studio.session.settings import Settings
from inpaint_studio.ui import recovery
from inpaint_studio.ui.mask_tools import Tool


def widget_point(win, x: float, y: float) -> QPoint:
    """The widget pixel that holds image point (x, y) (the pixel's centre is x + 0.5, y + 0.5)."""
    p = win.canvas.image_to_widget(QPointF(x, y))
    return QPoint(math.floor(p.x()), math.floor(p.y()))


def drag(qtbot, win, points, button=Qt.MouseButton.LeftButton, modifiers=Qt.KeyboardModifier.NoModifier):
    canvas = win.canvas
    qtbot.mousePress(canvas, button, modifiers, widget_point(win, *points[0]))
    for x, y in points[1:]:
        qtbot.mouseMove(canvas, widget_point(win, x, y))
    qtbot.mouseRelease(canvas, button, modifiers, widget_point(win, *points[-1]))


def test_brush_drag_paints_the_expected_pixels_at_a_known_zoom_and_pan(qtbot, window):
    window.canvas.set_zoom(2.0)
    # The view now shows part of the photo; paint inside the visible part.
    visible = window.canvas.visible_image_rect()
    x0, y = visible.left() + 10, visible.top() + visible.height() / 2
    window.tools.set_brush_size(10)
    window.tools.hardness = 1.0
    drag(qtbot, window, [(x0, y), (x0 + 20, y), (x0 + 40, y)])
    mask = window.document.mask
    row = round(y)
    assert (mask[row, round(x0) + 2 : round(x0) + 38] > 127).all()
    assert not mask[row - 10].any() and not mask[row + 10].any()
    assert window.document.history.undo_label == "Brush"


def test_lasso_and_polygon_fill_their_shape(qtbot, window):
    window.set_tool(Tool.LASSO)
    drag(qtbot, window, [(50, 50), (120, 50), (120, 120), (50, 120)])
    assert window.document.mask[85, 85] == 255 and window.document.mask[40, 40] == 0
    window.set_tool(Tool.POLYGON)
    for x, y in [(200, 60), (260, 60), (230, 150)]:
        qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, pos=widget_point(window, x, y))
    qtbot.keyClick(window, Qt.Key.Key_Return)
    assert window.document.mask[90, 230] == 255 and window.document.mask[140, 205] == 0


def test_eraser_removes_and_undo_restores_the_stroke(qtbot, window):
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(20, 20), (150, 150)])
    assert window.document.mask[80, 80] == 255
    before = window.document.mask.copy()
    window.set_tool(Tool.ERASER)
    window.tools.set_brush_size(20)
    drag(qtbot, window, [(40, 80), (130, 80)])
    assert window.document.mask[80, 80] == 0 and window.document.mask[30, 80] == 255
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.document.mask, before)


def test_alt_makes_the_brush_subtract(qtbot, window):
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(20, 20), (150, 150)])
    window.set_tool(Tool.BRUSH)
    window.tools.set_brush_size(10)
    drag(qtbot, window, [(50, 80), (120, 80)], modifiers=Qt.KeyboardModifier.AltModifier)
    assert window.document.mask[80, 85] == 0


def test_a_run_with_the_fake_engine_updates_the_canvas(qtbot, window):
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 60), (160, 120)])
    window.canvas.actual_size()
    qtbot.keyClick(window, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(window.document.layers) == 1, timeout=10000)
    assert not window.document.mask.any()  # the filled mask is cleared
    assert (window.document.composite[90, 130] == [255, 0, 255]).all()
    point = widget_point(window, 130.5, 90.5)
    rendered = window.canvas.grab().toImage().pixelColor(point)
    assert (rendered.red(), rendered.green(), rendered.blue()) == (255, 0, 255)
    assert window.isWindowModified()


def test_auto_run_on_release(qtbot, window):
    window.auto_run_action.setChecked(True)
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 60), (160, 120)])
    qtbot.waitUntil(lambda: len(window.document.layers) == 1, timeout=10000)


def test_escape_cancels_a_slow_job_and_keeps_the_mask(qtbot, window):
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 60), (160, 120)])
    mask = window.document.mask.copy()
    original = window.document.composite.copy()
    window.engines.params = {"steps": 500, "step_seconds": 0.02}
    window.run_fill()
    qtbot.waitUntil(lambda: window.fill_controls.cancel_button.isVisible(), timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.workspace.fills.busy, timeout=3000)
    assert window.document.layers == []
    assert np.array_equal(window.document.mask, mask)
    assert np.array_equal(window.document.composite, original)


def test_an_engine_error_shows_a_message_and_keeps_the_document(qtbot, window, errors):
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 60), (160, 120)])
    composite = window.document.composite.copy()
    window.engines.params = {"fail": True}
    window.run_fill()
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert "on purpose" in errors[0][1]
    assert np.array_equal(window.document.composite, composite) and window.document.mask.any()


def test_dropping_a_corrupt_file_shows_an_error_and_keeps_the_photo(qtbot, window, errors, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    document = window.document
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(broken))])
    event = QDropEvent(QPointF(100, 100), Qt.DropAction.CopyAction, data, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert "broken.jpg" in errors[0][1]
    assert window.document is document


def test_save_writes_the_result_beside_the_photo_without_touching_it(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    original_bytes = (tmp_path / "photo.png").read_bytes()
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 60), (160, 120)])
    window.run_fill()
    qtbot.waitUntil(lambda: len(window.document.layers) == 1, timeout=10000)
    out = tmp_path / "photo_inpainted.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(out), ""))
    assert window.save()
    assert (tmp_path / "photo.png").read_bytes() == original_bytes
    saved = np.asarray(Image.open(out))
    assert (saved[90, 130] == [255, 0, 255]).all()
    assert not window.isWindowModified()


def _type_in_the_save_dialog(qtbot, name, kind=None):
    """When the Export dialog opens: pick `kind` in Files of type, type `name` over the suggestion, Enter."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit

    def answer():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(50, answer)
            return
        if kind is not None:
            dialog.selectNameFilter(kind)
        field = dialog.findChild(QLineEdit, "fileNameEdit")  # File name, as a person clicks into it
        field.setFocus()
        qtbot.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClicks(field, name)
        qtbot.keyClick(field, Qt.Key.Key_Return)

    QTimer.singleShot(50, answer)


def test_export_as_a_name_without_an_image_extension_gets_one(qtbot, window, tmp_path, monkeypatch):
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 60), (160, 120)])
    window.run_fill()
    qtbot.waitUntil(lambda: len(window.document.layers) == 1, timeout=10000)
    window.layers_panel.list.setFocus()  # the shortcut works from the Layers list too
    _type_in_the_save_dialog(qtbot, str(tmp_path / "notes.txt"))
    export_as = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.layers_panel.list, Qt.Key.Key_E, export_as)
    assert not (tmp_path / "notes.txt").exists()  # never a PNG under a text file's name
    assert Image.open(tmp_path / "notes.txt.png").format == "PNG"
    assert "notes.txt.png" in window.statusBar().currentMessage()

    window.activateWindow()  # as the window manager does when the dialog closes (offscreen has none)
    qtbot.waitUntil(window.isActiveWindow)
    _type_in_the_save_dialog(qtbot, str(tmp_path / "web"), kind="WebP (*.webp)")
    qtbot.keyClick(window.canvas, Qt.Key.Key_E, export_as)
    assert Image.open(tmp_path / "web.webp").format == "WEBP"

    # A name completed here was not seen by the dialog's own "replace?": asked here, and No keeps the file.
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: asked.append(args[2]) or QMessageBox.StandardButton.No)
    before = (tmp_path / "web.webp").read_bytes()
    _type_in_the_save_dialog(qtbot, str(tmp_path / "web"), kind="WebP (*.webp)")
    assert not window.files.save_as()
    assert asked and "'web.webp' already exists" in asked[0] and (tmp_path / "web.webp").read_bytes() == before


def test_closing_with_unsaved_changes_asks_and_cancel_keeps_the_window(qtbot, window, errors, monkeypatch):
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(20, 20), (60, 60)])
    def cancel(*args):
        errors.append(("question", args[2]))
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", cancel)
    assert not window.close()
    assert errors[-1][0] == "question" and "photo.png" in errors[-1][1]
    assert window.isVisible()


def test_keyboard_shortcuts_for_view_brush_and_comparison(qtbot, window):
    canvas = window.canvas
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == pytest.approx(1.0)
    qtbot.keyClick(window, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom > 1.0
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom < 3.0  # fitted: 300x200 photo in a ~800x600 canvas
    size = window.tools.brush_size
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)
    assert window.tools.brush_size > size and window.tool_options.size_spin.value() == window.tools.brush_size
    qtbot.keyClick(window, Qt.Key.Key_E)
    assert window.tools.tool == Tool.ERASER
    qtbot.keyClick(window, Qt.Key.Key_L)
    assert window.tools.tool == Tool.LASSO


def test_holding_backslash_shows_the_original(qtbot, window):
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 60), (160, 120)])
    window.run_fill()
    qtbot.waitUntil(lambda: len(window.document.layers) == 1, timeout=10000)
    window.canvas.actual_size()  # one screen pixel per photo pixel: no smoothing
    point = widget_point(window, 130.5, 90.5)

    def rendered():
        colour = window.canvas.grab().toImage().pixelColor(point)
        return colour.red(), colour.green(), colour.blue()

    assert rendered() == (255, 0, 255)
    qtbot.keyPress(window, Qt.Key.Key_Backslash)
    assert rendered() == tuple(int(v) for v in window.document.original[90, 130])
    qtbot.keyRelease(window, Qt.Key.Key_Backslash)
    assert rendered() == (255, 0, 255)


def test_recent_files_menu_lists_opened_photos(window, tmp_path):
    entries = [action.text() for action in window.files.recent_menu.actions()]
    assert entries and entries[0].endswith("photo.png")


def test_the_command_without_arguments_or_with_a_photo_opens_the_window(monkeypatch):
    import inpaint_studio.ui.application
    from inpaint_studio.cli import main

    opened = []
    monkeypatch.setattr(inpaint_studio.ui.application, "run_gui", lambda paths: opened.append(paths) or 0)
    assert main([]) == 0 and main(["photo.jpg"]) == 0
    assert opened == [[], ["photo.jpg"]]


def test_auto_run_waits_for_enter_with_a_slow_engine(qtbot, window, monkeypatch):
    from dataclasses import replace

    monkeypatch.setattr(FakeEngine, "info", replace(FakeEngine.info, interactive=False))
    window.auto_run_action.setChecked(True)
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 60), (160, 120)])
    qtbot.wait(200)
    assert not window.workspace.fills.busy and window.document.layers == []
    assert "waits for Remove (Enter)" in window.statusBar().currentMessage()  # Auto does not look broken
    qtbot.keyClick(window, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(window.document.layers) == 1, timeout=10000)


def test_tool_settings_are_remembered(qtbot, window, tmp_path):
    window.tool_options.hardness_slider.setValue(35)
    window.tool_options.size_spin.setValue(77)
    window.views.set_mask_opacity(0.6)
    window.document.mark_saved()
    assert window.close()
    saved = Settings.load(tmp_path / "settings.json")
    assert (saved.brush_hardness, saved.overlay_opacity, saved.engine) == (0.35, 0.6, "fake")
    assert saved.brush_share == pytest.approx(77 / 300)  # of the 300 x 200 photo's longer side


def _run_fill_at(qtbot, window, box):
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [box[:2], box[2:]])
    layers = len(window.document.layers)
    window.run_fill()
    qtbot.waitUntil(lambda: len(window.document.layers) == layers + 1, timeout=10000)


def test_layers_panel_lists_fills_and_hides_deletes_and_flattens(qtbot, window):
    _run_fill_at(qtbot, window, (20, 20, 60, 60))
    _run_fill_at(qtbot, window, (150, 100, 200, 150))
    panel = window.layers_panel
    assert panel.list.count() == 3  # two fills over the original photo
    assert panel.list.item(2).text().startswith("Original photo")
    top = panel.list.item(0)
    top.setCheckState(Qt.CheckState.Unchecked)  # hide the newest fill
    assert not window.document.layers[1].visible
    assert (window.document.composite[120, 170] == window.document.original[120, 170]).all()
    window.undo()
    assert window.document.layers[1].visible
    panel.select(window.document.layers[0])
    qtbot.mouseClick(panel.buttons["delete"], Qt.MouseButton.LeftButton)
    assert len(window.document.layers) == 1 and panel.list.count() == 2
    _run_fill_at(qtbot, window, (20, 20, 60, 60))
    qtbot.mouseClick(panel.buttons["flatten"], Qt.MouseButton.LeftButton)
    assert [layer.name for layer in window.document.layers] == ["Flattened fills"]


def test_history_panel_lists_steps_and_clicking_one_jumps_there(qtbot, window):
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(20, 20), (60, 60)])
    after_first = window.document.mask.copy()
    drag(qtbot, window, [(100, 100), (140, 140)])
    panel = window.history_panel
    assert [panel.list.item(i).text() for i in range(panel.list.count())] == ["Open", "Rectangle", "Rectangle"]
    panel._clicked(panel.list.item(1))
    assert np.array_equal(window.document.mask, after_first)
    assert panel.list.currentRow() == 1 and panel.list.count() == 3
    panel._clicked(panel.list.item(0))
    assert not window.document.mask.any()


def test_a_project_saves_and_reopens_with_its_layers_and_mask(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    _run_fill_at(qtbot, window, (20, 20, 60, 60))
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(150, 100), (200, 150)])  # a mask still waiting to be filled
    composite, mask = window.document.composite.copy(), window.document.mask.copy()
    project = tmp_path / "work.ora"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(tmp_path / "work"), ""))
    assert window.save_project_as() and project.is_file()
    assert not window.isWindowModified()
    assert window.open_file(project)
    assert [layer.name for layer in window.document.layers] == ["Remove 1 · Fake (tests)"]
    assert np.array_equal(window.document.composite, composite) and np.array_equal(window.document.mask, mask)
    assert window.layers_panel.list.count() == 2


def test_layer_eraser_brings_back_the_photo_under_the_selected_fill(qtbot, window):
    _run_fill_at(qtbot, window, (40, 40, 120, 120))
    document = window.document
    layer = document.layers[0]
    assert layer.provenance["engine"] == "fake" and "params" in layer.provenance
    assert layer.fill_masks and layer.fill_masks[0].pixels.any()
    assert not np.array_equal(document.composite[80, 60:100], document.original[80, 60:100])
    window.layers_panel.select(layer)
    qtbot.keyClick(window.canvas, Qt.Key.Key_E, Qt.KeyboardModifier.ShiftModifier)
    assert window.tools.tool == Tool.LAYER_ERASER
    window.tools.set_brush_size(16)
    window.tools.hardness = 1.0
    drag(qtbot, window, [(55, 80), (80, 80), (105, 80)])
    assert np.array_equal(document.composite[80, 60:100], document.original[80, 60:100])
    assert not document.mask.any()  # the layer eraser never touches the mask
    window.undo()
    assert not np.array_equal(document.composite[80, 60:100], document.original[80, 60:100])


def test_layer_eraser_without_a_selected_fill_says_what_to_do(qtbot, window):
    window.set_tool(Tool.LAYER_ERASER)
    drag(qtbot, window, [(55, 80), (80, 80)])
    assert "Select a fill layer" in window.statusBar().currentMessage()
    assert len(window.document.history.steps) == 0


def test_after_a_crash_the_window_offers_the_autosave_and_recovers_it(
    qtbot, window, private_autosave_folder, tmp_path, monkeypatch
):
    from inpaint_studio.io.autosave import AutosaveSession
    from inpaint_studio.io.project_file import load_project

    _run_fill_at(qtbot, window, (40, 40, 120, 120))
    crashed = AutosaveSession(private_autosave_folder)
    crashed.save(window.document.snapshot(), str(tmp_path / "photo.png"))
    crashed._lock_file.close()  # the process that held it is gone
    expected = window.document.composite.copy()
    window.document.undo()

    asked = []
    monkeypatch.setattr(recovery, "ask", lambda parent, session: asked.append(session.source_name) or "recover")
    assert window.offer_recovery()
    assert asked == ["photo.png"]
    assert len(window.document.layers) == 1 and np.array_equal(window.document.composite, expected)
    assert window.document.modified and window.isWindowModified()
    # The recovered work stays on disk (now this session's autosave) until it is saved.
    own = window.workspace.autosave.autosaver.session.project
    assert own.is_file() and len(load_project(own).layers) == 1
    assert not crashed.project.exists()


def test_autosave_writes_the_changes_and_saving_the_project_removes_it(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from inpaint_studio.io.project_file import load_project

    assert not window.workspace.autosave.autosave()  # nothing changed yet
    _run_fill_at(qtbot, window, (40, 40, 120, 120))
    assert window.workspace.autosave.autosave()
    window.workspace.autosave.wait(30)
    autosaved = window.workspace.autosave.autosaver.session.project
    assert len(load_project(autosaved).layers) == 1
    assert not window.workspace.autosave.autosave()  # no change since the last one
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(tmp_path / "work.ora"), ""))
    assert window.save_project_as()
    window.workspace.autosave.wait(30)
    assert not autosaved.exists()


def test_a_learned_engine_run_autosaves_first(qtbot, window, monkeypatch):
    from dataclasses import replace

    monkeypatch.setattr(FakeEngine, "info", replace(FakeEngine.info, kind=EngineKind.LEARNED))
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(20, 20), (60, 60)])
    window.run_fill()
    qtbot.waitUntil(lambda: len(window.document.layers) == 1, timeout=10000)
    window.workspace.autosave.wait(30)
    assert window.workspace.autosave.autosaver.session.project.is_file()


def test_preferences_set_the_history_budget_and_autosave_interval(qtbot, window):
    from inpaint_studio.ui.preferences_dialog import PreferencesDialog

    dialog = PreferencesDialog(window.settings, window)
    dialog.history_mb.setValue(300)
    dialog.autosave_minutes.setValue(0)
    window.apply_preferences(dialog)
    assert window.settings.history_budget_mb == 300
    assert window.document.history.budget_bytes == 300 << 20
    assert not window.autosave_timer.isActive()
    dialog.autosave_minutes.setValue(5)
    window.apply_preferences(dialog)
    assert window.autosave_timer.interval() == 5 * 60_000

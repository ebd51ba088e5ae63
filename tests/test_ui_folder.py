"""Browsing a folder in the main window, driven through real widgets: strip, keys, marks, fills, prompts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDropEvent
from PySide6.QtWidgets import QFileDialog, QMessageBox

from inpaint_studio.engines.fake import FakeEngine
from inpaint_studio.engines.registry import register_engine, unregister_engine
from inpaint_studio.session.settings import Settings
from inpaint_studio.ui import folder_strip
from inpaint_studio.ui.folder_strip import (
    EDITED_ROLE,
    ERROR_ROLE,
    EXPORTED_ROLE,
    STATE_ROLE,
)
from inpaint_studio.ui.main_window import MainWindow
from inpaint_studio.ui.mask_tools import Tool

NAMES = ["a.jpg", "b.png", "c.jpg", "d.jpg", "e.png"]


@pytest.fixture
def dialogs(monkeypatch):
    """Message boxes recorded instead of shown; `answers` decides what the questions get."""
    shown = []
    answers = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *rest: shown.append((title, text)))

    def question(*args):
        shown.append(("question", args[2]))
        return answers.pop(0) if answers else QMessageBox.StandardButton.Discard

    monkeypatch.setattr(QMessageBox, "question", question)
    return shown, answers


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "shoot"
    folder.mkdir()
    for i, name in enumerate(NAMES):
        rgb = gradient_photo(200, 300, seed=i)
        rgb[..., 2] = 40 * i  # each photo its own blue level: tells them apart on the canvas
        Image.fromarray(rgb).save(folder / name, quality=95)
    return folder


@pytest.fixture
def window(qtbot, tmp_path, dialogs):
    register_engine(FakeEngine)
    win = MainWindow(Settings(engine="fake", auto_run=False), settings_path=tmp_path / "settings.json")
    win.resize(1000, 760)
    win.show()
    qtbot.waitExposed(win)
    win.set_engine("fake")
    yield win
    if win.workspace.folder is not None:
        for photo in win.workspace.folder.photos:
            if photo.document is not None:
                photo.document.mark_saved()  # no prompt while closing
    if win.document is not None:
        win.document.mark_saved()
    win.close()
    win.deleteLater()
    unregister_engine("fake")


def widget_point(win, x: float, y: float) -> QPoint:
    p = win.canvas.image_to_widget(QPointF(x, y))
    return QPoint(round(p.x()), round(p.y()))


def draw_rectangle(qtbot, win, box):
    win.set_tool(Tool.RECTANGLE)
    qtbot.mousePress(win.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, widget_point(win, *box[:2]))
    qtbot.mouseMove(win.canvas, widget_point(win, *box[2:]))
    qtbot.mouseRelease(win.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, widget_point(win, *box[2:]))


def shown_name(win) -> str:
    return win.document.photo.path.name


def row_pixels(win, row: int) -> np.ndarray:
    """What the strip shows for `row`, as RGB."""
    view = win.folders.strip.view
    rect = view.visualRect(win.folders.strip.model.index(row))
    image = view.viewport().grab(rect).toImage().convertToFormat(folder_strip.QImage.Format.Format_RGB888)
    bits = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * image.height())
    return bits.reshape(image.height(), image.bytesPerLine())[:, : image.width() * 3].reshape(image.height(), image.width(), 3)


def has_colour(pixels: np.ndarray, colour: QColor, tolerance: int = 12) -> bool:
    target = np.array([colour.red(), colour.green(), colour.blue()])
    return bool((np.abs(pixels.astype(int) - target).max(axis=2) <= tolerance).sum() >= 6)


def test_opening_a_folder_lists_every_photo_and_shows_the_first(qtbot, window, folder):
    assert window.open_folder(folder)
    strip, model = window.folders.strip, window.folders.strip.model
    assert strip.isVisible()
    assert [model.index(r).data() for r in range(model.rowCount())] == NAMES
    assert shown_name(window) == "a.jpg" and window.folders.label.text() == "a.jpg — 1 / 5"
    assert strip.view.currentIndex().row() == 0 and strip.windowTitle() == "shoot — 5 photos"
    qtbot.waitUntil(lambda: all(model.index(r).data(STATE_ROLE) == "ready" for r in range(5)), timeout=10000)
    image = model.index(1).data(Qt.ItemDataRole.DecorationRole)
    assert (image.width(), image.height()) == (160, 107)
    assert window.settings.last_folder == str(folder.resolve())
    assert not window.folders.previous_action.isEnabled() and window.folders.next_action.isEnabled()


def test_page_down_and_page_up_switch_photos_and_stop_at_the_ends(qtbot, window, folder):
    window.open_folder(folder)
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert shown_name(window) == "b.png" and window.folders.label.text() == "b.png — 2 / 5"
    assert window.folders.strip.view.currentIndex().row() == 1
    assert window.workspace.autosave.document is window.document  # autosave follows the photo shown
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert shown_name(window) == "a.jpg"
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert shown_name(window) == "e.png"
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert shown_name(window) == "e.png" and not window.folders.next_action.isEnabled()  # stops, no wrapping
    window.folders.step(1)
    assert shown_name(window) == "e.png" and "last photo" in window.statusBar().currentMessage()
    # The canvas shows the photo, not the previous one.
    centre = window.canvas.grab().toImage().pixelColor(widget_point(window, 150.5, 100.5))
    assert abs(centre.blue() - 160) <= 4
    window.folders.next_action.trigger()  # also in the Go menu
    assert shown_name(window) == "e.png"
    go_action = next(a for a in window.menuBar().actions() if a.text() == "&Go")  # kept: see test_ui_view.menu_actions
    go_menu = go_action.menu()
    assert window.folders.next_action in go_menu.actions() and window.folders.previous_action in go_menu.actions()


def test_clicking_a_thumbnail_switches_to_it(qtbot, window, folder):
    window.open_folder(folder)
    view = window.folders.strip.view
    third = view.visualRect(window.folders.strip.model.index(2)).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=third)
    assert shown_name(window) == "c.jpg" and window.folders.label.text() == "c.jpg — 3 / 5"


def test_arrow_keys_in_the_strip_move_the_highlight_and_open_the_photo_when_they_settle(qtbot, window, folder):
    window.open_folder(folder)
    view = window.folders.strip.view
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.currentIndex().row() == 2 and shown_name(window) == "a.jpg"  # held keys do not load each photo
    qtbot.waitUntil(lambda: shown_name(window) == "c.jpg", timeout=3000)
    assert window.folders.label.text() == "c.jpg — 3 / 5"


def test_each_photo_keeps_its_mask_and_history_while_the_folder_is_open(qtbot, window, folder):
    window.open_folder(folder)
    draw_rectangle(qtbot, window, (20, 20, 80, 70))
    first = window.document
    mask = first.mask.copy()
    assert mask[40, 40] == 255
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert window.document is not first and not window.document.mask.any()
    assert [window.history_panel.list.item(i).text() for i in range(window.history_panel.list.count())] == ["Open"]
    draw_rectangle(qtbot, window, (150, 100, 200, 150))
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert window.document is first and np.array_equal(window.document.mask, mask)
    history = window.history_panel.list
    assert [history.item(i).text() for i in range(history.count())] == ["Open", "Rectangle"]
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not window.document.mask.any()  # its own undo history came back with it
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert window.document.mask[120, 170] == 255


def test_the_edited_marker_appears_and_saving_marks_the_photo_exported(qtbot, window, folder, monkeypatch):
    window.open_folder(folder)
    model = window.folders.strip.model
    qtbot.waitUntil(lambda: model.index(0).data(STATE_ROLE) == "ready", timeout=10000)
    assert not model.index(0).data(EDITED_ROLE)
    assert not has_colour(row_pixels(window, 0), folder_strip.EDITED_COLOUR)
    draw_rectangle(qtbot, window, (100, 60, 160, 120))
    assert model.index(0).data(EDITED_ROLE) and not model.index(0).data(EXPORTED_ROLE)
    assert has_colour(row_pixels(window, 0), folder_strip.EDITED_COLOUR)
    assert window.folders.strip.windowTitle() == "shoot — 5 photos, 1 edited"
    window.run_fill()
    qtbot.waitUntil(lambda: len(window.document.layers) == 1, timeout=10000)

    out = folder.parent / "a_done.jpg"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(out), ""))
    assert window.save() and out.is_file()
    assert model.index(0).data(EXPORTED_ROLE) and not model.index(0).data(EDITED_ROLE)
    pixels = row_pixels(window, 0)
    assert has_colour(pixels, folder_strip.EXPORTED_COLOUR) and not has_colour(pixels, folder_strip.EDITED_COLOUR)
    assert "Exported to a_done.jpg" in model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    # Save writes to the same file again after going away and coming back, without asking.
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert window.workspace.export_path is None
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert window.workspace.export_path == out


def test_a_fill_finishing_after_a_switch_lands_on_its_own_photo(qtbot, window, folder):
    window.open_folder(folder)
    draw_rectangle(qtbot, window, (100, 60, 160, 120))
    first = window.document
    window.engines.params = {"steps": 20, "step_seconds": 0.05}
    window.run_fill()
    qtbot.waitUntil(lambda: window.fill_controls.cancel_button.isVisible(), timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    second = window.document
    composite = second.composite.copy()
    assert window.workspace.fills.busy  # still running: switching does not cancel it
    qtbot.waitUntil(lambda: not window.workspace.fills.busy, timeout=10000)
    assert second.layers == [] and np.array_equal(second.composite, composite) and not second.mask.any()
    assert len(first.layers) == 1 and (first.composite[90, 130] == [255, 0, 255]).all()
    assert not first.mask.any()  # the mask it filled was cleared, in its own document
    assert window.folders.strip.model.index(0).data(EDITED_ROLE)
    # Its thumbnail shows it as it is now (the magenta fill), the shown photo's does not.
    assert has_colour(row_pixels(window, 0), QColor(255, 0, 255), tolerance=20)
    assert not has_colour(row_pixels(window, 1), QColor(255, 0, 255), tolerance=20)
    rendered = window.canvas.grab().toImage().pixelColor(widget_point(window, 130.5, 90.5))
    assert (rendered.red(), rendered.green(), rendered.blue()) != (255, 0, 255)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # nothing to undo here
    assert len(first.layers) == 1


def test_undo_on_another_photo_does_not_cancel_a_running_fill(qtbot, window, folder):
    window.open_folder(folder)
    draw_rectangle(qtbot, window, (100, 60, 160, 120))
    first = window.document
    window.engines.params = {"steps": 20, "step_seconds": 0.03}
    window.run_fill()
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    draw_rectangle(qtbot, window, (10, 10, 30, 30))
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.workspace.fills.busy, timeout=10000)
    assert len(first.layers) == 1


def test_a_folder_with_a_corrupt_file_opens_and_shows_the_bad_file_picture(qtbot, window, folder):
    (folder / "b2.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    window.open_folder(folder)
    model = window.folders.strip.model
    names = [model.index(r).data() for r in range(model.rowCount())]
    bad = names.index("b2.jpg")
    qtbot.waitUntil(lambda: model.index(bad).data(STATE_ROLE) == "error", timeout=10000)
    assert "b2.jpg" in model.index(bad).data(ERROR_ROLE)
    assert has_colour(row_pixels(window, bad), folder_strip.BAD_COLOUR, tolerance=30)
    assert not has_colour(row_pixels(window, 0), folder_strip.BAD_COLOUR, tolerance=30)
    window.folders.show_photo(bad - 1)
    qtbot.keyClick(window, Qt.Key.Key_PageDown)  # steps over the bad file
    assert shown_name(window) == names[bad + 1]
    assert "Skipped b2.jpg" in window.statusBar().currentMessage()
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert shown_name(window) == names[bad - 1]
    assert not window.folders.show_photo(bad)  # clicked: says why and stays
    assert shown_name(window) == names[bad - 1] and window.folders.strip.view.currentIndex().row() == bad - 1


def test_a_folder_whose_first_photo_is_bad_opens_the_next(qtbot, window, folder, dialogs):
    (folder / "0.jpg").write_bytes(b"")
    assert window.open_folder(folder)
    assert shown_name(window) == "a.jpg" and window.folders.label.text() == "a.jpg — 2 / 6"
    assert not dialogs[0]


def test_closing_with_edited_photos_asks_once_naming_how_many(qtbot, window, folder, dialogs):
    shown, answers = dialogs
    window.open_folder(folder)
    draw_rectangle(qtbot, window, (20, 20, 60, 60))
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    draw_rectangle(qtbot, window, (20, 20, 60, 60))
    answers.append(QMessageBox.StandardButton.Cancel)
    assert not window.close()
    questions = [text for kind, text in shown if kind == "question"]
    assert len(questions) == 1 and "2 photos" in questions[0] and "'a.jpg'" in questions[0] and "'c.jpg'" in questions[0]
    assert window.isVisible()

    answers.append(QMessageBox.StandardButton.SaveAll)
    assert window.close()
    assert (folder / "a_inpainted.jpg").is_file() and (folder / "c_inpainted.jpg").is_file()
    assert not (folder / "b_inpainted.png").exists()
    assert len([kind for kind, _ in shown if kind == "question"]) == 2


def test_opening_a_photo_or_another_folder_asks_about_the_folders_edits(qtbot, window, folder, tmp_path, dialogs):
    shown, answers = dialogs
    window.open_folder(folder)
    draw_rectangle(qtbot, window, (20, 20, 60, 60))
    single = tmp_path / "single.png"
    Image.fromarray(gradient_photo(100, 120)).save(single)
    answers.append(QMessageBox.StandardButton.Cancel)
    assert not window.open_file(single)
    assert window.workspace.folder is not None and "1 photo in this folder has" in shown[-1][1]
    assert window.open_file(single)  # Discard
    assert window.workspace.folder is None and not window.folders.strip.isVisible()
    assert shown_name(window) == "single.png" and window.folders.label.text() == ""
    assert not window.folders.next_action.isEnabled()


def test_dropping_a_folder_on_the_window_opens_it(qtbot, window, folder):
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(QPointF(100, 100), Qt.DropAction.CopyAction, data, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.workspace.folder is not None, timeout=5000)
    assert shown_name(window) == "a.jpg" and window.folders.strip.model.rowCount() == 5


def test_a_large_folder_opens_at_once_and_makes_only_the_thumbnails_on_screen(qtbot, window, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    tiny = Image.fromarray(gradient_photo(24, 32))
    for i in range(400):
        tiny.save(folder / f"p{i:04}.jpg")
    made = []
    cache = window.folders.strip.loader.cache
    real_get = cache.get
    cache.get = lambda path: made.append(path.name) or real_get(path)
    assert window.open_folder(folder)
    assert window.folders.strip.model.rowCount() == 400
    qtbot.wait(300)
    assert window.folders.strip.loader.wait_idle(20)
    qtbot.wait(100)
    assert 3 <= len(made) <= 60 and "p0000.jpg" in made and "p0399.jpg" not in made
    window.folders.go_to(-1)  # the strip scrolls to the last photo and makes those thumbnails
    qtbot.waitUntil(lambda: "p0399.jpg" in made, timeout=10000)
    assert window.folders.strip.view.currentIndex().row() == 399


def test_the_strip_becomes_a_grid_when_its_dock_is_tall(qtbot, window, folder):
    window.open_folder(folder)
    view = window.folders.strip.view
    assert not view.isWrapping()
    window.resize(1000, 900)
    window.resizeDocks([window.folders.strip], [460], Qt.Orientation.Vertical)
    qtbot.waitUntil(lambda: view.isWrapping(), timeout=3000)
    assert view.verticalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAsNeeded
    window.resizeDocks([window.folders.strip], [window.folders.strip.preferred_height()], Qt.Orientation.Vertical)
    qtbot.waitUntil(lambda: not view.isWrapping(), timeout=3000)


def test_ctrl_wheel_resizes_the_thumbnails_and_the_plain_wheel_scrolls_the_row(qtbot, window, tmp_path):
    from PySide6.QtGui import QWheelEvent

    folder = tmp_path / "wide"
    folder.mkdir()
    for i in range(30):
        Image.fromarray(gradient_photo(30, 40, seed=i)).save(folder / f"p{i:02}.jpg")
    window.open_folder(folder)
    view, strip = window.folders.strip.view, window.folders.strip

    def wheel(dy, modifiers=Qt.KeyboardModifier.NoModifier):
        centre = QPointF(view.viewport().rect().center())
        event = QWheelEvent(centre, view.viewport().mapToGlobal(centre), QPoint(0, 0), QPoint(0, dy),
                            Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
        view.wheelEvent(event)

    before = strip.cell_size()
    wheel(-120, Qt.KeyboardModifier.ControlModifier)
    assert strip.cell_size().width() == before.width() - 16
    wheel(120, Qt.KeyboardModifier.ControlModifier)
    wheel(120, Qt.KeyboardModifier.ControlModifier)
    assert strip.cell_size().width() == before.width() + 16
    start = view.horizontalScrollBar().value()
    wheel(-120)
    assert view.horizontalScrollBar().value() >= start + 100  # a row scrolls sideways with the ordinary wheel


def test_in_a_narrow_side_dock_the_strip_is_a_column(qtbot, window, folder):
    from PySide6.QtWidgets import QListView

    window.open_folder(folder)
    strip = window.folders.strip
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, strip)
    window.resizeDocks([strip], [strip.cell_size().width() + 30], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: strip.view.flow() == QListView.Flow.TopToBottom, timeout=3000)
    rects = [strip.view.visualRect(strip.model.index(r)) for r in range(3)]
    assert rects[0].left() == rects[1].left() and rects[1].top() > rects[0].top()
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert strip.view.visualRect(strip.model.index(4)).intersects(strip.view.viewport().rect())


def test_every_edited_photo_of_the_folder_is_autosaved_not_only_the_one_shown(qtbot, window, folder):
    from inpaint_studio.core.paths import autosave_dir
    from inpaint_studio.io.autosave import find_recoverable

    window.open_folder(folder)
    draw_rectangle(qtbot, window, (20, 20, 80, 70))  # a.jpg edited
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    draw_rectangle(qtbot, window, (150, 100, 200, 150))  # b.png edited and shown
    qtbot.keyClick(window, Qt.Key.Key_PageDown)  # c.png shown, untouched
    assert window.workspace.autosave.autosave() is False  # c.png has nothing to keep...
    window.workspace.autosave.wait(10)
    for kept in window.workspace.autosave._kept.values():
        kept.autosaver.wait(10)
    # ...but a crash now must still find a.jpg's and b.png's work (their sessions' locks are held by
    # this process, so read the info files the way a later start would).
    saved = sorted(path.read_text(encoding="utf-8") for path in autosave_dir().glob("*.json"))
    assert len(saved) == 2 and "a.jpg" in saved[0] + saved[1] and "b.png" in saved[0] + saved[1]
    assert find_recoverable() == []  # still running: nothing to recover yet

    # Going back to a.jpg uses its own session again; saving it drops that autosave.
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert shown_name(window) == "a.jpg"
    window.document.mark_saved()
    qtbot.waitUntil(lambda: len(list(autosave_dir().glob("*.json"))) == 1, timeout=10000)
    assert "b.png" in next(autosave_dir().glob("*.json")).read_text(encoding="utf-8")

    # Closing the folder (the user discarded its changes) leaves no autosave behind.
    window.open_file(folder / "e.png", confirm=False)
    qtbot.waitUntil(lambda: list(autosave_dir().glob("*.json")) == [], timeout=10000)

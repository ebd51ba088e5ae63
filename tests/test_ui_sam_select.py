"""Object selection with Segment Anything in the window, driven as a person does: W, the method chosen
with the keyboard, clicks before the photo is ready, a candidate refined, added with Enter or dropped with
Esc; a missing or damaged model. A tiny randomly initialised MobileSAM stands in for the published one
(its masks are meaningless, the flow and the threads are real)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import REPO, gradient_photo, on_the_desktop
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from test_ui_main_window import drag, widget_point

torch = pytest.importorskip("torch")

from test_sam import TINY  # noqa: E402 - after the skip: it imports torch

from inpaint_studio.selection.sam import MODEL_ID  # noqa: E402
from inpaint_studio.selection.sam.model import Sam  # noqa: E402
from inpaint_studio.selection.sam.session import SamSession  # noqa: E402
from inpaint_studio.ui.mask_tools import Tool  # noqa: E402
from inpaint_studio.ui.sam_select import CANDIDATE, GRABCUT, LABEL, PREPARING, SAM  # noqa: E402

SEED = 2  # a tiny network whose masks cover part of the photo, and differ between one click and two


@pytest.fixture
def window(window, qtbot):
    return on_the_desktop(window, qtbot)


@pytest.fixture
def tiny_model(window, tmp_path, monkeypatch):
    """A tiny MobileSAM installed in the window's model store; loading builds the tiny network for it."""
    monkeypatch.setattr("inpaint_studio.selection.sam.model.MOBILE_SAM", TINY)
    torch.manual_seed(SEED)
    weights = tmp_path / "tiny_mobile_sam.pt"
    torch.save(Sam(TINY).state_dict(), weights)
    window.engines.model_store.import_file(MODEL_ID, weights, allow_unknown=True)  # not the published checksum


@pytest.fixture
def gate(monkeypatch):
    """Embeddings wait until the test opens the gate (a slow photo); counts them."""
    opened, calls = threading.Event(), []
    embed = SamSession.embed

    def gated(session, image, cancel=None):
        calls.append(image.shape[:2])
        assert opened.wait(10)
        embed(session, image, cancel)

    monkeypatch.setattr(SamSession, "embed", gated)
    opened.calls = calls
    return opened


def choose_sam(qtbot, win):
    """W, then the method picked in the tool options with the keyboard."""
    qtbot.keyClick(win.canvas, Qt.Key.Key_W)
    assert win.tools.tool == Tool.OBJECT_SELECT
    combo = win.tool_options.method_combo
    assert all(action.isVisible() for action in win.tool_options.object_options) and combo.currentData() == GRABCUT
    qtbot.waitUntil(combo.isVisible)  # the toolbar lays out its widgets when the event loop runs
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentData() == SAM


def click(qtbot, win, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, modifiers, widget_point(win, x, y))


def wait_for_candidate(qtbot, win, before=None):
    sam = win.selection_tools.sam
    qtbot.waitUntil(lambda: sam.candidate is not None and sam.candidate is not before, timeout=10000)
    return sam.candidate


def shown(win):
    return CANDIDATE in win.canvas._extra


def test_a_click_before_the_photo_is_ready_is_answered_then_refined_and_enter_adds_it(qtbot, window, tiny_model, gate):
    choose_sam(qtbot, window)
    assert window.selection_tools.method == SAM and window.settings.object_select_method == SAM
    assert window.tool_options.add_action.isVisible() and not window.tool_options.add_action.isEnabled()
    assert window.statusBar().currentMessage() == PREPARING  # the embedding started when the method was chosen
    click(qtbot, window, 150, 100)
    qtbot.wait(100)
    assert window.selection_tools.sam.candidate is None and window.statusBar().currentMessage() == PREPARING
    gate.set()  # the photo is ready: the click kept is answered
    first = wait_for_candidate(qtbot, window)
    assert shown(window) and window.tool_options.add_action.isEnabled()
    assert first.shape == (200, 300) and first.any()
    assert not window.document.mask.any() and window.document.history.steps == []  # only a candidate

    click(qtbot, window, 20, 20, Qt.KeyboardModifier.AltModifier)  # not the object: the same candidate refined
    refined = wait_for_candidate(qtbot, window, first)
    points, box = window.selection_tools.sam.prompts
    assert [(round(x), round(y), inside) for x, y, inside in points] == [(150, 100, True), (20, 20, False)] and box is None
    assert not np.array_equal(refined, first)
    assert gate.calls == [(200, 300)]  # embedded once for every click

    button = window.toolbox.widgetForAction(window.tool_actions[Tool.OBJECT_SELECT])
    button.setFocus()  # Enter with the focus on a toolbar button still reaches the editor
    qtbot.keyClick(button, Qt.Key.Key_Return)
    assert np.array_equal(window.document.mask, refined)
    assert len(window.document.history.steps) == 1 and window.document.history.undo_label == LABEL
    assert not shown(window) and window.selection_tools.sam.candidate is None
    assert window.document.layers == [] and not window.workspace.fills.busy  # Enter added it; no fill ran
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not window.document.mask.any()


def test_a_box_makes_a_candidate_esc_drops_it_and_subtract_takes_one_away(qtbot, window, tiny_model):
    choose_sam(qtbot, window)
    drag(qtbot, window, [(50, 40), (150, 100), (250, 160)])
    candidate = wait_for_candidate(qtbot, window)
    points, box = window.selection_tools.sam.prompts
    assert points == [] and np.allclose(box, (50, 40, 250, 160), atol=1.5)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    assert not shown(window) and window.selection_tools.sam.prompts == ([], None)
    assert not window.document.mask.any() and window.document.history.steps == []
    click(qtbot, window, 150, 100)
    wait_for_candidate(qtbot, window)
    window.tool_options.drop_action.trigger()  # the Drop button, as Esc
    assert not shown(window) and not window.selection_tools.busy and not window.tool_options.add_action.isEnabled()

    window.document.replace_mask(np.full((200, 300), 255, np.uint8), "All")  # a mask to take from
    window.subtract_action.trigger()
    drag(qtbot, window, [(50, 40), (250, 160)])
    candidate = wait_for_candidate(qtbot, window)
    window.tool_options.add_action.trigger()  # the Add button
    assert np.array_equal(window.document.mask > 0, candidate == 0)
    assert window.document.history.undo_label == LABEL and not shown(window)


def test_another_tool_or_method_drops_the_candidate_and_grabcut_works_as_before(qtbot, window, tiny_model):
    choose_sam(qtbot, window)
    click(qtbot, window, 150, 100)
    wait_for_candidate(qtbot, window)
    qtbot.keyClick(window.canvas, Qt.Key.Key_B)
    assert not shown(window) and not window.selection_tools.busy
    assert not any(action.isVisible() for action in window.tool_options.object_options)
    assert not window.tool_options.add_action.isVisible()
    qtbot.keyClick(window.canvas, Qt.Key.Key_W)
    assert window.tool_options.method_combo.currentData() == SAM  # still chosen
    click(qtbot, window, 150, 100)
    wait_for_candidate(qtbot, window)
    combo = window.tool_options.method_combo
    qtbot.waitUntil(combo.isVisible)
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Up)
    assert window.selection_tools.method == GRABCUT and window.settings.object_select_method == GRABCUT
    assert not shown(window) and not window.tool_options.add_action.isVisible()
    window.canvas.setFocus()
    drag(qtbot, window, [(50, 40), (250, 160)])  # GrabCut: straight into the mask, as before
    qtbot.waitUntil(lambda: len(window.document.history.steps) == 1, timeout=5000)
    assert window.document.history.undo_label == "Object selection"


def test_with_auto_run_adding_the_candidate_runs_a_fill_and_the_next_click_embeds_the_result(
    qtbot, window, tiny_model, gate
):
    gate.set()
    window.auto_run_action.setChecked(True)
    choose_sam(qtbot, window)
    click(qtbot, window, 150, 100)
    wait_for_candidate(qtbot, window)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(window.document.layers) == 1 and not window.workspace.fills.busy, timeout=10000)
    assert gate.calls == [(200, 300)]
    click(qtbot, window, 100, 100)  # the composite changed: embedded again, then answered
    wait_for_candidate(qtbot, window)
    assert len(gate.calls) == 2


def test_another_photo_is_embedded_and_its_clicks_get_masks_of_its_size(qtbot, window, tiny_model, tmp_path):
    choose_sam(qtbot, window)
    click(qtbot, window, 150, 100)
    wait_for_candidate(qtbot, window)
    other = tmp_path / "tall.png"
    Image.fromarray(gradient_photo(260, 120, seed=3)).save(other)
    assert window.open_file(other, confirm=False)
    assert not shown(window) and window.selection_tools.sam.prompts == ([], None)  # the old photo's candidate went
    click(qtbot, window, 60, 200)
    assert wait_for_candidate(qtbot, window).shape == (260, 120)


def test_without_the_model_the_download_is_offered_and_no_keeps_grabcut(qtbot, window, monkeypatch):
    asked = []

    def question(parent, title, text, *rest):
        asked.append(text)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", question)
    qtbot.keyClick(window.canvas, Qt.Key.Key_W)
    combo = window.tool_options.method_combo
    assert combo.itemText(combo.findData(SAM)).endswith("(download needed)")
    qtbot.waitUntil(combo.isVisible)
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert len(asked) == 1 and "MobileSAM" in asked[0]
    assert combo.currentData() == GRABCUT and window.selection_tools.method == GRABCUT
    assert window.settings.object_select_method == GRABCUT
    assert "Run > Models" in window.statusBar().currentMessage()


def test_a_damaged_model_file_is_named_in_a_message_and_grabcut_stays(qtbot, window, errors, tmp_path):
    damaged = tmp_path / "mobile_sam.pt"
    damaged.write_bytes(b"PK\x03\x04 not a model at all" * 100)
    window.engines.model_store.import_file(MODEL_ID, damaged, allow_unknown=True)
    choose_sam(qtbot, window)
    click(qtbot, window, 150, 100)
    qtbot.waitUntil(lambda: window.selection_tools.method == GRABCUT, timeout=10000)
    [(title, text)] = errors
    assert "mobile_sam.pt" in text and "GrabCut" in text
    assert window.tool_options.method_combo.currentData() == GRABCUT and not window.selection_tools.busy
    assert window.document.history.steps == [] and window.isVisible()


def test_the_window_opens_and_offers_the_method_without_importing_torch(tmp_path):
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from inpaint_studio.session.settings import Settings\n"
        "from inpaint_studio.ui.main_window import MainWindow\n"
        "from inpaint_studio.ui.mask_tools import Tool\n"
        "app = QApplication([])\n"
        f"window = MainWindow(Settings(object_select_method='sam', models_dir={str(tmp_path)!r}), "
        f"settings_path=__import__('pathlib').Path({str(tmp_path / 's.json')!r}))\n"
        "window.set_tool(Tool.OBJECT_SELECT)\n"
        "assert window.selection_tools.method == 'grabcut'  # remembered, but its model is missing\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    home = {name: str(tmp_path / name) for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")}
    env = {**os.environ, **home, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}  # never the user's folders
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=env, timeout=60)


def test_the_method_is_remembered_when_its_model_is_installed(qtbot, window, tiny_model, tmp_path):
    from inpaint_studio.session.settings import Settings
    from inpaint_studio.ui.main_window import MainWindow

    settings = Settings(engine="fake", object_select_method=SAM, models_dir=str(window.engines.model_store.root))
    other = MainWindow(settings, settings_path=tmp_path / "other.json")
    qtbot.addWidget(other)
    assert other.selection_tools.method == SAM and other.tool_options.method_combo.currentData() == SAM

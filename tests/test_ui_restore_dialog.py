"""Edit > Detect damage…: the real dialog over a photo with drawn damage, its slider, OK and undo."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox
from test_ui_main_window import drag

from inpaint_studio.restore import degrade, score_detection
from inpaint_studio.ui.mask_tools import Tool


@pytest.fixture
def damaged(window, tmp_path):
    """The window with a photo damaged by `restore.degrade` open."""
    result = degrade(gradient_photo(200, 300, seed=3), seed=5)
    path = tmp_path / "damaged.png"
    Image.fromarray(result.image).save(path)
    assert window.open_file(path, confirm=False)
    return result


def open_dialog(qtbot, window):
    qtbot.keyClick(window, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dialog = window.restore_dialog
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.ready, timeout=20000)
    assert QApplication.overrideCursor() is None  # the busy cursor is gone once the map is there
    return dialog


def set_sensitivity(qtbot, dialog, value: int) -> np.ndarray:
    dialog.slider.setValue(value)
    qtbot.waitUntil(lambda: not dialog._settle.isActive(), timeout=2000)  # the preview caught up
    return dialog.mask().copy()


def test_detected_damage_goes_into_the_mask_as_one_undoable_step(qtbot, window, damaged):
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(10, 10), (40, 40)])  # something the user had masked already
    before = window.document.mask.copy()
    steps = window.document.history.position

    dialog = open_dialog(qtbot, window)
    shown_before = dialog.preview.grab().toImage()
    strict = set_sensitivity(qtbot, dialog, 0)
    loose = set_sensitivity(qtbot, dialog, 100)
    assert np.count_nonzero(strict) < np.count_nonzero(loose)
    assert not (strict & ~loose).any()  # a higher sensitivity only adds
    assert dialog.preview.grab().toImage() != shown_before  # the preview follows the slider
    chosen = set_sensitivity(qtbot, dialog, 40)

    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    mask = window.document.mask
    assert score_detection(mask, damaged.mask).recall > 0.8  # the drawn damage is in the mask
    assert (mask[chosen > 0] == 255).all()
    assert (mask[before > 0] == before[before > 0]).all()  # what was masked before stays
    assert window.document.history.undo_label == "Detect damage"
    assert window.document.history.position == steps + 1  # one step, however many regions

    window.activateWindow()  # back from the dialog: window shortcuts need the window active
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.document.mask, before)
    assert window.document.history.undo_label == "Rectangle"


def test_cancel_leaves_the_mask_and_history_alone(qtbot, window, damaged):
    before = window.document.mask.copy()
    label = window.document.history.undo_label
    dialog = open_dialog(qtbot, window)
    set_sensitivity(qtbot, dialog, 80)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert np.array_equal(window.document.mask, before)
    assert window.document.history.undo_label == label


def test_switching_to_the_classical_detector_computes_its_own_map(qtbot, window, damaged):
    dialog = open_dialog(qtbot, window)
    assert dialog.detector == "learned"
    learned = set_sensitivity(qtbot, dialog, 40)
    dialog.detector_box.setCurrentIndex(dialog.detector_box.findData("classical"))
    assert not dialog.ready and not dialog.slider.isEnabled()  # its map is being made
    qtbot.waitUntil(lambda: dialog.ready, timeout=20000)
    classical = dialog.mask().copy()
    assert dialog.damage.detector.name == "classical"
    assert not np.array_equal(classical, learned)
    assert score_detection(classical, damaged.mask).recall > 0.8
    # Back to the learned detector: its map is kept, so it shows at once.
    dialog.detector_box.setCurrentIndex(dialog.detector_box.findData("learned"))
    assert dialog.ready
    assert np.array_equal(dialog.mask(), learned)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()


def test_grow_by_widens_the_mask_and_each_detector_starts_at_its_own_growth(qtbot, window, damaged):
    dialog = open_dialog(qtbot, window)
    assert dialog.busy.isHidden()  # the busy bar went with the computation
    assert dialog.grow_spin.value() == 0  # the learned detector's mask needs no growth
    found = set_sensitivity(qtbot, dialog, 40)
    dialog.grow_spin.setFocus()
    qtbot.keyClick(dialog.grow_spin, Qt.Key.Key_Up)
    qtbot.keyClick(dialog.grow_spin, Qt.Key.Key_Up)  # as a person does: arrow keys in the field
    grown = dialog.mask()
    assert dialog.grow_spin.value() == 2
    assert np.count_nonzero(grown) > np.count_nonzero(found) and not (found & ~grown).any()
    dialog.detector_box.setCurrentIndex(dialog.detector_box.findData("classical"))
    assert dialog.grow_spin.value() == 2 and not dialog.busy.isHidden()
    qtbot.waitUntil(lambda: dialog.ready, timeout=20000)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()


def test_the_preview_zooms_to_single_pixels(qtbot, window, damaged):
    dialog = open_dialog(qtbot, window)
    fitted = dialog.preview.zoom
    dialog.preview.setFocus()
    qtbot.keyClick(dialog, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert dialog.preview.zoom == 1.0 != fitted
    qtbot.keyClick(dialog, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert dialog.preview.zoom == fitted
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()


def test_the_bar_shows_how_far_detection_is_and_closing_stops_it(qtbot, window, damaged):
    dialog = open_dialog(qtbot, window)
    assert dialog.busy.maximum() == 100 and dialog.busy.value() == 100  # determinate, and done
    cancel = dialog._cancel
    dialog.detector_box.setCurrentIndex(dialog.detector_box.findData("classical"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert cancel.cancelled  # the work in flight is told to stop

"""File > Batch process…: the real dialog, opened from the window, running real batches on generated photos."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox
from test_ui_main_window import drag

from inpaint_studio.models import ModelStore
from inpaint_studio.restore import degrade
from inpaint_studio.ui.batch_dialog import BatchDialog
from inpaint_studio.ui.mask_tools import Tool


def hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def make_photos(folder: Path, count: int, broken: bool = True) -> Path:
    """`count` generated photos of two sizes (JPEG and PNG) and, with `broken`, one corrupt file."""
    folder.mkdir()
    for index in range(count):
        size = (200, 300) if index % 2 == 0 else (100, 160)
        image = Image.fromarray(gradient_photo(*size, seed=index))
        image.save(folder / f"p{index:02d}{'.jpg' if index % 3 == 0 else '.png'}", quality=90)
    if broken:
        (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def open_batch_dialog(qtbot, window) -> BatchDialog:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dialog = window.batch_dialog
    assert dialog.isVisible()
    return dialog


def paint_mask(qtbot, window) -> None:
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(220, 140), (280, 180)])  # bottom right of the 300x200 photo, like a watermark
    assert window.document.mask[160, 250] == 255


def wait_for_report(qtbot, dialog, timeout=60000) -> None:
    qtbot.waitUntil(lambda: not dialog.running and dialog.report_box.isVisible(), timeout=timeout)


def test_current_mask_over_a_folder_with_two_worker_processes(qtbot, window, tmp_path, errors, monkeypatch):
    photos = make_photos(tmp_path / "photos", 4)
    before = hashes(photos)
    window.set_engine("telea")
    paint_mask(qtbot, window)
    dialog = open_batch_dialog(qtbot, window)

    # Preset from the window: the photo's folder, its 'inpainted' sub-folder, its mask, its engine.
    assert Path(dialog.input_edit.text()) == window.document.photo.path.parent
    assert Path(dialog.output_edit.text()) == window.document.photo.path.parent / "inpainted"
    assert dialog.current_mask_radio.isEnabled() and dialog.current_mask_radio.isChecked()
    assert "photo.png" in dialog.current_mask_radio.text()
    assert "Telea" in dialog.engine_label.text()

    dialog.input_edit.setText(str(photos))
    assert Path(dialog.output_edit.text()) == photos / "inpainted"  # the output follows the input
    qtbot.waitUntil(lambda: dialog.input_info.text() == "5 photos", timeout=2000)
    dialog.workers_spin.setValue(2)
    dialog.start_button.click()
    assert dialog.running and not dialog.form.isEnabled() and dialog.cancel_button.isVisible()
    wait_for_report(qtbot, dialog)

    out = photos / "inpainted"
    assert errors == []
    assert sorted(p.name for p in out.iterdir()) == ["p00.jpg", "p01.png", "p02.png", "p03.jpg"]
    assert hashes(photos) == {**before}  # originals byte-identical (and the output folder is new)
    assert "4 written, 0 skipped, 1 failed" in dialog.summary_label.text()
    assert dialog.progress_label.text().startswith("5 / 5, 1 failed")
    report = dialog.report_text.toPlainText()
    assert "failed   broken.jpg:" in report and "broken.jpg" in report.split("failed   broken.jpg:")[1]
    # The mask, painted on a 300x200 photo, was scaled onto the 160x100 ones: only its corner changed.
    small_before = np.asarray(Image.open(photos / "p01.png")).astype(int)
    small_after = np.asarray(Image.open(out / "p01.png")).astype(int)
    changed = np.abs(small_after - small_before).sum(-1) > 0
    assert changed[80, 133] and not changed[:60].any() and not changed[:, :100].any()

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    assert dialog.open_output_button.isVisible()
    dialog.open_output_button.click()
    assert [Path(p) for p in opened] == [out]
    temp_mask = dialog._mask_file
    assert temp_mask.is_file() and temp_mask.parent != photos  # the current mask, as a PNG outside the folder
    dialog.close_button.click()
    assert not dialog.isVisible() and not temp_mask.parent.exists()  # and removed on closing


def test_detected_scratches_with_a_name_pattern_and_the_failure_report(qtbot, window, tmp_path, errors):
    folder = tmp_path / "old"
    folder.mkdir()
    for name, seed in (("a.png", 1), ("b.png", 2)):
        Image.fromarray(degrade(gradient_photo(160, 200, seed=seed), seed=seed).image).save(folder / name)
    Image.fromarray(np.full((100, 120, 3), 90, np.uint8)).save(folder / "flat.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    before = hashes(folder)
    window.set_engine("telea")
    dialog = open_batch_dialog(qtbot, window)
    assert not dialog.current_mask_radio.isEnabled()  # no mask painted
    dialog.input_edit.setText(str(folder))
    dialog.detect_radio.click()
    assert dialog.sensitivity_slider.isEnabled() and not dialog.mask_dir_row.isEnabled()
    dialog.sensitivity_slider.setValue(50)
    dialog.name_edit.setText("{stem}_restored")
    qtbot.waitUntil(lambda: dialog.name_example.text() == "a.png is written as a_restored.png", timeout=2000)
    dialog.workers_spin.setValue(1)
    dialog.start_button.click()
    wait_for_report(qtbot, dialog)

    assert sorted(p.name for p in (folder / "inpainted").iterdir()) == ["a_restored.png", "b_restored.png"]
    assert hashes(folder) == before
    report = dialog.report_text.toPlainText()
    assert "2 written, 1 skipped, 1 failed" in report
    assert "failed   corrupt.png:" in report
    assert "skipped  flat.png: no scratches or dust were found in 'flat.png' at sensitivity 0.5" in report
    assert dialog.form.isEnabled() and dialog.start_button.isEnabled()  # ready for another run


def test_cancel_midway_stops_cleanly(qtbot, window, tmp_path, errors):
    photos = make_photos(tmp_path / "photos", 12, broken=False)
    before = hashes(photos)
    paint_mask(qtbot, window)
    window.engines.params = {"steps": 20, "step_seconds": 0.02}  # the fake engine: ~0.4 s per photo
    dialog = open_batch_dialog(qtbot, window)
    assert "steps=20" in dialog.engine_label.text()
    dialog.input_edit.setText(str(photos))
    dialog.workers_spin.setValue(1)  # the fake engine is registered in this process only
    started = time.perf_counter()
    dialog.start_button.click()
    assert time.perf_counter() - started < 1.0 and dialog.running  # a ~5 s batch: Start returns at once
    qtbot.waitUntil(lambda: len(dialog._results) >= 2, timeout=20000)
    assert dialog.progress_label.text().startswith(f"{len(dialog._results)} / 12")
    dialog.cancel_button.click()
    assert "stopping" in dialog.progress_label.text()
    wait_for_report(qtbot, dialog, timeout=10000)

    assert dialog.report.cancelled
    done = [r.item.output.name for r in dialog.report.results]
    assert 2 <= len(done) < 12
    assert dialog.summary_label.text().startswith(f"Cancelled after {len(done)} of 12 photos")
    out = photos / "inpainted"
    assert sorted(p.name for p in out.iterdir()) == sorted(done)  # no half-written or temporary files
    for path in out.iterdir():
        with Image.open(path) as image:
            image.load()  # every output is a whole, readable photo
    assert hashes(photos) == before


def test_closing_while_running_asks_then_stops(qtbot, window, tmp_path, errors, monkeypatch):
    photos = make_photos(tmp_path / "photos", 10, broken=False)
    paint_mask(qtbot, window)
    window.engines.params = {"steps": 20, "step_seconds": 0.02}
    dialog = open_batch_dialog(qtbot, window)
    dialog.input_edit.setText(str(photos))
    dialog.workers_spin.setValue(1)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: len(dialog._results) >= 1, timeout=20000)

    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, *rest: asked.append(title) or answers.pop(0))
    dialog.close()  # the window's close button: asks; No keeps it running
    assert asked == ["Stop the batch?"] and dialog.isVisible() and dialog.running
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # Escape asks too; Yes stops the batch and closes
    assert asked == ["Stop the batch?", "Stop the batch?"]
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10000)
    assert not dialog.running and dialog.report.cancelled
    assert len(list((photos / "inpainted").iterdir())) == len(dialog.report.results) < 10


def test_bad_choices_are_refused_with_clear_messages(qtbot, tmp_path, errors):
    photos = make_photos(tmp_path / "photos", 2, broken=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    mask = np.zeros((200, 300), np.uint8)
    mask[10:20, 10:20] = 255

    def dialog_for(folder, engine_id="telea", **options):
        dialog = BatchDialog(folder=folder, engine_id=engine_id, mask=mask, mask_name="photo.png", **options)
        qtbot.addWidget(dialog)
        return dialog

    def refused(dialog) -> str:
        errors.clear()
        assert dialog.start() is False and not dialog.running
        [(title, text)] = errors
        assert title == "Cannot start the batch"
        return text

    assert "No photos found" in refused(dialog_for(empty))
    assert "not a folder" in refused(dialog_for(tmp_path / "missing"))
    assert "Choose the folder of photos" in refused(dialog_for(None))
    same = dialog_for(photos)
    same.output_edit.setText(str(photos))
    assert "is the input folder" in refused(same)
    no_masks = dialog_for(photos)
    no_masks.mask_folder_radio.click()
    assert "Choose the folder of masks" in refused(no_masks)
    no_masks.mask_dir_edit.setText(str(tmp_path / "masks"))
    assert "Mask folder" in refused(no_masks) and "not found" in errors[0][1]
    named = dialog_for(photos)
    named.name_edit.setText("all_the_same")
    assert "must contain {stem}" in refused(named)
    lama = dialog_for(photos, "lama", model_store=ModelStore(tmp_path / "models"))
    text = refused(lama)
    assert "needs the model 'big-lama'" in text and "Run > Models" in text
    assert not (photos / "inpainted").exists()  # nothing was created by a refused start

    for no_mask in (None, np.zeros((200, 300), np.uint8)):
        dialog = BatchDialog(folder=photos, engine_id="telea", mask=no_mask)
        qtbot.addWidget(dialog)
        assert not dialog.current_mask_radio.isEnabled() and dialog.mask_folder_radio.isChecked()


def test_the_open_folder_is_the_default_input(qtbot, window, tmp_path, errors):
    if not hasattr(window, "open_folder"):
        pytest.skip("this window has no folder browsing")
    photos = make_photos(tmp_path / "album", 3, broken=False)
    assert window.open_folder(photos, confirm=False)
    dialog = open_batch_dialog(qtbot, window)
    assert Path(dialog.input_edit.text()) == photos
    assert Path(dialog.output_edit.text()) == photos / "inpainted"
    qtbot.waitUntil(lambda: dialog.input_info.text() == "3 photos", timeout=2000)
    dialog.close_button.click()

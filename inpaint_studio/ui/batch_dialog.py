"""File > Batch process…: remove the same thing from every photo in a folder.

The mask is the current document's mask (written to a temporary PNG, which
`load_mask` scales to each photo: a watermark), a folder of masks matched by
file name, or the scratches and dust each worker finds in its photo. The
dialog plans with `batch.plan_batch` and runs `batch.run_batch`, the code
behind `inpaint-studio batch`, on a Python thread, so the window never
freezes; each photo's result reaches the GUI thread through a queued signal.
Cancel stops cleanly: no photo is started after it, outputs are written
atomically, and the originals are never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QFontDatabase
from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inpaint_studio.batch import (
    DEFAULT_NAME,
    FAILED,
    SKIPPED,
    WRITTEN,
    BatchItem,
    BatchReport,
    BatchSettings,
    ItemResult,
    check_name_pattern,
    output_name,
    plan_batch,
    prepare_engine,
    run_batch,
)
from inpaint_studio.core.errors import EngineNotReadyError, InpaintStudioError
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.core.mask_ops import is_empty
from inpaint_studio.engines.base import Engine
from inpaint_studio.engines.registry import engine_class
from inpaint_studio.io.mask_file import save_mask
from inpaint_studio.io.photo_files import find_images
from inpaint_studio.ui.background import on_gui_thread, run_in_background
from inpaint_studio.ui.damage_controls import detector_combo, sensitivity_slider

OUTPUT_SUBFOLDER = "inpainted"  # the default output folder, inside the input folder
CURRENT_MASK, MASK_FOLDER, DETECT = "current", "folder", "detect"
DEVICE_LABELS = {"cpu": "CPU", "cuda": "CUDA (GPU)", "mps": "Apple MPS"}
_RECHECK_MS = 200  # typing in a folder field re-reads the folder once it pauses this long


class BatchDialog(QDialog):
    """Set up, run and report one batch. `report` holds the last finished batch's BatchReport."""


    def __init__(
        self,
        *,
        folder: Path | str | None,
        engine_id: str,
        device: str = "cpu",
        params: Mapping[str, Any] | None = None,
        model_store: Any = None,
        mask: np.ndarray | None = None,
        mask_name: str = "",
        quality: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch process")
        self.engine_id, self.device, self.model_store, self.quality = engine_id, device, model_store, quality
        self.params = dict(params or {})
        self._mask = None if mask is None or is_empty(mask) else mask.copy()  # the document may change meanwhile
        self._mask_name = mask_name
        self._mask_dir: Path | None = None  # temporary folder holding the current mask as a PNG
        self._mask_file: Path | None = None
        self._token: CancelToken | None = None
        self._running = False
        self._close_when_done = False
        self._results: list[ItemResult] = []
        self._total = 0
        self._started = 0.0
        self._output: Path | None = None
        self.report: BatchReport | None = None
        self.error: Exception | None = None  # what stopped the last batch, if anything did
        self._output_follows_input = True  # until the user picks an output folder of their own

        self._build(folder)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._stop_for_quit)
        self._recheck_folders()

    # ------------------------------------------------------------ construction

    def _build(self, folder: Path | str | None) -> None:
        self.form = QWidget()  # everything that is disabled while a batch runs
        self.form.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)  # the report takes the rest
        form = QVBoxLayout(self.form)
        form.setContentsMargins(0, 0, 0, 0)

        photos = QGroupBox("Photos")
        photos_layout = QFormLayout(photos)
        self.input_edit = QLineEdit(str(folder) if folder else "")
        self.input_edit.setPlaceholderText("Folder of photos")
        self.input_info = QLabel()
        photos_layout.addRow("Folder", self._with_browse(self.input_edit, "Folder of photos to process"))
        photos_layout.addRow("", self.input_info)
        form.addWidget(photos)

        source = QGroupBox("What to remove")
        source_layout = QVBoxLayout(source)
        name = f" of {self._mask_name}" if self._mask_name else ""
        self.current_mask_radio = QRadioButton(f"Current mask{name}, scaled to each photo's size")
        self.mask_folder_radio = QRadioButton("Mask folder: masks matched by name (photo.jpg uses photo.png or photo_mask.png)")
        self.detect_radio = QRadioButton("Detect scratches and dust in each photo")
        self.source_group = QButtonGroup(self)
        for radio in (self.current_mask_radio, self.mask_folder_radio, self.detect_radio):
            self.source_group.addButton(radio)
        if self._mask is None:
            self.current_mask_radio.setEnabled(False)
            self.current_mask_radio.setToolTip("Paint a mask on the open photo first.")
            self.mask_folder_radio.setChecked(True)
        else:
            self.current_mask_radio.setChecked(True)
        self.mask_dir_edit = QLineEdit()
        self.mask_dir_edit.setPlaceholderText("Folder of masks")
        self.sensitivity_slider = sensitivity_slider()
        self.sensitivity_label = QLabel()
        self.sensitivity_slider.valueChanged.connect(lambda value: self.sensitivity_label.setText(f"{value / 100:.2f}"))
        self.sensitivity_label.setText(f"{self.sensitivity:.2f}")
        self.detector_box = detector_combo()
        sensitivity_row = QHBoxLayout()
        sensitivity_row.setContentsMargins(24, 0, 0, 0)
        sensitivity_row.addWidget(self.detector_box)
        sensitivity_row.addWidget(QLabel("Sensitivity"))
        sensitivity_row.addWidget(self.sensitivity_slider, 1)
        sensitivity_row.addWidget(self.sensitivity_label)
        self.mask_dir_row = self._with_browse(self.mask_dir_edit, "Folder of masks")
        mask_dir_layout = self.mask_dir_row.layout()
        assert mask_dir_layout is not None  # _with_browse gives the row its layout
        mask_dir_layout.setContentsMargins(24, 0, 0, 0)
        source_layout.addWidget(self.current_mask_radio)
        source_layout.addWidget(self.mask_folder_radio)
        source_layout.addWidget(self.mask_dir_row)
        source_layout.addWidget(self.detect_radio)
        source_layout.addLayout(sensitivity_row)
        form.addWidget(source)

        output = QGroupBox("Output")
        output_layout = QFormLayout(output)
        self.output_edit = QLineEdit()
        self.output_edit.textEdited.connect(self._output_edited)
        self.name_edit = QLineEdit(DEFAULT_NAME)
        self.name_edit.setToolTip("{stem} is the photo's name without its extension; the photo's format is kept.")
        self.name_example = QLabel()
        self.skip_existing_box = QCheckBox("Skip photos whose output already exists")
        output_layout.addRow("Folder", self._with_browse(self.output_edit, "Output folder"))
        output_layout.addRow("File names", self.name_edit)
        output_layout.addRow("", self.name_example)
        output_layout.addRow("", self.skip_existing_box)
        form.addWidget(output)

        engine = QGroupBox("Engine")
        engine_layout = QFormLayout(engine)
        self.engine_label = QLabel(self._engine_text())
        self.engine_label.setWordWrap(True)
        self.workers_spin = QSpinBox()
        cores = os.cpu_count() or 1
        self.workers_spin.setRange(1, max(cores, 1))
        self.workers_spin.setValue(min(4, cores))
        self.workers_spin.setToolTip("Each worker process loads the engine once and fills one photo at a time.")
        if self.device != "cpu":
            self.workers_spin.setValue(1)
            self.workers_spin.setEnabled(False)
            self.workers_spin.setToolTip("On a GPU the batch runs in one process: each would load its own copy of the model.")
        engine_layout.addRow(self.engine_label)
        engine_layout.addRow("Worker processes", self.workers_spin)
        form.addWidget(engine)

        self.progress_box = QWidget()
        progress_layout = QVBoxLayout(self.progress_box)
        progress_layout.setContentsMargins(0, 0, 0, 0)
        self.progress_bar = QProgressBar()
        self.progress_label = QLabel()
        progress_layout.addWidget(self.progress_bar)
        progress_layout.addWidget(self.progress_label)
        self.progress_box.hide()

        self.report_box = QWidget()
        report_layout = QVBoxLayout(self.report_box)
        report_layout.setContentsMargins(0, 0, 0, 0)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        font = self.summary_label.font()
        font.setBold(True)
        self.summary_label.setFont(font)
        self.report_text = QPlainTextEdit()
        self.report_text.setReadOnly(True)  # selectable and copyable
        self.report_text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.report_text.setMinimumHeight(140)
        report_layout.addWidget(self.summary_label)
        report_layout.addWidget(self.report_text, 1)
        self.report_box.hide()

        self.open_output_button = QPushButton("Open output folder")
        self.open_output_button.clicked.connect(self.open_output_folder)
        self.open_output_button.hide()
        self.copy_button = QPushButton("Copy report")
        self.copy_button.clicked.connect(lambda: QApplication.clipboard().setText(self.report_text.toPlainText()))
        self.copy_button.hide()
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel batch")
        self.cancel_button.clicked.connect(self.cancel_batch)
        self.cancel_button.hide()
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_output_button)
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self.progress_box)
        layout.addWidget(self.report_box, 1)
        layout.addLayout(buttons)
        self.setMinimumWidth(640)

        self._recheck = QTimer(self, singleShot=True, interval=_RECHECK_MS)
        self._recheck.timeout.connect(self._recheck_folders)
        self.input_edit.textChanged.connect(self._input_changed)
        self.name_edit.textChanged.connect(lambda: self._recheck.start())
        self.output_edit.textChanged.connect(lambda: self._recheck.start())
        self.source_group.buttonToggled.connect(lambda *_: self._source_changed())
        self._input_changed()
        self._source_changed()

    def _with_browse(self, edit: QLineEdit, title: str) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: self._browse(edit, title))
        layout.addWidget(edit, 1)
        layout.addWidget(button)
        return row

    def _engine_text(self) -> str:
        try:
            cls = engine_class(self.engine_id)
        except InpaintStudioError:
            return f"{self.engine_id} (unknown engine)"
        defaults = {p.name: p.default for p in cls.info.params}
        changed = [f"{k}={v}" for k, v in self.params.items() if k in defaults and v != defaults[k]]
        settings = f"settings: {', '.join(changed)}" if changed else "default settings"
        device = DEVICE_LABELS.get(self.device, self.device)
        return f"<b>{cls.info.name}</b> on {device}, {settings} (the engine chosen in the main window)"

    # ------------------------------------------------------------ choices

    @property
    def sensitivity(self) -> float:
        return self.sensitivity_slider.value() / 100

    @property
    def running(self) -> bool:
        return self._running

    def mask_source(self) -> str:
        if self.current_mask_radio.isChecked():
            return CURRENT_MASK
        return DETECT if self.detect_radio.isChecked() else MASK_FOLDER

    def _browse(self, edit: QLineEdit, title: str) -> None:
        start = edit.text() or self.input_edit.text()
        folder = QFileDialog.getExistingDirectory(self, title, start)
        if folder:
            edit.setText(folder)
            if edit is self.output_edit:
                self._output_follows_input = False

    def _output_edited(self) -> None:
        self._output_follows_input = False

    def _input_changed(self) -> None:
        text = self.input_edit.text().strip()
        if self._output_follows_input:
            self.output_edit.setText(str(Path(text) / OUTPUT_SUBFOLDER) if text else "")
        self._recheck.start()

    def _source_changed(self) -> None:
        self.mask_dir_row.setEnabled(self.mask_folder_radio.isChecked())
        self.sensitivity_slider.setEnabled(self.detect_radio.isChecked())
        self.detector_box.setEnabled(self.detect_radio.isChecked())

    def _recheck_folders(self) -> None:
        """How many photos the input folder holds, and what the first one's output will be called."""
        text = self.input_edit.text().strip()
        photos: list[Path] = []
        if not text:
            self.input_info.setText("Choose a folder of photos.")
        else:
            try:
                photos = find_images(Path(text).expanduser())
            except InpaintStudioError:
                self.input_info.setText("This is not a folder.")
            else:
                count = len(photos)
                self.input_info.setText(f"{count} photo{'s' if count != 1 else ''}" if count else "No photos in this folder.")
        pattern = self.name_edit.text()
        try:
            check_name_pattern(pattern)
        except InpaintStudioError as error:
            self.name_example.setText(str(error))
            return
        example = photos[0] if photos else Path("photo.jpg")
        self.name_example.setText(f"{example.name} is written as {output_name(example, pattern)}")

    # ------------------------------------------------------------ running

    def start(self) -> bool:
        """Check the choices, then run the batch on a background thread; False (and a message) if refused."""
        if self._running:
            return False
        try:
            items, settings, engine = self._plan()
        except EngineNotReadyError as error:
            return self._refuse(f"{error} Run > Models… downloads or imports it.")
        except InpaintStudioError as error:
            return self._refuse(str(error))
        self._results = []
        self._total = len(items)
        self._output = Path(self.output_edit.text().strip()).expanduser()
        self.report, self.error = None, None
        self._token = CancelToken()
        self._running = True
        self._close_when_done = False
        self._started = time.perf_counter()
        self.form.setEnabled(False)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.open_output_button.hide()
        self.copy_button.hide()
        self.report_box.hide()
        self.progress_bar.setRange(0, self._total)
        self.progress_bar.setValue(0)
        self._show_progress()
        self.progress_box.show()
        token, workers, skip_existing = self._token, self.workers_spin.value(), self.skip_existing_box.isChecked()
        deliver = on_gui_thread(self, self._on_result)
        self.destroyed.connect(token.cancel)  # the dialog is gone (the application is closing): stop

        def work() -> BatchReport:
            return run_batch(
                items, settings, workers=workers, skip_existing=skip_existing, on_result=deliver, cancel=token, engine=engine
            )

        run_in_background(self, work, self._on_finished, self._on_finished, name="batch")
        return True

    def _plan(self) -> tuple[list[BatchItem], BatchSettings, Engine]:
        folder = self.input_edit.text().strip()
        if not folder:
            raise InpaintStudioError("Choose the folder of photos to process.")
        output = self.output_edit.text().strip()
        if not output:
            raise InpaintStudioError("Choose an output folder.")
        source: dict[str, Any] = {}
        if self.mask_source() == CURRENT_MASK:
            source["mask"] = self._current_mask_file()
        elif self.mask_source() == MASK_FOLDER:
            mask_dir = self.mask_dir_edit.text().strip()
            if not mask_dir:
                raise InpaintStudioError("Choose the folder of masks, or another way to find what to remove.")
            source["mask_dir"] = Path(mask_dir).expanduser()
        else:
            source["detect"] = True
        items = plan_batch(
            Path(folder).expanduser(), Path(output).expanduser(), name_pattern=self.name_edit.text(), **source
        )
        settings = BatchSettings(
            self.engine_id,
            self.device,
            self.params,
            quality=self.quality,
            model_store=self.model_store,
            sensitivity=self.sensitivity,
            detector=self.detector_box.currentData(),
        )
        engine = prepare_engine(settings)  # an engine that cannot run is refused before any file is touched
        return items, settings, engine

    def _current_mask_file(self) -> Path:
        """The current mask as a PNG that every worker reads (and scales to its photo)."""
        if self._mask is None:
            raise InpaintStudioError("There is no current mask: paint one on the open photo first.")
        if self._mask_file is None:
            self._mask_dir = Path(tempfile.mkdtemp(prefix="inpaint-studio-batch-"))
            stem = Path(self._mask_name).stem or "current"
            self._mask_file = save_mask(self._mask, self._mask_dir / f"{stem}_mask.png")
        return self._mask_file

    def cancel_batch(self) -> None:
        """Start no more photos; those being processed finish (or, in this process, are dropped)."""
        if self._running and self._token is not None:
            self._token.cancel()
            self.cancel_button.setEnabled(False)
            self._show_progress()

    def _stop_for_quit(self) -> None:
        if self._token is not None:
            self._token.cancel()

    def _on_result(self, result: ItemResult) -> None:
        self._results.append(result)
        self.progress_bar.setValue(len(self._results))
        self._show_progress()

    def _show_progress(self) -> None:
        done = len(self._results)
        failed = sum(r.status == FAILED for r in self._results)
        skipped = sum(r.status == SKIPPED for r in self._results)
        text = f"{done} / {self._total}"
        if failed:
            text += f", {failed} failed"
        if skipped:
            text += f", {skipped} skipped"
        elapsed = time.perf_counter() - self._started
        if done and elapsed > 0:
            text += f"  ({done / elapsed:.2f} photos/s)"
        if self._token is not None and self._token.cancelled and self._running:
            text += " — stopping: the photos being processed finish first…"
        self.progress_label.setText(text)

    def _on_finished(self, outcome: BatchReport | Exception) -> None:
        """The batch ended: its report, or the error that stopped it."""
        self._running = False
        self.form.setEnabled(True)
        self.start_button.setEnabled(True)
        self.cancel_button.hide()
        if isinstance(outcome, BatchReport):
            self.report = outcome
            # Results queued before the end are all in; take the report's list as the truth.
            self._results = list(outcome.results)
        else:
            self.error = outcome if isinstance(outcome, Exception) else RuntimeError(str(outcome))
        self.progress_bar.setValue(len(self._results))
        self._show_progress()
        self._show_report()
        if self._close_when_done:
            super().reject()

    def _show_report(self) -> None:
        results = self._results
        written, skipped, failed = ([r for r in results if r.status == s] for s in (WRITTEN, SKIPPED, FAILED))
        counts = f"{len(written)} written, {len(skipped)} skipped, {len(failed)} failed"
        seconds = self.report.seconds if self.report is not None else time.perf_counter() - self._started
        if self.error is not None:
            if isinstance(self.error, InpaintStudioError):
                reason = str(self.error)
            else:
                reason = f"{type(self.error).__name__}: {self.error}"
            summary = f"The batch stopped: {reason} ({counts})."
        elif self.report is not None and self.report.cancelled:
            summary = f"Cancelled after {len(results)} of {self._total} photos in {seconds:.1f} s: {counts}."
        else:
            rate = f", {len(results) / seconds:.2f} photos/s" if seconds > 0 else ""
            summary = f"Finished {len(results)} photos in {seconds:.1f} s{rate}: {counts}."
        lines = [summary, f"Output folder: {self._output}"]
        if failed or skipped:
            lines.append("")
            lines += [f"failed   {r.item.image.name}: {r.message}" for r in failed]
            lines += [f"skipped  {r.item.image.name}: {r.message}" for r in skipped]
        elif written:
            lines.append("Every photo was written.")
        self.summary_label.setText(summary)
        self.report_text.setPlainText("\n".join(lines))
        self.progress_box.hide()  # the summary says it all now
        self.report_box.show()
        self.copy_button.show()
        if self.height() < self.sizeHint().height():
            self.resize(self.width(), self.sizeHint().height())
        self.open_output_button.setVisible(self._output is not None and self._output.is_dir())

    def open_output_folder(self) -> bool:
        if self._output is None or not self._output.is_dir():
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._output)))

    def _refuse(self, message: str) -> bool:
        QMessageBox.warning(self, "Cannot start the batch", message)
        return False

    # ------------------------------------------------------------ closing

    def reject(self) -> None:  # Qt override: Close, Escape and the window's close button end here
        if self._running:
            if self._close_when_done:
                return  # already stopping; it closes when the photos in progress are done
            answer = QMessageBox.question(
                self,
                "Stop the batch?",
                "A batch is running. Stop it and close? Photos already written are kept; "
                "no photo is left half-written.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer == QMessageBox.StandardButton.Yes:
                self._close_when_done = True
                self.cancel_batch()
            return
        super().reject()

    def done(self, result: int) -> None:  # Qt override: every way of closing ends here
        if self._running:
            return
        if self._mask_dir is not None:
            shutil.rmtree(self._mask_dir, ignore_errors=True)
            self._mask_dir = self._mask_file = None
        self._mask = None  # a 24 MP mask is 24 MB: do not keep it with the window
        self.current_mask_radio.setEnabled(False)
        super().done(result)

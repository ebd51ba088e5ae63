"""The models dialog, and downloading models with a progress dialog.

Downloads run on a thread (`models.ModelStore.download_models`: resumable, checked
against the catalogue) while a modal progress dialog shows bytes and offers
Cancel; a cancelled download keeps its partial file, so the next try resumes.
The models an engine needs (Moebius: its UNet and its VAE) download as one job,
so a failure names every file still to fetch, with where to put it by hand.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEventLoop, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inpaint_studio.core.errors import (
    InpaintStudioError,
    JobCancelled,
    UnknownModelFileError,
    plain_reason,
)
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.models import ModelStore, Verification
from inpaint_studio.ui.background import on_gui_thread, run_in_background

log = logging.getLogger(__name__)


def download_model(parent: QWidget, store: ModelStore, model_id: str) -> bool:
    """Download `model_id` with a progress dialog; True once it is installed."""
    return download_models(parent, store, [model_id])


def download_models(parent: QWidget, store: ModelStore, model_ids: list[str]) -> bool:
    """Download `model_ids` as one job with a progress dialog; True once all are installed.

    Failures are shown to the user (with where to put every file by hand).
    """
    names = " and ".join(store.info(model_id).name for model_id in model_ids)
    size = store.download_size_text(model_ids)
    title = f"Downloading {names}" + (f" ({size})" if size else "")
    dialog = QProgressDialog(f"{title}…", "Cancel", 0, 0, parent)
    dialog.setWindowTitle("Downloading a model")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    cancel = CancelToken()
    outcome: list[str] = []  # "" when installed, else why not ("cancelled" when cancelled)
    loop = QEventLoop()

    def show_progress(done: int, total: int | None) -> None:
        if total:
            dialog.setMaximum(1000)
            dialog.setValue(int(done * 1000 / total))
            dialog.setLabelText(f"{title}… {done / 1e6:.1f} of {total / 1e6:.1f} MB")
        else:
            dialog.setLabelText(f"{title}… {done / 1e6:.1f} MB")

    def finished(message: str) -> None:
        outcome.append(message)
        loop.quit()

    def failed(error: Exception) -> None:
        if isinstance(error, JobCancelled):
            finished("cancelled")
        elif isinstance(error, InpaintStudioError):
            finished(str(error))
        else:  # shown to the user in plain words, never a crash; the details go to the log
            log.error("downloading %s failed", ", ".join(model_ids), exc_info=error)
            finished(f"The download failed: {plain_reason(error)}.")

    progress = on_gui_thread(dialog, show_progress)
    dialog.canceled.connect(cancel.cancel)
    def download() -> None:
        store.download_models(model_ids, progress=progress, cancel=cancel)

    thread = run_in_background(dialog, download, lambda _: finished(""), failed, "model-download")
    dialog.show()
    loop.exec()
    thread.join()
    dialog.close()
    message = outcome[0] if outcome else "cancelled"
    if message == "cancelled":
        return False
    if message:
        QMessageBox.warning(parent, "Download failed", message)
        return False
    return True


class ModelsDialog(QDialog):
    """Every model the app knows: state, size and folder; download, import, verify, remove."""

    COLUMNS = ("Model", "Engine", "Status", "Download", "On disk", "Licence")

    def __init__(self, store: ModelStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(760, 320)
        self.store = store

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for key, text in (
            ("download", "Download"),
            ("import", "Import file…"),
            ("verify", "Verify"),
            ("remove", "Remove"),
            ("folder", "Open folder"),
            ("close", "Close"),
        ):
            button = QPushButton(text)
            button.clicked.connect(lambda checked=False, k=key: self._clicked(k))
            row.addWidget(button)
            self.buttons[key] = button
        row.insertStretch(5)

        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.folder_label)
        layout.addLayout(row)
        self.refresh()

    @property
    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self._id_item(rows[0].row()).data(Qt.ItemDataRole.UserRole) if rows else None

    def select(self, model_id: str) -> None:
        for row in range(self.table.rowCount()):
            if self._id_item(row).data(Qt.ItemDataRole.UserRole) == model_id:
                self.table.selectRow(row)

    def _id_item(self, row: int) -> QTableWidgetItem:
        """The row's first cell, which holds the model's id (refresh fills every cell of every row)."""
        item = self.table.item(row, 0)
        assert item is not None
        return item

    def refresh(self) -> None:
        selected = self.selected_id
        statuses = self.store.statuses()
        self.table.setRowCount(len(statuses))
        for row, status in enumerate(statuses):
            info = status.info
            if status.installed:
                state = "Installed" if status.trusted else "Installed, not verified"
            else:
                state = "Incomplete download" if status.bytes_on_disk else "Not installed"
            size = f"{status.bytes_on_disk / 1e6:.1f} MB" if status.bytes_on_disk else "—"
            to_fetch = "—" if status.installed else self.store.download_size_text([info.id]) or "unknown"
            cells = (info.name, info.engine, state, to_fetch, size, info.licence)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(info.description)
                self.table.setItem(row, column, item)
            self._id_item(row).setData(Qt.ItemDataRole.UserRole, info.id)
        self.folder_label.setText(f"Folder: {self.store.root}")
        if selected:
            self.select(selected)
        elif statuses:
            self.table.selectRow(0)
        self._update_buttons()

    def _update_buttons(self) -> None:
        model_id = self.selected_id
        installed = model_id is not None and self.store.is_installed(model_id)
        present = model_id is not None and self.store.has_files(model_id)
        self.buttons["download"].setEnabled(model_id is not None and not installed)
        self.buttons["import"].setEnabled(model_id is not None)
        self.buttons["verify"].setEnabled(installed)
        self.buttons["remove"].setEnabled(present)

    def _clicked(self, key: str) -> None:
        model_id = self.selected_id
        if key == "close":
            self.accept()
        elif key == "folder":
            self.store.root.mkdir(parents=True, exist_ok=True)
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.store.root)))
        elif model_id is None:
            return
        elif key == "download":
            download_model(self, self.store, model_id)
        elif key == "import":
            self.import_file(model_id)
        elif key == "verify":
            self.verify(model_id)
        elif key == "remove":
            self.remove(model_id)
        self.refresh()

    def verify(self, model_id: str) -> None:
        """Check the model's files and that it loads, and say what is true of each file.

        This reads hundreds of megabytes and loads torch: on a thread, behind a busy dialog.
        """
        name = self.store.info(model_id).name
        busy = QProgressDialog(f"Checking {name}…", "", 0, 0, self)
        busy.setCancelButton(None)
        busy.setWindowTitle("Verify")
        busy.setWindowModality(Qt.WindowModality.WindowModal)
        busy.setMinimumDuration(0)
        outcome: list[Verification | Exception] = []
        loop = QEventLoop()

        def finished(result: Verification | Exception) -> None:
            outcome.append(result)
            loop.quit()

        thread = run_in_background(busy, lambda: self.store.verify(model_id), finished, finished, "model-verify")
        busy.show()
        loop.exec()
        thread.join()
        busy.close()
        verification = outcome[0]
        if isinstance(verification, Exception):
            log.error("verifying %s failed", model_id, exc_info=verification)
            reason = str(verification) if isinstance(verification, InpaintStudioError) else f"{plain_reason(verification)}."
            QMessageBox.warning(self, "Verify", f"Could not check {name}: {reason}")
            return
        if verification.ok:
            lines = [f"{name} is fine:", *verification.notes, *([verification.loads] if verification.loads else [])]
            QMessageBox.information(self, "Verify", "\n".join(lines))
        else:
            QMessageBox.warning(self, "Verify", "\n".join([f"{name} has problems:", *verification.problems]))

    def import_file(self, model_id: str, path: str | None = None) -> bool:
        """Copy a model file the user has into place; a file unknown to the catalogue needs a yes."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, f"Import {self.store.info(model_id).name}")
            if not path:
                return False
        name = self.store.info(model_id).name
        try:
            self.store.import_file(model_id, path)
            return True
        except UnknownModelFileError as error:
            problem = error.problem
        except InpaintStudioError as error:
            QMessageBox.warning(self, "Import failed", str(error))
            return False
        answer = QMessageBox.question(
            self,
            "Unknown model file",
            f"'{path}' is not the published {name} file: {problem}.\n\nA model file can run code "
            "when it is loaded. Install it anyway? Only do this for a file from a source you trust.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            self.store.import_file(model_id, path, allow_unknown=True)
        except InpaintStudioError as error:
            QMessageBox.warning(self, "Import failed", str(error))
            return False
        return True

    def remove(self, model_id: str) -> None:
        name = self.store.info(model_id).name
        answer = QMessageBox.question(self, "Remove model", f"Delete the {name} model files from {self.store.folder(model_id)}?")
        if answer == QMessageBox.StandardButton.Yes:
            try:
                self.store.remove(model_id)
            except InpaintStudioError as error:
                QMessageBox.warning(self, "Remove failed", str(error))

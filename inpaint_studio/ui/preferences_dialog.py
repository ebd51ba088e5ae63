"""Preferences: theme, undo memory, autosave interval, where model weights live and a download mirror."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)

from inpaint_studio.models.store import mirror_problem
from inpaint_studio.session.settings import MIN_HISTORY_BUDGET_MB, Settings
from inpaint_studio.ui.theme import THEMES


class PreferencesDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings = settings

        self.theme = QComboBox()
        for key, label in THEMES.items():
            self.theme.addItem(label, key)
        self.theme.setCurrentIndex(max(self.theme.findData(settings.theme), 0))
        self.theme.setToolTip("Dark suits judging photos; Follow the system switches with the desktop.")

        self.history_mb = QSpinBox()
        self.history_mb.setRange(MIN_HISTORY_BUDGET_MB, 64 * 1024)
        self.history_mb.setSingleStep(256)
        self.history_mb.setSuffix(" MB")
        self.history_mb.setValue(settings.history_budget_mb)
        self.history_mb.setToolTip("Memory the undo history may use; the oldest steps are dropped beyond it.")

        self.autosave_minutes = QSpinBox()
        self.autosave_minutes.setRange(0, 120)
        self.autosave_minutes.setSuffix(" min")
        self.autosave_minutes.setSpecialValueText("Never")
        self.autosave_minutes.setValue(settings.autosave_minutes)
        self.autosave_minutes.setToolTip("How often unsaved work is copied to a recovery file.")

        self.models_dir = QLineEdit(settings.models_dir)
        self.models_dir.setMinimumWidth(280)
        self.models_dir.setPlaceholderText("Default folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        models_row = QHBoxLayout()
        models_row.addWidget(self.models_dir)
        models_row.addWidget(browse)

        self.mirror = QLineEdit(settings.model_mirror)
        self.mirror.setPlaceholderText("https://mirror.example.com (optional)")
        self.mirror.setToolTip("A server that holds copies of the model files under the same paths.")

        form = QFormLayout(self)
        form.addRow("Theme", self.theme)
        form.addRow("Undo history memory", self.history_mb)
        form.addRow("Autosave every", self.autosave_minutes)
        form.addRow("Model folder", models_row)
        form.addRow("Model download mirror", self.mirror)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for model weights", self.models_dir.text())
        if folder:
            self.models_dir.setText(folder)

    def accept(self) -> None:
        """OK: only with values that work; a mirror that is not an address is said, and the dialog stays."""
        problem = mirror_problem(self.mirror.text().strip())
        if problem:
            QMessageBox.warning(self, "Preferences", problem)
            self.mirror.setFocus()
            self.mirror.selectAll()
            return
        super().accept()

    def apply(self) -> None:
        """Copy the dialog's values into the settings."""
        self.settings.theme = str(self.theme.currentData())
        self.settings.history_budget_mb = self.history_mb.value()
        self.settings.autosave_minutes = self.autosave_minutes.value()
        self.settings.models_dir = self.models_dir.text().strip()
        self.settings.model_mirror = self.mirror.text().strip()

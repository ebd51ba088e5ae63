"""The Run toolbar: engine and device, the Remove button, Auto (run on every stroke) and Show original."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QLabel, QPushButton, QToolBar, QWidget

from inpaint_studio.ui.engine_controls import EngineControls


class RunToolBar(QToolBar):
    def __init__(
        self,
        engines: EngineControls,
        run: Callable[[], None],
        auto_run_action: QAction,
        original_action: QAction,
        parent: QWidget,
    ) -> None:
        super().__init__("Run", parent)
        self.setObjectName("run")
        self.addWidget(QLabel(" Engine "))
        self.addWidget(engines.engine_combo)
        self.addWidget(QLabel(" Device "))
        self.addWidget(engines.device_combo)
        self.run_button = QPushButton("Remove")
        self.run_button.setToolTip("Fill the masked area (Enter)")
        self.run_button.clicked.connect(run)
        self.addWidget(self.run_button)
        # The same setting as Run > Run automatically: each follows the other.
        self.auto_run_box = QCheckBox("Auto")
        self.auto_run_box.setToolTip("Run on every stroke release")
        self.auto_run_box.setChecked(auto_run_action.isChecked())
        self.auto_run_box.toggled.connect(auto_run_action.setChecked)
        auto_run_action.toggled.connect(self.auto_run_box.setChecked)
        self.addWidget(self.auto_run_box)
        self.addAction(original_action)

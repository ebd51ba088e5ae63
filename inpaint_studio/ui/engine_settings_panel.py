"""A dock panel with the selected engine's parameters, built from the engine's own `Param` list.

Every engine declares its parameters (name, label, default, range, choices,
help); this panel turns each into the matching widget, so a new engine needs
no UI code. Values are kept per engine and reported as a plain dict of the
parameters that differ from the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inpaint_studio.core.errors import EngineError
from inpaint_studio.engines.base import Engine, Param

# QSpinBox holds a C int.
_INT_LIMIT = 2**31 - 1

# The widget each kind of parameter gets: choices, bool, int, float, anything else (text).
_Editor = QComboBox | QCheckBox | QSpinBox | QDoubleSpinBox | QLineEdit


class EngineSettingsPanel(QDockWidget):
    """Shows one engine's parameters; emits `params_changed` with the values that differ from the defaults."""

    params_changed = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Engine settings", parent)
        self.setObjectName("engine-settings")
        self.engine: type[Engine] | None = None
        self._editors: dict[str, _Editor] = {}
        body = QWidget()
        outer = QVBoxLayout(body)
        self.description = QLabel()
        self.description.setWordWrap(True)
        outer.addWidget(self.description)
        self.form = QFormLayout()
        outer.addLayout(self.form)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.clicked.connect(self.reset)
        outer.addWidget(self.reset_button)
        outer.addStretch(1)
        self.setWidget(body)

    def set_engine(self, engine: type[Engine], values: Mapping[str, Any] | None = None) -> None:
        """Show `engine`'s parameters with `values` (invalid or unknown ones fall back to the defaults)."""
        self.engine = engine
        while self.form.rowCount():
            self.form.removeRow(0)
        self._editors = {}
        self.description.setText(engine.info.description)
        valid = engine.accepted_params(values or {})
        for param in engine.info.params:
            editor = self._editor_for(param)
            self._editors[param.name] = editor
            self._show(param, valid[param.name])
            label = QLabel(param.label)
            label.setToolTip(param.help)
            self.form.addRow(label, editor)
        self.reset_button.setVisible(bool(engine.info.params))
        if not engine.info.params:
            self.form.addRow(QLabel("This engine has no settings."))

    def values(self) -> dict[str, Any]:
        """The parameters the user changed from their defaults."""
        if self.engine is None:
            return {}
        changed = {}
        for param in self.engine.info.params:
            value = self._read(param)
            if value != param.default:
                changed[param.name] = value
        return changed

    def reset(self) -> None:
        if self.engine is None:
            return
        for param in self.engine.info.params:
            self._show(param, param.default)
        self.params_changed.emit(self.values())

    # ------------------------------------------------------------ widgets

    def _editor_for(self, param: Param) -> _Editor:
        kind = type(param.default)
        editor: _Editor
        if param.choices:
            editor = QComboBox()
            editor.addItems(list(param.choices))
            editor.currentIndexChanged.connect(self._changed)
        elif kind is bool:
            editor = QCheckBox()
            editor.toggled.connect(self._changed)
        elif kind is int:
            editor = QSpinBox()
            editor.setRange(_bound(param.minimum, -_INT_LIMIT), _bound(param.maximum, _INT_LIMIT))
            editor.setSpecialValueText(param.minimum_label)
            editor.valueChanged.connect(self._changed)
        elif kind is float:
            editor = QDoubleSpinBox()
            editor.setDecimals(2)
            editor.setSingleStep(0.1)
            editor.setRange(
                param.minimum if param.minimum is not None else -1e9, param.maximum if param.maximum is not None else 1e9
            )
            editor.setSpecialValueText(param.minimum_label)
            editor.valueChanged.connect(self._changed)
        else:
            editor = QLineEdit()
            editor.editingFinished.connect(self._changed)
        editor.setToolTip(param.help)
        editor.setObjectName(f"param-{param.name}")
        return editor

    def _show(self, param: Param, value: Any) -> None:
        editor = self._editors[param.name]
        editor.blockSignals(True)
        if isinstance(editor, QComboBox):
            editor.setCurrentText(str(value))
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.setValue(value)
        else:
            editor.setText(str(value))
        editor.blockSignals(False)

    def _read(self, param: Param) -> Any:
        editor = self._editors[param.name]
        if isinstance(editor, QComboBox):
            return editor.currentText()
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            return editor.value()
        try:
            return param.coerce(editor.text())
        except EngineError:
            return param.default

    def _changed(self, *_args) -> None:
        self.params_changed.emit(self.values())


def _bound(value: float | None, fallback: int) -> int:
    return int(min(max(value, -_INT_LIMIT), _INT_LIMIT)) if value is not None else fallback


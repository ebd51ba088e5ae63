"""Choosing the engine and device, their settings panel, and making sure an engine's (or a tool's) models are there.

The engine and device lists live in the Run toolbar, the parameters in the
Engine settings dock. Switching to an engine whose model is not installed
offers the download first; if the user declines, the engine in use stays.
Choices are remembered in the settings (engine, device, parameters per engine).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox, QMessageBox, QWidget

from inpaint_studio.core.devices import Device
from inpaint_studio.engines.registry import DEFAULT_ENGINE, engine_class, engine_ids
from inpaint_studio.models import ModelStore
from inpaint_studio.session.settings import Settings
from inpaint_studio.ui.engine_settings_panel import EngineSettingsPanel
from inpaint_studio.ui.models_dialog import ModelsDialog, download_models


class EngineControls(QObject):
    changed = Signal()  # another engine or device is in use
    message = Signal(str, int)  # text for the status bar, and for how many milliseconds

    def __init__(self, settings: Settings, parent: QWidget) -> None:
        super().__init__(parent)
        self.window = parent
        self.settings = settings
        self.model_store = self.make_model_store()
        self.params: dict[str, Any] = {}  # parameters for the selected engine; defaults when absent
        self.panel = EngineSettingsPanel(parent)
        self.panel.params_changed.connect(self._params_changed)
        self.engine_combo = QComboBox()
        self.engine_combo.setToolTip("The engine that fills the mask")
        for engine_id in engine_ids():
            self.engine_combo.addItem(engine_class(engine_id).info.name, engine_id)
        self.label_engines()
        start = settings.engine if settings.engine in engine_ids() else DEFAULT_ENGINE
        start = start if self.models_missing(start, self._stored_params(start)) == [] else DEFAULT_ENGINE
        self.engine_combo.setCurrentIndex(max(self.engine_combo.findData(start), 0))
        self._active_engine = self.engine_id  # the engine in use; kept if a switch is refused
        self._show_engine_settings()
        self.engine_combo.currentIndexChanged.connect(self._engine_chosen)
        self.device_combo = QComboBox()
        self.device_combo.setToolTip("Where the engine runs")
        self.device_combo.currentIndexChanged.connect(self._device_chosen)
        self._fill_devices()

    @property
    def engine_id(self) -> str:
        return str(self.engine_combo.currentData())

    @property
    def device(self) -> Device:
        return Device(self.device_combo.currentData() or Device.CPU)

    @property
    def summary(self) -> str:
        """'Engine · Device' for the status bar."""
        return f"{self.engine_combo.currentText()} · {self.device_combo.currentText()}"

    def set_engine(self, engine_id: str) -> None:
        index = self.engine_combo.findData(engine_id)
        if index < 0:
            raise ValueError(f"no engine {engine_id!r} in the list")
        self.engine_combo.setCurrentIndex(index)

    def make_model_store(self) -> ModelStore:
        return ModelStore(self.settings.models_dir or None, mirror=self.settings.model_mirror or None)

    def models_moved(self) -> None:
        """The model folder or mirror changed in Preferences."""
        self.model_store = self.make_model_store()
        self.label_engines()

    # ------------------------------------------------------------ models

    def models_missing(self, engine_id: str, params: dict[str, Any] | None = None) -> list[str]:
        required = engine_class(engine_id).required_models(params)
        return [m for m in required if not self.model_store.is_installed(m)]

    def label_engines(self) -> None:
        """Engine names in the list, marked where their model still has to be downloaded."""
        for index in range(self.engine_combo.count()):
            engine_id = self.engine_combo.itemData(index)
            name = engine_class(engine_id).info.name
            self.engine_combo.setItemText(index, f"{name} (download needed)" if self.models_missing(engine_id) else name)

    def ensure_models(self, engine_id: str | None = None, params: dict[str, Any] | None = None) -> bool:
        """True when the models a run needs are installed, after offering to download them if not."""
        engine_id = engine_id or self.engine_id
        params = self.params if params is None else params
        missing = self.models_missing(engine_id, params)
        if not missing:
            return True
        info = engine_class(engine_id).info
        if self.offer_download(missing, info.name):
            return True
        still = "" if engine_id == self._active_engine else f" still using {engine_class(self._active_engine).info.name}."
        self.message.emit(f"{info.name} cannot run without its model;{still} Run > Models… downloads or imports it.", 10000)
        return False

    def ensure_model(self, model_id: str, needed_by: str) -> bool:
        """True when `model_id` (an engine's or a tool's, such as click-to-select's) is installed, after
        offering to download it if not; `needed_by` names what needs it in the question."""
        return self.model_store.is_installed(model_id) or self.offer_download([model_id], needed_by)

    def offer_download(self, model_ids: list[str], needed_by: str) -> bool:
        """Ask whether to download the missing `model_ids` that `needed_by` needs; True once they are installed."""
        names = ", ".join(self.model_store.info(m).name for m in model_ids)
        size = self.model_store.download_size_text(model_ids)
        answer = QMessageBox.question(
            self.window,
            "Model needed",
            f"{needed_by} needs its model ({names}{', ' + size if size else ''}), which is not installed yet. "
            "Download it now?\n\n"
            f"It is saved in {self.model_store.root}. A file you already have can be imported in Run > Models.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        # One job for all of them: a failure names every file, with its URL and where it goes.
        if answer == QMessageBox.StandardButton.Yes and download_models(self.window, self.model_store, model_ids):
            self.label_engines()
            return True
        return False

    def show_models(self) -> None:
        ModelsDialog(self.model_store, self.window).exec()
        self.label_engines()

    # ------------------------------------------------------------ choices

    def _stored_params(self, engine_id: str) -> dict[str, Any]:
        """The parameters last chosen for `engine_id` that it still accepts."""
        return engine_class(engine_id).accepted_params(self.settings.engine_params.get(engine_id) or {})

    def _show_engine_settings(self) -> None:
        self.panel.set_engine(engine_class(self.engine_id), self._stored_params(self.engine_id))
        self.params = self.panel.values()

    def _params_changed(self, values: dict[str, Any]) -> None:
        self.params = dict(values)
        self.settings.engine_params = {**self.settings.engine_params, self.engine_id: dict(values)}

    def _engine_chosen(self) -> None:
        wanted = self.engine_id
        if wanted == self._active_engine:
            return
        if not self.ensure_models(wanted, self._stored_params(wanted)):
            self.engine_combo.blockSignals(True)
            self.engine_combo.setCurrentIndex(self.engine_combo.findData(self._active_engine))
            self.engine_combo.blockSignals(False)
            return
        self._active_engine = wanted
        self.settings.engine = wanted
        self._show_engine_settings()
        self._fill_devices()
        self.changed.emit()

    def _fill_devices(self) -> None:
        devices: list[str] = list(engine_class(self.engine_id).info.devices)
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        if len(devices) > 1:
            from inpaint_studio.engines.devices import (
                gpu_devices,  # imports torch: only for GPU-capable engines
            )

            available = [Device.CPU, *gpu_devices()]
            devices = [d for d in devices if d in available]
        for device in devices:
            self.device_combo.addItem(Device(device).label, str(device))
        preferred = self.device_combo.findData(self.settings.device)
        if preferred < 0:  # "auto" (or a device this engine lacks): CUDA, then MPS, then CPU
            preferred = next((i for d in (Device.CUDA, Device.MPS) if (i := self.device_combo.findData(str(d))) >= 0), 0)
        self.device_combo.setCurrentIndex(preferred)
        self.device_combo.blockSignals(False)

    def _device_chosen(self) -> None:
        self.settings.device = str(self.device)
        self.changed.emit()

"""Detect damage…: find scratches, hairs and dust, preview the mask, add it to the document's mask.

The evidence map (`restore.damage_map`, seconds on a large scan) is computed
once per detector on a background thread (a progress bar shows how far it
is; the dialog never freezes, and closing it stops the work); the sensitivity slider only re-thresholds it, so the
preview follows the slider. The preview is a canvas like the window's: wheel
to zoom, Ctrl+1 for 100 %, drag with the middle button to pan, so single
specks can be checked. "Grow by" widens what is found (it starts at what the
detector needs, as `inpaint-studio restore` grows it), which takes the light
halo around a removed speck with it. Accepting adds the mask
to the current one as one undoable step; the user then corrects it with the
normal tools and presses Remove.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inpaint_studio.core.document import Document
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.restore import DamageMap, damage_map
from inpaint_studio.restore.detect import DETECTORS, fill_mask
from inpaint_studio.ui.background import on_gui_thread, run_in_background
from inpaint_studio.ui.canvas import CanvasView
from inpaint_studio.ui.damage_controls import detector_combo, sensitivity_slider

PREVIEW_SIZE = (720, 540)  # the preview's size in pixels (width, height)
MAX_GROW = 10  # px
_SETTLE_MS = 40  # slider moves within this time are thresholded once (a 24 MP mask takes ~0.3 s)


class RestoreDialog(QDialog):
    """Modal dialog over one photo; `mask()` is what OK adds to the document's mask."""


    def __init__(self, image: np.ndarray, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Detect damage")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.error: Exception | None = None
        self._maps: dict[str, DamageMap] = {}  # by detector name, once computed
        self._computing: set[str] = set()
        self._cancel = CancelToken()  # set when the dialog closes: detection stops between tiles
        self._cursor_overridden = False
        self._finished = False
        self._image = image.copy()  # the document may change while a thread reads it
        self._mask: np.ndarray | None = None

        self.slider = sensitivity_slider()
        self.slider.setEnabled(False)
        self.sensitivity_label = QLabel()
        self.detector_box = detector_combo()
        self.preview = CanvasView(self)
        self.preview.setMinimumSize(*PREVIEW_SIZE)
        self.preview.set_image(self._image)
        self.preview.set_overlay_opacity(0.85)
        QShortcut(QKeySequence("Ctrl+1"), self, self.preview.actual_size)
        QShortcut(QKeySequence("Ctrl+0"), self, self.preview.fit_to_window)
        self.preview.setToolTip("Wheel: zoom; Ctrl+1: 100 %; Ctrl+0: fit; middle button: pan")
        self.grow_spin = QSpinBox()
        self.grow_spin.setRange(0, MAX_GROW)
        self.grow_spin.setSuffix(" px")
        self.grow_spin.setValue(DETECTORS[self.detector].fill_grow)
        self.grow_spin.setToolTip("Widen what is found: 1-2 px take the light halo around a speck with it")
        self.grow_spin.valueChanged.connect(self._update_mask)
        self.busy = QProgressBar()  # how far the map is
        self.busy.setMaximumWidth(160)
        self.status = QLabel("Finding scratches and dust…")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add to mask")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        row = QHBoxLayout()
        row.addWidget(QLabel("Detector"))
        row.addWidget(self.detector_box)
        row.addSpacing(12)
        row.addWidget(QLabel("Sensitivity"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.sensitivity_label)
        row.addSpacing(12)
        row.addWidget(QLabel("Grow by"))
        row.addWidget(self.grow_spin)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.busy)
        layout = QVBoxLayout(self)
        layout.addWidget(self.preview, 1)
        layout.addLayout(row)
        layout.addLayout(status_row)
        layout.addWidget(self.buttons)

        self._settle = QTimer(self, singleShot=True, interval=_SETTLE_MS)
        self._settle.timeout.connect(self._update_mask)
        self.slider.valueChanged.connect(self._slider_moved)
        self.detector_box.currentIndexChanged.connect(self._detector_chosen)
        self._show(None)
        self._slider_moved()
        self._detector_chosen()

    @property
    def detector(self) -> str:
        return self.detector_box.currentData()

    @property
    def damage(self) -> DamageMap | None:
        """The chosen detector's map, once computed."""
        return self._maps.get(self.detector)

    @property
    def sensitivity(self) -> float:
        return self.slider.value() / 100

    @property
    def ready(self) -> bool:
        return self.damage is not None

    def mask(self) -> np.ndarray | None:  # type: ignore[override]  # shadows QWidget.mask (a QRegion) on purpose
        """The mask to add at the current sensitivity (uint8, 255 = damage, grown for filling)."""
        if self.damage is None:
            return None
        if self._mask is None or self._settle.isActive():
            self._update_mask()
        return self._mask

    def apply_to(self, document: Document) -> bool:
        """Add the detected mask to `document.mask` as one undoable step; False if nothing was added."""
        mask = self.mask()
        if mask is None or not mask.any():
            return False
        combined = np.maximum(document.mask, mask)  # keeps what the user had already masked
        if np.array_equal(combined, document.mask):
            return False
        document.replace_mask(combined, "Detect damage")
        return True

    def done(self, result: int) -> None:  # Qt override: OK, Cancel, Escape and closing all end here
        self._restore_cursor()
        self._cancel.cancel()  # a map still being computed is not wanted any more
        super().done(result)  # emits accepted, which applies the mask
        self._finished = True
        # A 24 MP map is ~100 MB: do not keep it with the window.
        self._mask = None
        self._maps.clear()

    # ------------------------------------------------------------ internals

    def _detector_chosen(self) -> None:
        """Show the chosen detector's map, computing it on a thread the first time."""
        name = self.detector
        self._mask = None
        with QSignalBlocker(self.grow_spin):  # each detector starts at the growth it needs
            self.grow_spin.setValue(DETECTORS[name].fill_grow)
        if self.damage is not None:
            self._enable(True)
            self._update_mask()
            return
        self._enable(False)
        self._show(None)
        self.status.setText("Finding scratches and dust…")
        if name in self._computing:
            return
        self._computing.add(name)
        self.busy.setVisible(True)
        if not self._cursor_overridden:  # busy cursor while a map is computed; the window stays responsive
            QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
            self._cursor_overridden = True
        image, cancel = self._image, self._cancel
        self.busy.setRange(0, 0)  # moving until the first report says how far it is
        progressed = on_gui_thread(self, lambda fraction: self._progressed(name, fraction))
        run_in_background(
            self,
            lambda: damage_map(image, name, progressed, cancel),
            lambda damage: self._map_ready(name, damage),
            lambda error: self._map_ready(name, error),  # shown in the dialog; the document is untouched
            name=f"damage-map-{name}",
        )

    def _progressed(self, name: str, fraction: float) -> None:
        if name == self.detector and name in self._computing:
            self.busy.setRange(0, 100)
            self.busy.setValue(round(fraction * 100))

    def _map_ready(self, name: str, result: DamageMap | Exception) -> None:
        self._computing.discard(name)
        self.busy.setVisible(bool(self._computing))
        if not self._computing:
            self._restore_cursor()
        if self._finished:  # closed meanwhile: keep nothing
            return
        if isinstance(result, Exception):
            if name == self.detector:
                self.error = result
                self.status.setText(f"Damage detection failed: {result}")
            return
        self._maps[name] = result
        if name == self.detector:
            self._detector_chosen()

    def _enable(self, ready: bool) -> None:
        self.slider.setEnabled(ready)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ready)

    def _slider_moved(self) -> None:
        self.sensitivity_label.setText(f"{self.sensitivity:.2f}")
        if self.damage is not None:
            self._settle.start()

    def _update_mask(self) -> None:
        self._settle.stop()
        if self.damage is None:
            return
        self._mask = fill_mask(self.damage.mask(self.sensitivity), self.grow_spin.value())
        share = np.count_nonzero(self._mask) / self._mask.size
        self.status.setText(f"{share:.2%} of the photo marked as damage. Check it, then add it to the mask.")
        self._show(self._mask)

    def _show(self, mask: np.ndarray | None) -> None:
        self.preview.set_mask(mask)  # the canvas keeps a reference: the mask is replaced, never changed
        self.busy.setVisible(bool(self._computing))

    def _restore_cursor(self) -> None:
        if self._cursor_overridden:
            self._cursor_overridden = False
            QApplication.restoreOverrideCursor()

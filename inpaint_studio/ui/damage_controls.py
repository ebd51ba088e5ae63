"""The detector choice and sensitivity slider shared by Detect damage… and the batch dialog."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QSlider

from inpaint_studio.restore.detect import (
    DEFAULT_DETECTOR,
    DEFAULT_SENSITIVITY,
    DETECTORS,
)


def detector_combo() -> QComboBox:
    """Every damage detector by label, the default chosen; `currentData()` is the detector's name."""
    box = QComboBox()
    for detector in DETECTORS.values():
        box.addItem(detector.label, detector.name)
    box.setCurrentIndex(box.findData(DEFAULT_DETECTOR))
    box.setToolTip(
        "Learned: a small network trained on synthetic scratches and dust; marks their exact pixels.\n"
        f"Classical filters: no weights; the fill is grown {DETECTORS['classical'].fill_grow} px around what they find."
    )
    return box


def sensitivity_slider() -> QSlider:
    """0-100 for sensitivity 0-1, at the default."""
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, 100)
    slider.setValue(round(DEFAULT_SENSITIVITY * 100))
    slider.setToolTip("Higher finds fainter damage, and more photo detail that is not damage.")
    return slider

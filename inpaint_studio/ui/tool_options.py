"""The Tool options toolbar: brush size and hardness, remembered in the settings.

The brush size is remembered as a share of the photo's longer side, so a
brush chosen on a 5000-pixel photo covers as much of a 640-pixel one, not a third of it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSlider, QSpinBox, QToolBar, QWidget

from inpaint_studio.session.settings import Settings
from inpaint_studio.ui.mask_tools import MaskToolController


class ToolOptionsBar(QToolBar):
    def __init__(self, tools: MaskToolController, settings: Settings, parent: QWidget) -> None:
        super().__init__("Tool options", parent)
        self.setObjectName("tool-options")
        self.tools, self.settings = tools, settings
        tools.hardness = settings.brush_hardness
        self._long_side: int | None = None  # of the photo shown

        self.addWidget(QLabel(" Size "))
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, 2000)
        self.size_spin.setSuffix(" px")
        self.size_spin.setKeyboardTracking(False)  # typed sizes count on Enter, not digit by digit
        self.size_spin.setValue(tools.brush_size)
        self.size_spin.valueChanged.connect(self._size_changed)
        self.addWidget(self.size_spin)
        self.addWidget(QLabel(" Hardness "))
        self.hardness_slider = self._slider(0, 100, round(tools.hardness * 100))
        self.hardness_slider.setToolTip("Hardness of the brush's edge (Shift+[ and Shift+]): a soft edge blends the fill in")
        self.hardness_slider.valueChanged.connect(self._hardness_changed)

    def _slider(self, low: int, high: int, value: int) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(low, high)
        slider.setFixedWidth(90)
        slider.setValue(value)
        self.addWidget(slider)
        return slider

    def follow_photo(self, width: int, height: int) -> None:
        """A photo is shown: the brush takes the remembered share of its size."""
        self._long_side = max(width, height)
        self.tools.set_brush_size(self.settings.brush_share * self._long_side)
        self.size_spin.blockSignals(True)  # the share stays as remembered, unrounded
        self.size_spin.setValue(self.tools.brush_size)
        self.size_spin.blockSignals(False)

    def resize_brush(self, factor: float) -> None:
        """`[` and `]`: the brush by a factor."""
        self.tools.grow_brush(factor)
        self.size_spin.setValue(self.tools.brush_size)

    def _size_changed(self, value: int) -> None:
        self.tools.set_brush_size(value)
        if self._long_side:
            self.settings.brush_share = self.tools.brush_size / self._long_side

    def _hardness_changed(self, value: int) -> None:
        self.tools.hardness = value / 100
        self.settings.brush_hardness = value / 100

    def change_hardness(self, step: float) -> None:
        """Shift+[ and Shift+]: the brush's hardness by `step` (0..1)."""
        self.hardness_slider.setValue(round(min(max(self.tools.hardness + step, 0.0), 1.0) * 100))

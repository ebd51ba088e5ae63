"""The Tool options toolbar: the chosen tool's options (brush size and hardness; the wand's tolerance),
remembered in the settings.

The brush size is remembered as a share of the photo's longer side, so a
brush chosen on a 5000-pixel photo covers as much of a 640-pixel one, not a third of it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel, QSlider, QSpinBox, QToolBar, QWidget

from inpaint_studio.session.settings import Settings
from inpaint_studio.ui.mask_tools import BRUSH_TOOLS, MaskToolController, Tool
from inpaint_studio.ui.retouch_tools import RetouchTools
from inpaint_studio.ui.selection_tools import SelectionTools


class ToolOptionsBar(QToolBar):
    def __init__(
        self, tools: MaskToolController, selection: SelectionTools, retouch: RetouchTools, settings: Settings, parent: QWidget
    ) -> None:
        super().__init__("Tool options", parent)
        self.setObjectName("tool-options")
        self.tools, self.selection, self.settings = tools, selection, settings
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
        self.brush_options = self.actions()  # what is shown for the brushes
        self.tolerance_spin = QSpinBox()
        self.tolerance_spin.setRange(0, 255)
        self.tolerance_spin.setValue(settings.wand_tolerance)
        self.tolerance_spin.setToolTip("How different a colour may be from the clicked one and still be selected (levels)")
        self.tolerance_spin.valueChanged.connect(self._tolerance_changed)
        self.contiguous_box = QCheckBox("Contiguous")
        self.contiguous_box.setToolTip("Only the area touching the clicked pixel; off: that colour anywhere in the photo")
        self.contiguous_box.setChecked(settings.wand_contiguous)
        self.contiguous_box.toggled.connect(self._contiguous_changed)
        selection.tolerance, selection.contiguous = settings.wand_tolerance, settings.wand_contiguous
        self.wand_options = [self.addWidget(QLabel(" Tolerance ")), self.addWidget(self.tolerance_spin),
                             self.addWidget(self.contiguous_box)]
        self.aligned_box = QCheckBox("Aligned")
        self.aligned_box.setToolTip("Keep the distance to the source between strokes; off: each stroke starts at the source")
        self.aligned_box.setChecked(settings.clone_aligned)
        self.aligned_box.toggled.connect(self._aligned_changed)
        self.retouch_options = [self.addWidget(self.aligned_box)]
        self.retouch = retouch
        retouch.aligned = settings.clone_aligned
        self.show_for(tools.tool)

    def show_for(self, tool: Tool) -> None:
        """Only the options of `tool` (none for the selection tools without options)."""
        for action in self.brush_options:
            action.setVisible(tool in BRUSH_TOOLS)
        for action in self.wand_options:
            action.setVisible(tool == Tool.MAGIC_WAND)
        for action in self.retouch_options:
            action.setVisible(tool in (Tool.CLONE, Tool.HEAL))

    def _aligned_changed(self, on: bool) -> None:
        self.retouch.aligned = self.settings.clone_aligned = on

    def _tolerance_changed(self, value: int) -> None:
        self.selection.tolerance = self.settings.wand_tolerance = value

    def _contiguous_changed(self, on: bool) -> None:
        self.selection.contiguous = self.settings.wand_contiguous = on

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

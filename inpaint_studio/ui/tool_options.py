"""The Tool options toolbar: the chosen tool's options (brush size and hardness; the wand's tolerance;
object selection's method, and Add for Segment Anything's candidate), remembered in the settings.

The brush size is remembered as a share of the photo's longer side, so a
brush chosen on a 5000-pixel photo covers as much of a 640-pixel one, not a third of it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QSlider, QSpinBox, QToolBar, QWidget

from inpaint_studio.session.settings import Settings
from inpaint_studio.ui.actions import make_action
from inpaint_studio.ui.mask_tools import BRUSH_TOOLS, MaskToolController, Tool
from inpaint_studio.ui.retouch_tools import RetouchTools
from inpaint_studio.ui.sam_select import METHOD_NAMES, SAM
from inpaint_studio.ui.selection_tools import SelectionTools


class ToolOptionsBar(QToolBar):
    def __init__(
        self, tools: MaskToolController, selection: SelectionTools, retouch: RetouchTools, settings: Settings, parent: QWidget
    ) -> None:
        super().__init__("Tool options", parent)
        self.setObjectName("tool-options")
        self.tools, self.selection, self.settings = tools, selection, settings
        make_action(parent, "Smaller brush", lambda: self.resize_brush(1 / 1.25), "[")
        make_action(parent, "Larger brush", lambda: self.resize_brush(1.25), "]")
        make_action(parent, "Softer brush", lambda: self.change_hardness(-0.1), "Shift+[")
        make_action(parent, "Harder brush", lambda: self.change_hardness(0.1), "Shift+]")
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
        self._build_object_options()
        self.show_for(tools.tool)

    def _build_object_options(self) -> None:
        """Object selection's method; with Segment Anything, Add and Drop for its candidate."""
        self.method_combo = QComboBox()
        self.method_combo.setToolTip(
            "How object selection finds the object: GrabCut from a box, or Segment Anything (MobileSAM) from clicks "
            "and a box, shown as a candidate that Enter adds"
        )
        for method, name in METHOD_NAMES.items():
            self.method_combo.addItem(name, method)
        # As wide as the names, not as "(download needed)": the list shows that in full, and it is never the one in use.
        self.method_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.method_combo.setMinimumContentsLength(max(len(name) for name in METHOD_NAMES.values()))
        self.selection.restore_method(self.settings.object_select_method)
        self.method_combo.setCurrentIndex(self.method_combo.findData(self.selection.method))
        self.method_combo.currentIndexChanged.connect(lambda: self.selection.set_method(str(self.method_combo.currentData())))
        self.selection.method_changed.connect(self._method_changed)
        self.add_action = QAction("Add", self)
        self.add_action.setToolTip("Add the candidate (cyan) to the mask (Enter); in Subtract mode, take it away")
        self.add_action.triggered.connect(self.selection.add_candidate)
        self.drop_action = QAction("Drop", self)
        self.drop_action.setToolTip("Drop the candidate and its clicks (Esc)")
        self.drop_action.triggered.connect(self.selection.cancel)
        for action in (self.add_action, self.drop_action):
            action.setEnabled(False)
            self.selection.sam.candidate_changed.connect(action.setEnabled)
        self.object_options = [self.addWidget(QLabel(" Method ")), self.addWidget(self.method_combo)]
        self.addAction(self.add_action)
        self.addAction(self.drop_action)
        self.sam_options = [self.add_action, self.drop_action]

    def show_for(self, tool: Tool) -> None:
        """Only the options of `tool` (none for the selection tools without options)."""
        for action in self.brush_options:
            action.setVisible(tool in BRUSH_TOOLS)
        for action in self.wand_options:
            action.setVisible(tool == Tool.MAGIC_WAND)
        for action in self.retouch_options:
            action.setVisible(tool in (Tool.CLONE, Tool.HEAL))
        for action in self.object_options:
            action.setVisible(tool == Tool.OBJECT_SELECT)
        for action in self.sam_options:
            action.setVisible(tool == Tool.OBJECT_SELECT and self.selection.method == SAM)
        if tool == Tool.OBJECT_SELECT:
            self._label_methods()
            self.selection.prepare()  # Segment Anything's embedding of the photo starts now

    def _label_methods(self) -> None:
        """Segment Anything is marked while its model still has to be downloaded, as the engines are."""
        index = self.method_combo.findData(SAM)
        missing = not self.selection.sam.model_installed()
        self.method_combo.setItemText(index, METHOD_NAMES[SAM] + (" (download needed)" if missing else ""))

    def _method_changed(self, method: str) -> None:
        """The method in use (chosen, or GrabCut again when Segment Anything cannot run): shown and remembered."""
        self.method_combo.blockSignals(True)
        self.method_combo.setCurrentIndex(self.method_combo.findData(method))
        self.method_combo.blockSignals(False)
        self.settings.object_select_method = method
        self.show_for(self.tools.tool)

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

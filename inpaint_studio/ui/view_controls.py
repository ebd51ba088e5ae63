"""The View menu and the zoom field: zoom, fit, 100 %, before/after, and how the mask is shown.

The mask's colour and opacity are the user's choice (a red mask hides a red
object), remembered in the settings.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence
from PySide6.QtWidgets import QColorDialog, QMainWindow, QMenu, QSpinBox

from inpaint_studio.session.settings import Settings
from inpaint_studio.ui.actions import make_action
from inpaint_studio.ui.canvas import MAX_ZOOM, CanvasView
from inpaint_studio.ui.compare import SplitDivider

MASK_COLOURS = {"Magenta": "#ff008c", "Red": "#ff2020", "Green": "#20d040", "Blue": "#2080ff", "Yellow": "#ffd800"}
MASK_OPACITIES = (25, 50, 75, 100)


class ViewControls(QObject):
    def __init__(self, canvas: CanvasView, settings: Settings, window: QMainWindow) -> None:
        super().__init__(window)
        self.canvas, self.settings, self.window = canvas, settings, window
        canvas.set_overlay_color(QColor(settings.overlay_color))
        canvas.set_overlay_opacity(settings.overlay_opacity)
        self.fit_action = make_action(self.window, "&Fit to window", canvas.fit_to_window, "Ctrl+0")
        self.actual_size_action = make_action(self.window, "&Actual size (100%)", canvas.actual_size, "Ctrl+1")
        # Ctrl++ and Ctrl+= : the plus sign needs Shift on most keyboards.
        self.zoom_in_action = make_action(self.window, "Zoom &in", canvas.zoom_in, QKeySequence.StandardKey.ZoomIn)
        self.zoom_in_action.setShortcuts([*self.zoom_in_action.shortcuts(), QKeySequence("Ctrl+=")])
        self.zoom_out_action = make_action(self.window, "Zoom &out", canvas.zoom_out, QKeySequence.StandardKey.ZoomOut)
        self.original_action = make_action(self.window, "Show &original (hold \\)", canvas.set_show_original, checkable=True)
        self.divider = SplitDivider(canvas)
        self.split_action = make_action(self.window, "&Before / after split", self.divider.set_shown, "Y", checkable=True)
        self.zoom_field = QSpinBox()
        self.zoom_field.setRange(1, round(MAX_ZOOM * 100))
        self.zoom_field.setSuffix(" %")
        self.zoom_field.setKeyboardTracking(False)  # zoom when Enter is pressed, not on every digit
        self.zoom_field.setToolTip("Zoom: type a percentage and press Enter")
        self.zoom_field.valueChanged.connect(lambda percent: canvas.set_zoom(percent / 100))
        canvas.zoom_changed.connect(self._show_zoom)
        window.statusBar().addPermanentWidget(self.zoom_field)

    @property
    def actions(self) -> list[QAction]:
        return [self.fit_action, self.actual_size_action, self.zoom_in_action, self.zoom_out_action]

    def mask_menu(self, parent: QMenu) -> QMenu:
        """View > Mask: its colour and opacity."""
        menu = parent.addMenu("&Mask")
        colours = QActionGroup(menu)
        for name, value in MASK_COLOURS.items():
            action = colours.addAction(name)
            action.setCheckable(True)
            action.setChecked(value == self.settings.overlay_color)
            action.triggered.connect(lambda checked=False, v=value: self.set_mask_colour(QColor(v)))
        menu.addActions(colours.actions())
        menu.addAction("Other colour…", self._choose_colour)
        menu.addSeparator()
        opacities = QActionGroup(menu)
        for percent in MASK_OPACITIES:
            action = opacities.addAction(f"Opacity {percent} %")
            action.setCheckable(True)
            action.setChecked(round(self.settings.overlay_opacity * 100) == percent)
            action.triggered.connect(lambda checked=False, p=percent: self.set_mask_opacity(p / 100))
        menu.addActions(opacities.actions())
        return menu

    def set_mask_colour(self, colour: QColor) -> None:
        self.settings.overlay_color = colour.name()
        self.canvas.set_overlay_color(colour)

    def set_mask_opacity(self, opacity: float) -> None:
        self.settings.overlay_opacity = opacity
        self.canvas.set_overlay_opacity(opacity)

    def _choose_colour(self) -> None:
        colour = QColorDialog.getColor(QColor(self.settings.overlay_color), self.window, "Mask colour")
        if colour.isValid():
            self.set_mask_colour(colour)

    def _show_zoom(self, zoom: float) -> None:
        self.zoom_field.blockSignals(True)
        self.zoom_field.setValue(round(zoom * 100))
        self.zoom_field.blockSignals(False)

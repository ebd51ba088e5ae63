"""The toolbox down the window's left edge: one button per mask tool, and Subtract.

Icons with tooltips that name each tool and its shortcut (the keys photo
editors use: B brush, E eraser, L lasso, P polygon, R rectangle).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QToolBar, QWidget

from inpaint_studio.ui.actions import make_action
from inpaint_studio.ui.icons import icon
from inpaint_studio.ui.mask_tools import MaskToolController, Tool

TOOL_SHORTCUTS = {
    Tool.BRUSH: "B",
    Tool.ERASER: "E",
    Tool.LASSO: "L",
    Tool.POLYGON: "P",
    Tool.RECTANGLE: "R",
    Tool.OBJECT_SELECT: "W",
    Tool.MAGIC_WAND: "Shift+W",
    Tool.MAGNETIC_LASSO: "Shift+L",
    Tool.CLONE: "S",
    Tool.HEAL: "J",
    Tool.SPOT_HEAL: "Shift+J",
    Tool.LAYER_ERASER: "Shift+E",
    Tool.SAMPLING: "Shift+B",
}
TOOL_TIPS = {
    Tool.OBJECT_SELECT: (
        "Object selection: drag a box around an object, or click it with Segment Anything (tool options); "
        "click parts to add them, Alt+click (or Ctrl+click) to remove"
    ),
    Tool.MAGIC_WAND: "Magic wand: select the clicked colour (tolerance and Contiguous in the tool options)",
    Tool.MAGNETIC_LASSO: "Magnetic lasso: click around an object; the outline follows its edges",
    Tool.CLONE: "Clone stamp: Alt+click (or Ctrl+click) a source, then paint a copy of it (into the Retouch layer)",
    Tool.HEAL: "Healing brush: like the clone stamp, blended into the colour and light where you paint",
    Tool.SPOT_HEAL: "Spot healing brush: click or paint over a spot; the engine fills it (into the Retouch layer)",
    Tool.LAYER_ERASER: "Layer eraser: erase part of the selected fill to bring back the photo",
    Tool.SAMPLING: "Sampling area: paint where PatchMatch may copy from (green); Alt or Ctrl: where it must not (amber)",
}
TOOL_ICONS = {
    Tool.BRUSH: "brush",
    Tool.ERASER: "eraser",
    Tool.LASSO: "lasso",
    Tool.POLYGON: "polygon",
    Tool.RECTANGLE: "rectangle",
    Tool.OBJECT_SELECT: "object-select",
    Tool.MAGIC_WAND: "magic-wand",
    Tool.MAGNETIC_LASSO: "magnetic-lasso",
    Tool.CLONE: "clone",
    Tool.HEAL: "heal",
    Tool.SPOT_HEAL: "spot-heal",
    Tool.LAYER_ERASER: "layer-eraser",
    Tool.SAMPLING: "sampling",
}


class Toolbox(QToolBar):
    def __init__(self, tools: MaskToolController, window: QWidget, chosen: Callable[[Tool], None]) -> None:
        super().__init__("Tools", window)
        self.setObjectName("tools")
        self.setMovable(False)
        self.setIconSize(QSize(24, 24))
        self.tools = tools
        group = QActionGroup(self)
        self.tool_actions: dict[Tool, QAction] = {}
        for tool, key in TOOL_SHORTCUTS.items():
            action = make_action(window, tool.value, lambda checked=False, t=tool: chosen(t), key, checkable=True)
            action.setToolTip(f"{TOOL_TIPS.get(tool, tool.value)} ({key})")
            group.addAction(action)
            self.tool_actions[tool] = action
        self.tool_actions[Tool.BRUSH].setChecked(True)
        self.subtract_action = make_action(window, "Subtract", self._toggle_subtract, checkable=True)
        self.subtract_action.setToolTip("Subtract: the tools remove from the mask (or hold Alt or Ctrl)")
        self.addActions(list(self.tool_actions.values()))
        self.addSeparator()
        self.addAction(self.subtract_action)

    def apply_icons(self) -> None:
        for tool, action in self.tool_actions.items():
            action.setIcon(icon(TOOL_ICONS[tool]))
        self.subtract_action.setIcon(icon("subtract"))

    def _toggle_subtract(self, checked: bool) -> None:
        self.tools.subtract = checked

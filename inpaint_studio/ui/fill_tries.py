"""Try Again and the tries of a fill: a bar under the Layers list and Edit menu commands.

With a fill layer selected, Try Again (Ctrl+Shift+R) fills its mask once more
with the engine chosen now (another seed), and the bar flips between the
tries ("Try 2 of 3 · LaMa", Alt+Left / Alt+Right). The rules are in
`core.fill_tries` and `session.workspace`; this wires them to the window.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMainWindow, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from inpaint_studio.core.document import ResultLayer
from inpaint_studio.core.errors import EngineError
from inpaint_studio.core.fill_tries import is_fill, show_try, try_count
from inpaint_studio.engines.registry import engine_class
from inpaint_studio.session.workspace import Workspace
from inpaint_studio.ui.actions import make_action
from inpaint_studio.ui.engine_controls import EngineControls
from inpaint_studio.ui.icons import icon
from inpaint_studio.ui.layers_panel import LayersPanel

Status = Callable[[str, int], None]


class TryControls(QObject):
    def __init__(
        self, workspace: Workspace, engines: EngineControls, layers: LayersPanel, window: QMainWindow, status: Status
    ) -> None:
        super().__init__(window)
        self.workspace, self.engines, self.layers, self.status = workspace, engines, layers, status
        self.try_again_action = make_action(window, "&Try Again", self.try_again, "Ctrl+Shift+R")
        self.try_again_action.setToolTip("Fill the selected fill's mask again with the chosen engine and another seed")
        self.previous_action = make_action(window, "Pre&vious Try", lambda: self.flip(-1), "Alt+Left")
        self.next_action = make_action(window, "Ne&xt Try", lambda: self.flip(1), "Alt+Right")
        self.actions = [self.try_again_action, self.previous_action, self.next_action]

        # Shown while a fill layer is selected: "Try 2 of 3 · LaMa", then ‹ › and Try again.
        # The label on a row of its own: the dock is narrow, and its text (with the engine's name) is
        # what tells the tries apart.
        self.bar = QWidget()
        self.label = QLabel()
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the dock
        rows = QVBoxLayout(self.bar)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(0)
        rows.addWidget(self.label)
        row = QHBoxLayout()
        rows.addLayout(row)
        row.addStretch(1)
        self.buttons: dict[str, QToolButton] = {}
        keyed = (("try-previous", self.previous_action), ("try-next", self.next_action), ("try-again", self.try_again_action))
        for key, action in keyed:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            self.buttons[key] = button
            row.addWidget(button)
        self.buttons["try-again"].setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.apply_icons()
        layers.add_row(self.bar)
        layers.selection_changed.connect(self.refresh)
        self.refresh()

    def apply_icons(self) -> None:
        """Icons in the palette's text colour: again after the theme changes."""
        for key, button in self.buttons.items():
            button.defaultAction().setIcon(icon(key))

    def layer(self) -> ResultLayer | None:
        layer = self.layers.selected_layer
        document = self.workspace.document
        return layer if is_fill(layer) and document is not None and layer in document.layers else None

    def try_again(self) -> None:
        layer = self.layer()
        if layer is None:
            self.status("Select a fill in the Layers panel to try it again.", 4000)
            return
        if not self.engines.ensure_models():
            return
        if self.workspace.try_again(layer, self.engines.engine_id, self.engines.device, self.engines.params):
            self.status(f"Trying {layer.name} again with {self.engines.summary}…", 3000)
        else:
            self.status("A fill is still running; try again when it has finished.", 4000)

    def flip(self, step: int) -> None:
        layer, document = self.layer(), self.workspace.document
        if layer is not None and document is not None:
            show_try(document, layer, layer.shown_try + step)

    def refresh(self) -> None:
        layer = self.layer()
        count = try_count(layer) if layer is not None else 0
        self.try_again_action.setEnabled(layer is not None)
        self.previous_action.setEnabled(count > 1)
        self.next_action.setEnabled(count > 1)
        self.bar.setVisible(layer is not None)
        if layer is None:
            return
        engine = layer.provenance.get("engine")
        try:
            engine_name = f" · {engine_class(str(engine)).info.name}"
        except EngineError:  # a project from another version may name an engine this one lacks
            engine_name = ""
        self.label.setText(f"Try {layer.shown_try + 1} of {count}{engine_name}")

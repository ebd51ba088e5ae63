"""The Select menu: clear and invert the mask, Modify (grow, shrink, feather by an amount), From
Transparency, Clear Sampling Area, Detect damage.

The mask is the selection of what to remove, so its commands sit where
photo editors keep selection commands. Each is one undoable step; the
amounts asked for are remembered.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMainWindow, QMenuBar

from inpaint_studio.core.mask_edit import MaskOperation, apply_operation
from inpaint_studio.session.workspace import Workspace
from inpaint_studio.ui.actions import make_action

# Settings field holding the remembered amount of each Modify operation.
AMOUNT_SETTINGS = {
    MaskOperation.GROW: "mask_grow_px",
    MaskOperation.SHRINK: "mask_shrink_px",
    MaskOperation.FEATHER: "mask_feather_px",
}
MAX_AMOUNT = 500


class MaskCommands(QObject):
    def __init__(
        self, workspace: Workspace, window: QMainWindow, detect_damage: Callable[[], None], status: Callable[[str, int], None]
    ) -> None:
        super().__init__(window)
        self.workspace, self.window, self.status = workspace, window, status
        self.clear_action = make_action(window, "&Clear mask", lambda: self.apply(MaskOperation.CLEAR), "Ctrl+D")
        self.clear_action.setShortcuts([QKeySequence("Ctrl+D"), QKeySequence("Ctrl+Shift+A")])
        self.invert_action = make_action(window, "&Invert mask", lambda: self.apply(MaskOperation.INVERT), "Ctrl+I")
        self.grow_action = make_action(window, "&Grow…", lambda: self.modify(MaskOperation.GROW))
        self.shrink_action = make_action(window, "&Shrink…", lambda: self.modify(MaskOperation.SHRINK))
        self.feather_action = make_action(window, "&Feather…", lambda: self.modify(MaskOperation.FEATHER), "Shift+F6")
        self.detect_action = make_action(window, "&Detect damage…", detect_damage, "Ctrl+Shift+D")
        self.transparency_action = make_action(window, "From &Transparency", self.from_transparency)
        self.transparency_action.setToolTip("Mask the transparent parts of the photo, to fill them (heal transparency)")
        self.clear_sampling_action = make_action(window, "Clear Sampling &Area", self.clear_sampling_area)
        self.clear_sampling_action.setToolTip("Let fills copy from anywhere again (undo what the sampling-area brush painted)")

    @property
    def actions(self) -> list[QAction]:
        """Every command, for enabling them together (they need a document)."""
        return [self.clear_action, self.invert_action, self.grow_action, self.shrink_action, self.feather_action,
                self.detect_action, self.transparency_action, self.clear_sampling_action]

    def build_menu(self, bar: QMenuBar) -> None:
        menu = bar.addMenu("&Select")
        menu.addActions([self.clear_action, self.invert_action])
        modify = menu.addMenu("&Modify")
        modify.addActions([self.grow_action, self.shrink_action, self.feather_action])
        menu.addAction(self.transparency_action)
        menu.addAction(self.clear_sampling_action)
        menu.addSeparator()
        menu.addAction(self.detect_action)

    def from_transparency(self) -> None:
        if self.workspace.document is not None and not self.workspace.mask_transparency():
            self.status("This photo has no transparent parts.", 4000)

    def clear_sampling_area(self) -> None:
        document = self.workspace.document
        if document is not None and not document.clear_sampling_area():
            self.status("No sampling area is painted: fills copy from anywhere around the hole.", 4000)

    def modify(self, operation: MaskOperation) -> None:
        """Ask for the amount (the last one offered), then apply."""
        settings = self.workspace.settings
        field = AMOUNT_SETTINGS[operation]
        label = operation.value.capitalize()
        amount, ok = QInputDialog.getInt(
            self.window, f"{label} mask", f"{label} the mask by (pixels):", getattr(settings, field), 1, MAX_AMOUNT
        )
        if ok:
            setattr(settings, field, amount)
            self.apply(operation, amount)

    def apply(self, operation: MaskOperation, amount: int = 0) -> None:
        document = self.workspace.document
        if document is not None:
            edit = apply_operation(document.mask, operation, amount)
            label = f"{operation.value.capitalize()} mask" + (f" {amount} px" if amount else "")
            document.record_mask_edit(edit, label)

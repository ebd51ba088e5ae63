"""Making the window's commands: one QAction each, with its shortcut active even when no menu shows it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

Shortcut = str | QKeySequence | QKeySequence.StandardKey


def make_action(
    window: QWidget, text: str, slot: Callable[..., object], shortcut: Shortcut | None = None, checkable: bool = False
) -> QAction:
    action = QAction(text, window)
    if isinstance(shortcut, QKeySequence.StandardKey):
        action.setShortcuts(shortcut)  # every binding of the platform (Close: Ctrl+W and Ctrl+F4)
    elif shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setCheckable(checkable)
    action.triggered.connect(slot)
    window.addAction(action)  # shortcuts work even when the action is in no visible menu
    return action


def shortcut_text(action: QAction) -> str:
    """The action's shortcuts as the user types them, e.g. 'Ctrl++ or Ctrl+=' (not the dedicated media keys
    some keyboards have, such as Zoom In or Copy, which the platform's standard bindings include)."""
    typed = [key for key in action.shortcuts() if not key.isEmpty() and _on_every_keyboard(_first_key(key))]
    return " or ".join(key.toString(QKeySequence.SequenceFormat.NativeText) for key in typed)


def _on_every_keyboard(key: int) -> bool:
    """Not a media key (Copy, Zoom In) nor F13 and beyond, which few keyboards have."""
    return key < Qt.Key.Key_F13.value or Qt.Key.Key_F35.value < key < Qt.Key.Key_Back.value


def _first_key(sequence: QKeySequence) -> int:
    return int(sequence[0].key().value)  # type: ignore[index]  # the stubs lack QKeySequence.__getitem__

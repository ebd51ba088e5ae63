"""Keys that belong to the editor wherever the keyboard focus is, as in Photoshop, Krita and GIMP.

- Space held pans (and `\\` held shows the original) while the pointer is over
  the canvas, whatever widget has the keyboard focus; its auto-repeat never
  reaches a focused button or list (which would press it again and again).
- Enter or Esc in an option field of the window (brush size, an engine
  parameter) commits the value and hands the focus back to the canvas. The
  key does not reach the window, so Enter there never also runs a fill.

Clicking a button, checkbox, slider, list or combo box of the window does not
take the keyboard focus either (`keep_focus_on_canvas`); Tab still reaches them.
Dialogs keep all their keys.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from inpaint_studio.ui.canvas import CanvasView

_HELD_KEYS = (Qt.Key.Key_Space, Qt.Key.Key_Backslash)
_COMMIT_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)


class EditorKeys(QObject):
    """An application event filter for the window's editor keys (see the module docstring)."""

    def __init__(self, window: QWidget, canvas: CanvasView) -> None:
        super().__init__(window)
        self.window, self.canvas = window, canvas
        self._held: set[int] = set()  # the held keys whose press this filter took
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if event.type() not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) or not isinstance(event, QKeyEvent):
            return False
        if not isinstance(watched, QWidget) or watched.window() is not self.window:
            return False  # another window or a dialog: its keys are its own
        key = event.key()
        if key in _HELD_KEYS:
            return self._held_key(key, event)
        if key in _COMMIT_KEYS and event.type() == QEvent.Type.KeyPress:
            return self._commit_key(key)
        return False

    def _held_key(self, key: int, event: QKeyEvent) -> bool:
        pressed = event.type() == QEvent.Type.KeyPress
        if pressed and key not in self._held:
            if event.isAutoRepeat() or not self._pointer_on_canvas() or _typing():
                return False
            self._held.add(key)
            self._hold(key, True)
            return True
        if key not in self._held:
            return False
        if not pressed and not event.isAutoRepeat():
            self._held.discard(key)
            self._hold(key, False)
        return True  # the press and its auto-repeats: taken, never passed on

    def _hold(self, key: int, on: bool) -> None:
        if key == Qt.Key.Key_Space:
            self.canvas.set_pan_mode(on)
        else:
            original = getattr(self.window, "original_action", None)
            self.canvas.set_show_original(on or bool(original is not None and original.isChecked()))

    def _commit_key(self, key: int) -> bool:
        """Enter or Esc in an option field: commit what was typed, and back to the canvas."""
        field = QApplication.focusWidget()
        if isinstance(field, QAbstractSpinBox):
            field.interpretText()
        elif not _is_option_text_field(field):
            return False
        # A line edit commits (editingFinished) as it loses the focus.
        self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)
        return True

    def _pointer_on_canvas(self) -> bool:
        return self.canvas.pointer_inside()


def _typing() -> bool:
    """True while a text field has the focus: there Space is a character."""
    focus = QApplication.focusWidget()
    if isinstance(focus, (QTextEdit, QPlainTextEdit)):
        return True
    return isinstance(focus, QLineEdit) and not isinstance(focus.parent(), (QAbstractSpinBox, QComboBox))


def _is_option_text_field(widget: QWidget | None) -> bool:
    """A free-standing line edit (an engine parameter), not part of a spin box, combo box or item editor."""
    if not isinstance(widget, QLineEdit) or isinstance(widget.parent(), (QAbstractSpinBox, QComboBox)):
        return False
    return not _inside_item_view(widget)  # an item editor (renaming a layer) ends itself


def _inside_item_view(widget: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractItemView):
            return True
        parent = parent.parentWidget()
    return False


def keep_focus_on_canvas(root: QWidget) -> None:
    """Buttons, checkboxes, sliders, lists and combo boxes under `root` take the focus by Tab only, not by a click."""
    kinds = (QAbstractButton, QAbstractSlider, QAbstractItemView, QComboBox)
    for widget in root.findChildren(QWidget):
        if isinstance(widget, kinds) and widget.focusPolicy() != Qt.FocusPolicy.NoFocus:
            widget.setFocusPolicy(Qt.FocusPolicy.TabFocus)

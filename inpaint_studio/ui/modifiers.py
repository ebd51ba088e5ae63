"""The modifier that turns a tool around: Alt, as in Photoshop, or Ctrl, as in GIMP.

Many Linux window managers (Openbox, Xfwm, some KWin setups) take Alt+click
and Alt+drag for moving windows, so the app never sees them; Ctrl does the
same everywhere in the canvas tools: subtract from the mask, mark a part that
is not the object, set the clone source.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QInputEvent

ALTERNATE = Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ControlModifier
ALTERNATE_NAME = "Alt (or Ctrl)"


def alternate(event: QInputEvent | None) -> bool:
    """True when the event came with Alt or Ctrl held."""
    return bool(event is not None and event.modifiers() & ALTERNATE)

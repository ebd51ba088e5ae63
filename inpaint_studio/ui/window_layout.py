"""The window's size, toolbars and docks as the user left them, kept in the settings between runs."""

from __future__ import annotations

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QMainWindow

from inpaint_studio.session.settings import Settings

LAYOUT_VERSION = 1  # raise when toolbars or docks change so much that an old layout no longer fits


def restore_layout(window: QMainWindow, settings: Settings) -> None:
    if settings.window_geometry:
        window.restoreGeometry(QByteArray.fromBase64(settings.window_geometry.encode("ascii")))
    if settings.window_state:
        window.restoreState(QByteArray.fromBase64(settings.window_state.encode("ascii")), LAYOUT_VERSION)


def save_layout(window: QMainWindow, settings: Settings) -> None:
    settings.window_geometry = bytes(window.saveGeometry().toBase64().data()).decode("ascii")
    settings.window_state = bytes(window.saveState(LAYOUT_VERSION).toBase64().data()).decode("ascii")

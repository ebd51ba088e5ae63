"""Light and dark: the dark neutral theme photo editors use, or a light one, following the desktop or the user.

"system" follows the desktop's colour scheme as it changes; where the desktop
says nothing (many Linux desktops), it is dark, as in other photo editors: a
photo is judged best on a neutral dark grey.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

THEMES = {"system": "Follow the system", "dark": "Dark", "light": "Light"}


def is_dark(choice: str) -> bool:
    if choice in ("dark", "light"):
        return choice == "dark"
    return QGuiApplication.styleHints().colorScheme() != Qt.ColorScheme.Light


def apply_theme(choice: str) -> None:
    """Style and palette of the whole application for `choice` (a key of THEMES)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    app.setStyle("Fusion")  # the same look on every platform, and a palette it follows fully
    app.setPalette(dark_palette() if is_dark(choice) else app.style().standardPalette())


def dark_palette() -> QPalette:
    """Neutral greys (no tint that would shift how colours in the photo are seen)."""
    palette = QPalette()
    window, base, text, disabled = QColor(50, 50, 50), QColor(38, 38, 38), QColor(220, 220, 220), QColor(120, 120, 120)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor(44, 44, 44),
        QPalette.ColorRole.ToolTipBase: QColor(30, 30, 30),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: disabled,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor(60, 60, 60),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 255, 255),
        QPalette.ColorRole.Light: QColor(80, 80, 80),
        QPalette.ColorRole.Midlight: QColor(70, 70, 70),
        QPalette.ColorRole.Mid: QColor(45, 45, 45),
        QPalette.ColorRole.Dark: QColor(30, 30, 30),
        QPalette.ColorRole.Shadow: QColor(15, 15, 15),
        QPalette.ColorRole.Highlight: QColor(60, 120, 200),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(100, 160, 240),
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette

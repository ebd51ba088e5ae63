"""Tool and panel icons: the SVGs in resources/icons/tools, drawn in the palette's text colour.

The SVGs draw with `currentColor`; rendering them in the window text colour
makes one set of files read well in the light and the dark theme. Call again
after a theme change.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from inpaint_studio.resources import resource_path

SIZES = (16, 20, 24, 32, 48)


def icon(name: str) -> QIcon:
    """The icon `name` (a file stem in resources/icons/tools) in the current palette's text colour."""
    colour = QApplication.palette().color(QPalette.ColorRole.WindowText).name()
    return _icon(name, colour)


@lru_cache(maxsize=256)
def _icon(name: str, colour: str) -> QIcon:
    svg = resource_path(f"icons/tools/{name}.svg").read_text(encoding="utf-8").replace("currentColor", colour)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    result = QIcon()
    for size in SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        with QPainter(pixmap) as painter:
            renderer.render(painter, QRectF(0, 0, size, size))
        result.addPixmap(pixmap)
    return result

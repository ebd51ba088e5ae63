"""The before/after divider on the canvas: drag it to see the original left of it and the result right of it.

A thin widget over the canvas that takes the mouse only where the divider is,
so painting and panning elsewhere work as usual while the split is shown.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from inpaint_studio.ui.canvas import CanvasView

GRIP = 14  # logical pixels of the divider that take the mouse


class SplitDivider(QWidget):
    def __init__(self, canvas: CanvasView) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.share = 0.5  # of the canvas width, kept when the window is resized
        self.setCursor(Qt.CursorShape.SplitHCursor)
        self.setToolTip("Drag to compare: the original on the left, the result on the right")
        self.hide()
        canvas.installEventFilter(self)

    def set_shown(self, on: bool) -> None:
        self.setVisible(on)
        self._place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if watched is self.canvas and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        width, height = self.canvas.width(), self.canvas.height()
        x = round(self.share * width)
        self.setGeometry(x - GRIP // 2, 0, GRIP, height)
        self.canvas.set_split(x if self.isVisible() else None)
        self.raise_()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            x = self.mapToParent(event.position().toPoint()).x()
            self.share = min(max(x / max(self.canvas.width(), 1), 0.0), 1.0)
            self._place()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        with QPainter(self) as painter:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            centre = self.width() / 2
            painter.setPen(QPen(QColor(0, 0, 0, 120), 3))
            painter.drawLine(QPointF(centre, 0), QPointF(centre, self.height()))
            painter.setPen(QPen(QColor(255, 255, 255), 1))
            painter.drawLine(QPointF(centre, 0), QPointF(centre, self.height()))
            knob = QRectF(0, self.height() / 2 - 18, self.width(), 36)
            painter.setBrush(QColor(255, 255, 255))
            painter.setPen(QPen(QColor(0, 0, 0, 160), 1))
            painter.drawRoundedRect(knob.adjusted(1, 0, -1, 0), 5, 5)

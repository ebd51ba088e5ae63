"""The History panel: every step of the document's undo history; clicking one jumps there."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from inpaint_studio.core.boxes import Box
from inpaint_studio.core.document import DocumentEvent
from inpaint_studio.ui.document_panel import DocumentPanel


class HistoryPanel(DocumentPanel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("History", parent)
        self.setObjectName("history")
        self.list = QListWidget()
        self.list.itemClicked.connect(self._clicked)
        self.setWidget(self.list)
        self._updating = False

    def _document_changed(self, what: DocumentEvent, box: Box | None) -> None:
        if what == DocumentEvent.HISTORY and not self._updating:
            self.refresh()

    def refresh(self) -> None:
        """Row 0 is the opened photo; row n is the state after step n. Undone steps are greyed."""
        self.list.clear()
        if self.document is None:
            return
        history = self.document.history
        first = "Open" if not history.dropped else f"Open (and {history.dropped} older steps dropped to save memory)"
        self.list.addItem(QListWidgetItem(first))
        for index, label in enumerate(history.steps, start=1):
            item = QListWidgetItem(label)
            if index > history.position:
                item.setForeground(QBrush(QColor(Qt.GlobalColor.gray)))
            self.list.addItem(item)
        self.list.setCurrentRow(history.position)

    def _clicked(self, item: QListWidgetItem) -> None:
        if self.document is None:
            return
        self._updating = True
        try:
            self.document.history.jump(self.document, self.list.row(item))
        finally:
            self._updating = False
        self.refresh()

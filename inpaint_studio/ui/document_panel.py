"""A dock panel that shows one document and follows its changes."""

from __future__ import annotations

from PySide6.QtWidgets import QDockWidget, QWidget

from inpaint_studio.core.boxes import Box
from inpaint_studio.core.document import Document, DocumentEvent


class DocumentPanel(QDockWidget):
    """Subclasses build their widgets, then implement `refresh` and `_document_changed`."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.document: Document | None = None

    def set_document(self, document: Document | None) -> None:
        """Show `document`, listening to it (and no longer to the previous one)."""
        if self.document is not None and self._document_changed in self.document.listeners:
            self.document.listeners.remove(self._document_changed)
        self.document = document
        if document is not None:
            document.listeners.append(self._document_changed)
        self.refresh()

    def _document_changed(self, what: DocumentEvent, box: Box | None) -> None:
        raise NotImplementedError

    def refresh(self) -> None:
        raise NotImplementedError

"""When the window autosaves, and the offer to recover after a crash.

Autosaves every `Settings.autosave_minutes` while there are unsaved changes,
and right away before operations that can take the process down (a learned
engine on a GPU). The writing happens on a thread (io.autosave); this only
decides when, and shows failures in the status bar without interrupting.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from inpaint_studio.core.document import Document
from inpaint_studio.errors import InpaintStudioError
from inpaint_studio.io.autosave import (
    AutosaveSession,
    BackgroundAutosaver,
    RecoverableSession,
    discard_recoverable,
    find_recoverable,
)


class AutosaveController(QObject):
    failed = Signal(str)  # a message for the status bar

    def __init__(self, parent: QWidget, minutes: int, folder: Path | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.document: Document | None = None
        self.source = ""
        self._saved_revision: int | None = None  # the document revision last autosaved
        self._autosaver: BackgroundAutosaver | None = None
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.autosave)
        self.set_interval(minutes)

    def set_interval(self, minutes: int) -> None:
        if minutes > 0:
            self.timer.start(minutes * 60_000)
        else:
            self.timer.stop()

    @property
    def autosaver(self) -> BackgroundAutosaver:
        if self._autosaver is None:  # the session's lock file appears only once it is needed
            session = AutosaveSession(self.folder)
            self._autosaver = BackgroundAutosaver(session, on_error=self.failed.emit)
        return self._autosaver

    def set_document(self, document: Document | None, source: str) -> None:
        """Follow a newly opened document; the previous one's autosave is dropped."""
        if self.document is not None and self._document_changed in self.document.listeners:
            self.document.listeners.remove(self._document_changed)
        if self._autosaver is not None:
            self._autosaver.discard()
        self.document, self.source, self._saved_revision = document, source, None
        if document is not None:
            document.listeners.append(self._document_changed)

    def _document_changed(self, what: str, box) -> None:
        # Saved (or undone back to the saved state): nothing left that an autosave should keep.
        if what == "history" and self.document is not None and not self.document.modified and self._autosaver:
            self._autosaver.discard()
            self._saved_revision = None

    def autosave(self) -> bool:
        """Autosave now if there are changes not yet autosaved; True if a save was started."""
        document = self.document
        if document is None or not document.modified or document.revision == self._saved_revision:
            return False
        try:
            self.autosaver.request(document, self.source)
        except (InpaintStudioError, OSError) as e:
            self.failed.emit(f"Autosave is not available: {e}")
            return False
        self._saved_revision = document.revision
        return True

    def wait(self, timeout: float | None = None) -> None:
        if self._autosaver is not None:
            self._autosaver.wait(timeout)

    def shutdown(self) -> None:
        """Clean exit: nothing to recover next time."""
        self.timer.stop()
        if self._autosaver is not None:
            self._autosaver.discard()
            self._autosaver.wait(30)
            self._autosaver.session.close()
            self._autosaver = None

    # ------------------------------------------------------------ recovery

    def offer_recovery(self, parent: QWidget) -> tuple[Document, str] | None:
        """Ask about autosaves left by a crash; the recovered document and its source, or None."""
        for session in find_recoverable(self.folder):
            answer = self.ask(parent, session)
            if answer == "discard":
                discard_recoverable(session)
                continue
            if answer != "recover":
                continue  # asked again at the next start
            try:
                document = session.load()
            except (InpaintStudioError, OSError) as e:
                QMessageBox.warning(parent, "Cannot recover", str(e))
                continue
            self.set_document(document, session.source)
            try:
                self.autosaver.session.adopt(session)
                self._saved_revision = document.revision  # already on disk as it is
            except (InpaintStudioError, OSError):
                pass  # it is open now and gets autosaved anew at the next change
            return document, session.source
        return None

    def ask(self, parent: QWidget, session: RecoverableSession) -> str:
        """'recover', 'discard' or 'later' (the user's choice; tests replace this)."""
        when = time.strftime("%H:%M on %d %b", time.localtime(session.saved_at))
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Recover unsaved work")
        box.setText(f"Inpaint Studio did not close properly while you were editing '{session.source_name}'.")
        box.setInformativeText(f"Recover the work autosaved at {when}?")
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(recover)
        box.exec()
        clicked = box.clickedButton()
        return "recover" if clicked is recover else "discard" if clicked is discard else "later"

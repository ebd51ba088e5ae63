"""When the window autosaves, and the offer to recover after a crash.

Autosaves every `Settings.autosave_minutes` while there are unsaved changes,
and right away before operations that can take the process down (a learned
engine on a GPU). The writing happens on a thread (io.autosave); this only
decides when, and shows failures in the status bar without interrupting.

While a folder is browsed, photos with changes that are not shown any more
keep their own autosave sessions (`set_document(..., keep_previous=True)`), so
a crash loses the work on none of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from inpaint_studio.core.document import Document
from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.io.autosave import (
    AutosaveSession,
    BackgroundAutosaver,
    RecoverableSession,
    discard_recoverable,
    find_recoverable,
)


@dataclass
class _KeptDocument:
    """A document that is not shown any more but still has changes, with its own autosave session."""

    source: str
    autosaver: BackgroundAutosaver | None
    saved_revision: int | None


class AutosaveController(QObject):
    failed = Signal(str)  # a message for the status bar

    def __init__(self, parent: QWidget, minutes: int, folder: Path | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.document: Document | None = None
        self.source = ""
        self._saved_revision: int | None = None  # the document revision last autosaved
        self._autosaver: BackgroundAutosaver | None = None
        self._kept: dict[Document, _KeptDocument] = {}  # documents of a folder not shown now
        self._spare: list[BackgroundAutosaver] = []  # sessions with nothing on disk, for reuse
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
            self._autosaver = self._new_autosaver()
        return self._autosaver

    def _new_autosaver(self) -> BackgroundAutosaver:
        if self._spare:
            return self._spare.pop()
        return BackgroundAutosaver(AutosaveSession(self.folder), on_error=self.failed.emit)

    def set_document(self, document: Document | None, source: str, keep_previous: bool = False) -> None:
        """Follow a newly shown document. The previous one's autosave is dropped, unless `keep_previous`
        (another photo of the same folder) and it has changes: then it keeps its own autosave session."""
        previous = self.document
        if previous is not None and self._document_changed in previous.listeners:
            previous.listeners.remove(self._document_changed)
        if keep_previous and previous is not None and previous.modified:
            self._kept[previous] = _KeptDocument(self.source, self._autosaver, self._saved_revision)
            self._autosaver = None
        elif self._autosaver is not None:
            self._autosaver.discard()
        kept = self._kept.pop(document, None) if document is not None else None
        if kept is not None:
            if self._autosaver is not None:
                self._spare.append(self._autosaver)  # emptied above; reused by the next document that needs one
            self._autosaver, self._saved_revision = kept.autosaver, kept.saved_revision
        else:
            self._saved_revision = None
        self.document, self.source = document, source
        if document is not None:
            document.listeners.append(self._document_changed)

    def forget_kept(self) -> None:
        """The folder closes (its changes were saved or discarded): drop the other photos' autosaves."""
        for kept in self._kept.values():
            if kept.autosaver is not None:
                kept.autosaver.discard()
                self._spare.append(kept.autosaver)
        self._kept.clear()

    def _document_changed(self, what: str, box) -> None:
        # Saved (or undone back to the saved state): nothing left that an autosave should keep.
        if what == "history" and self.document is not None and not self.document.modified and self._autosaver:
            self._autosaver.discard()
            self._saved_revision = None

    def autosave(self) -> bool:
        """Autosave now if there are changes not yet autosaved; True if a save was started.

        Kept documents of a folder are autosaved too (a fill can land on one that is not shown);
        one that was saved meanwhile (Save All) drops its autosave.
        """
        for document, kept in list(self._kept.items()):
            if not document.modified:
                if kept.autosaver is not None:
                    kept.autosaver.discard()
                    self._spare.append(kept.autosaver)
                del self._kept[document]
            elif document.revision != kept.saved_revision:
                try:
                    if kept.autosaver is None:
                        kept.autosaver = self._new_autosaver()
                    kept.autosaver.request(document, kept.source)
                    kept.saved_revision = document.revision
                except (InpaintStudioError, OSError) as e:
                    self.failed.emit(f"Autosave is not available: {e}")
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
        self.forget_kept()
        if self._autosaver is not None:
            self._autosaver.discard()
            self._spare.append(self._autosaver)
            self._autosaver = None
        for autosaver in self._spare:
            autosaver.wait(30)
            autosaver.session.close()
        self._spare.clear()

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

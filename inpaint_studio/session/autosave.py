"""When open work is autosaved, and getting it back after a crash.

Autosaves the shown document when asked (the window asks every
`Settings.autosave_minutes`, and right before a learned engine runs, which can
take the process down) if it changed since the last autosave. The writing
happens on a thread (`io.autosave`); this decides when and what.

While a folder is browsed, photos with changes that are not shown any more
keep their own autosave sessions (`follow(..., keep_previous=True)`), so a
crash loses the work on none of them. `on_error` hears failures, on the
autosave thread: the caller moves them where it shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inpaint_studio.core.boxes import Box
from inpaint_studio.core.document import Document, DocumentEvent
from inpaint_studio.core.errors import InpaintStudioError, plain_reason
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


class AutosavePolicy:
    def __init__(self, folder: Path | None = None, on_error: Callable[[str], None] | None = None) -> None:
        self.folder = folder
        self.on_error = on_error or (lambda message: None)
        self.document: Document | None = None
        self.source = ""
        self._saved_revision: int | None = None  # the document revision last autosaved
        self._autosaver: BackgroundAutosaver | None = None
        self._kept: dict[Document, _KeptDocument] = {}  # documents of a folder not shown now
        self._spare: list[BackgroundAutosaver] = []  # sessions with nothing on disk, for reuse

    @property
    def autosaver(self) -> BackgroundAutosaver:
        if self._autosaver is None:  # the session's lock file appears only once it is needed
            self._autosaver = self._new_autosaver()
        return self._autosaver

    @property
    def kept(self) -> list[Document]:
        """Documents not shown now that keep an autosave of their own."""
        return list(self._kept)

    def _new_autosaver(self) -> BackgroundAutosaver:
        if self._spare:
            return self._spare.pop()
        return BackgroundAutosaver(AutosaveSession(self.folder), on_error=self._report)

    def _report(self, message: str) -> None:
        self.on_error(message)

    def follow(self, document: Document | None, source: str, keep_previous: bool = False) -> None:
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

    def _document_changed(self, what: DocumentEvent, box: Box | None) -> None:
        # Saved (or undone back to the saved state): nothing left that an autosave should keep.
        if what == DocumentEvent.HISTORY and self.document is not None and not self.document.modified and self._autosaver:
            self._autosaver.discard()
            self._saved_revision = None

    def autosave(self) -> bool:
        """Autosave now if there are changes not yet autosaved; True if a save of the shown document was started.

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
                    self._report(f"Autosave is not available: {plain_reason(e)}")
        shown = self.document
        if shown is None or not shown.modified or shown.revision == self._saved_revision:
            return False
        try:
            self.autosaver.request(shown, self.source)
        except (InpaintStudioError, OSError) as e:
            self._report(f"Autosave is not available: {plain_reason(e)}")
            return False
        self._saved_revision = shown.revision
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Until the shown document's autosave in progress, if any, is written (tests, clean exit)."""
        if self._autosaver is not None:
            self._autosaver.wait(timeout)

    def shutdown(self) -> None:
        """Clean exit: nothing to recover next time."""
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

    def recoverable(self) -> list[RecoverableSession]:
        """Autosaves left by sessions that ended without closing, newest first."""
        return find_recoverable(self.folder)

    def discard(self, session: RecoverableSession) -> None:
        discard_recoverable(session)

    def recover(self, session: RecoverableSession) -> Document:
        """Load a crashed session's autosave and follow it; raises InpaintStudioError or OSError if unreadable.

        Its file becomes this session's autosave, so the work is never without a copy on disk.
        """
        document = session.load()
        self.follow(document, session.source)
        try:
            self.autosaver.session.adopt(session)
            self._saved_revision = document.revision  # already on disk as it is
        except (InpaintStudioError, OSError):
            pass  # it is open now and gets autosaved anew at the next change
        return document

"""Autosave of the open document, and recovery after the app died without closing.

Each running window owns a session in the autosave folder:

- `<id>.lock`, held with an OS file lock for as long as the process lives. The
  OS drops the lock however the process ends (crash, kill, power cut), so a
  lock nobody holds means the session ended; a stale pid could be reused.
- `<id>.json`, what the session is editing (for the recovery prompt).
- `<id>.ora`, the last autosave: a full project file, written atomically, so a
  crash in the middle of an autosave leaves the previous one whole.

Closing a document without unsaved work, or the app cleanly, removes the
session's files. At start-up, sessions whose lock is free and which have an
autosave are what an unclean exit left behind.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from inpaint_studio.core import paths
from inpaint_studio.core.document import Document
from inpaint_studio.core.errors import InpaintStudioError, plain_reason
from inpaint_studio.io.atomic import atomic_write, remove_stale_temp_files
from inpaint_studio.io.project_file import encode_original, load_project, save_project

# ---------------------------------------------------------------- file locks


def _try_lock(file: BinaryIO) -> bool:
    """Take an exclusive lock on an open file without waiting; False if another holder has it."""
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _lock_is_free(path: Path) -> bool:
    """True if no living process holds the lock file (checked by briefly taking it)."""
    try:
        with open(path, "a+b") as file:
            return _try_lock(file)  # closing the file releases the lock again
    except OSError:
        return False


# ---------------------------------------------------------------- recovery


@dataclass(frozen=True)
class RecoverableSession:
    """An autosave left by a session that did not close cleanly."""

    id: str
    project: Path
    source: str  # the photo or project the user was editing
    saved_at: float  # time.time() of the autosave

    @property
    def source_name(self) -> str:
        return Path(self.source).name or "an untitled photo"

    def load(self) -> Document:
        """The autosaved document, marked as having unsaved changes."""
        # The app's own file, in the user's data folder: the photo's path in it is where it really was.
        document = load_project(self.project, keep_photo_path=True)
        document.mark_unsaved()
        return document


def find_recoverable(folder: Path | None = None) -> list[RecoverableSession]:
    """Autosaves of sessions that ended without closing, newest first."""
    folder = folder or paths.autosave_dir()
    remove_stale_temp_files(folder)  # what autosaves cut short by a crash left behind
    found = []
    session_ids = {path.stem for pattern in ("*.lock", "*.json", "*.ora") for path in folder.glob(pattern)}
    for session_id in sorted(session_ids):
        info_path = folder / f"{session_id}.json"
        project = folder / f"{session_id}.ora"
        if not _lock_is_free(folder / f"{session_id}.lock"):
            continue  # another window of the app is still running it
        if not project.is_file():
            _remove_session_files(folder, session_id)  # ended before anything needed saving
            continue
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        info = info if isinstance(info, dict) else {}
        source, saved_at = info.get("source"), info.get("saved_at")
        if not isinstance(source, str):
            source = ""
        if not isinstance(saved_at, (int, float)):
            saved_at = project.stat().st_mtime
        found.append(RecoverableSession(session_id, project, source, float(saved_at)))
    return sorted(found, key=lambda s: s.saved_at, reverse=True)


def discard_recoverable(session: RecoverableSession) -> None:
    """Delete an autosave the user chose not to recover (or has recovered)."""
    _remove_session_files(session.project.parent, session.id)


def _remove_session_files(folder: Path, session_id: str) -> None:
    # Hidden temporaries are what a save cut short by the crash left behind.
    paths = [folder / f"{session_id}{suffix}" for suffix in (".ora", ".json", ".lock")]
    for path in paths + list(folder.glob(f".{session_id}.*.tmp")):
        try:
            os.unlink(path)
        except OSError:
            pass


# ---------------------------------------------------------------- the running session


class AutosaveSession:
    """This process's autosave slot. `save` may be called from any one thread at a time."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or paths.autosave_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.id = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(4)}"
        self.project = self.folder / f"{self.id}.ora"
        self._info = self.folder / f"{self.id}.json"
        self._lock_file = open(self.folder / f"{self.id}.lock", "a+b")
        if not _try_lock(self._lock_file):
            raise InpaintStudioError(f"Cannot lock the autosave file in '{self.folder}'.")
        self._original_png: tuple[object, bytes] | None = None  # (photo, its PNG): encoded once

    def save(self, document: Document, source: str) -> None:
        """Write `document` (a snapshot nobody edits meanwhile) as this session's autosave.

        Raises InpaintStudioError (e.g. disk full); the previous autosave stays whole.
        """
        if self._original_png is None or self._original_png[0] is not document.photo:
            self._original_png = (document.photo, encode_original(document))
        save_project(document, self.project, original_png=self._original_png[1])
        self._write_info(source, time.time())

    def adopt(self, recovered: RecoverableSession) -> None:
        """Take over a recovered autosave, so the work is never without a copy on disk."""
        os.replace(recovered.project, self.project)
        self._write_info(recovered.source, recovered.saved_at)
        discard_recoverable(recovered)

    def _write_info(self, source: str, saved_at: float) -> None:
        info = json.dumps({"source": source, "saved_at": saved_at, "pid": os.getpid()}).encode("utf-8")
        try:
            atomic_write(self._info, lambda file: file.write(info))
        except OSError as e:
            raise InpaintStudioError(f"Cannot write the autosave in '{self.folder}': {e.strerror or e}.") from e

    def discard(self) -> None:
        """Forget the autosave: the document was saved or closed on purpose."""
        self._original_png = None
        for path in (self.project, self._info):
            try:
                os.unlink(path)
            except OSError:
                pass

    def close(self) -> None:
        """Clean exit: remove every file of the session and release the lock."""
        self.discard()
        self._lock_file.close()
        try:
            os.unlink(self.folder / f"{self.id}.lock")
        except OSError:
            pass


class BackgroundAutosaver:
    """Runs `AutosaveSession.save` on a thread, so autosaving a 24 MP photo never blocks the UI.

    A request while a save is running is remembered and written next (only the
    newest matters). `on_error` hears failures (called on the saving thread).
    """

    def __init__(self, session: AutosaveSession, on_error: Callable[[str], None] | None = None) -> None:
        self.session = session
        self.on_error = on_error
        self._lock = threading.Lock()
        self._pending: tuple[Document, str] | None = None
        self._thread: threading.Thread | None = None
        self._discarded = False

    def request(self, document: Document, source: str) -> None:
        """Autosave `document` soon; it is snapshotted now, on the calling thread."""
        snapshot = document.snapshot()
        with self._lock:
            self._pending = (snapshot, source)
            self._discarded = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="autosave", daemon=True)
                self._thread.start()

    def discard(self) -> None:
        """Drop any pending save and delete the autosave (after it if one is being written)."""
        with self._lock:
            self._pending = None
            self._discarded = True
            running = self._thread is not None
        if not running:
            self.session.discard()

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                job, self._pending = self._pending, None
                if job is None:
                    self._thread = None
                    if self._discarded:
                        self.session.discard()
                    return
            try:
                self.session.save(*job)
            except InpaintStudioError as e:
                self._report(str(e))
            except (OSError, MemoryError) as e:  # keep autosaving later; tell the user now
                self._report(f"Autosave failed: {plain_reason(e)}")

    def _report(self, message: str) -> None:
        if self.on_error:
            self.on_error(message)

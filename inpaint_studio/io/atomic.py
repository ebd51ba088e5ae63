"""Atomic file writing: readers see the old file or the complete new one, never half of one.

The data goes into a hidden temporary file in the destination's own folder
(so the final rename never crosses file systems), is flushed to disk, and is
then renamed over the destination in one step. If anything fails on the way,
the temporary file is removed and the destination is left as it was. A file
that is replaced keeps its permissions.

A process killed in the middle of a write cannot remove its temporary file:
the first write into a folder (per process) removes the stale ones, those of
our own naming that nobody has touched for STALE_TEMP_SECONDS.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# Leave room for the random part and ".tmp" within the usual 255-byte name limit.
_MAX_NAME_STEM = 200
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{16}\.tmp", re.DOTALL)
# A temporary file being written changes all the time; one untouched for an hour was left by a
# process that died (or was killed) while writing it.
STALE_TEMP_SECONDS = 3600
_NAME_MAX = 255  # bytes in one file name, where the file system does not say

_swept_lock = threading.Lock()
_swept_folders: set[str] = set()


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Create or replace `path` with what `write` writes to the binary file it is given.

    Errors (from `write` or from the file system) propagate unchanged, after
    the temporary file has been removed.
    """
    path = Path(path)
    folder = path.parent
    temp = folder / f".{path.name[:_MAX_NAME_STEM]}.{secrets.token_hex(8)}.tmp"
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None  # a new file
    # os.open with 0o666 lets the umask decide the permissions, as for any new
    # file; tempfile.mkstemp would make the photo readable by its owner only.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        if mode is not None:
            _keep_mode(temp, mode)
        os.replace(temp, path)
    except BaseException:
        _remove_quietly(temp)
        raise
    _sync_folder(folder)
    _sweep_once(folder)


def is_temp_name(name: str) -> bool:
    """True for the hidden temporary names atomic_write gives (`.NAME.<16 hex>.tmp`)."""
    return _TEMP_NAME.fullmatch(name) is not None


def remove_stale_temp_files(folder: str | os.PathLike[str], older_than: float = STALE_TEMP_SECONDS) -> int:
    """Delete temporary files of atomic_write's naming in `folder` untouched for `older_than` seconds.

    Returns how many were removed; never raises (a folder that cannot be listed has none to remove).
    """
    removed = 0
    cutoff = time.time() - older_than
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not is_temp_name(entry.name):
                    continue
                try:
                    if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except OSError:
                    pass
    except OSError:
        pass
    return removed


def name_length_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the file system cannot hold `path`'s name (too many bytes), or None."""
    path = Path(path)
    length = len(os.fsencode(path.name))
    try:
        limit = os.pathconf(path.parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf on Windows; a missing folder
        limit = _NAME_MAX
    if limit <= 0:
        limit = _NAME_MAX
    if length > limit:
        return f"its name is {length} bytes long, more than the {limit} bytes the file system allows"
    return None


def _sweep_once(folder: Path) -> None:
    """Remove stale temporary files the first time this process writes into `folder`."""
    key = os.path.abspath(folder)
    with _swept_lock:
        if key in _swept_folders:
            return
        _swept_folders.add(key)
    remove_stale_temp_files(folder)


def _keep_mode(temp: Path, mode: int) -> None:
    """Give the new file the permissions of the one it replaces: a private (0600) photo stays private."""
    try:
        os.chmod(temp, mode)
    except OSError:
        pass  # some file systems (FAT, some network shares) have no permissions to keep


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); harmless to skip where unsupported."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a folder; the new file is already in place
    finally:
        os.close(fd)

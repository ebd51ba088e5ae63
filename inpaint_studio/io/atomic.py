"""Atomic file writing: readers see the old file or the complete new one, never half of one.

The data goes into a hidden temporary file in the destination's own folder
(so the final rename never crosses file systems), is flushed to disk, and is
then renamed over the destination in one step. If anything fails on the way,
the temporary file is removed and the destination is left as it was.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# Leave room for the random part and ".tmp" within the usual 255-byte name limit.
_MAX_NAME_STEM = 200


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Create or replace `path` with what `write` writes to the binary file it is given.

    Errors (from `write` or from the file system) propagate unchanged, after
    the temporary file has been removed.
    """
    path = Path(path)
    folder = path.parent
    temp = folder / f".{path.name[:_MAX_NAME_STEM]}.{secrets.token_hex(8)}.tmp"
    # os.open with 0o666 lets the umask decide the permissions, as for any new
    # file; tempfile.mkstemp would make the photo readable by its owner only.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        _remove_quietly(temp)
        raise
    _sync_folder(folder)


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

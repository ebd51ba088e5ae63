"""What a frozen (PyInstaller) app must set up before anything heavy is imported.

Called first thing by the frozen app's entry script (`packaging/entry.py`), in
the main process and, through the inherited environment, in batch worker
processes. A normal install needs none of it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from inpaint_studio.core import paths
from inpaint_studio.core.paths import APP_DIR_NAME


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def numba_cache_dir() -> Path:
    """A writable folder for numba's compiled-kernel cache.

    numba caches compiled kernels beside their source by default, which in a
    frozen app is inside the (possibly read-only) bundle. The user cache folder
    is used instead, or a temporary folder if that cannot be created: numba
    refuses to import a `cache=True` kernel it has nowhere to cache.
    """
    for folder in (
        paths.numba_cache_dir(),
        Path(tempfile.gettempdir()) / f"{APP_DIR_NAME}-numba-{_user_tag()}",
    ):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
    return Path(tempfile.mkdtemp(prefix=f"{APP_DIR_NAME}-numba-"))


def _user_tag() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid is not None else os.environ.get("USERNAME", "user")


def prepare_frozen_environment() -> None:
    """Set NUMBA_CACHE_DIR (unless the user did) before numba is imported; no-op when not frozen."""
    if not is_frozen():
        return
    if not os.environ.get("NUMBA_CACHE_DIR"):
        os.environ["NUMBA_CACHE_DIR"] = str(numba_cache_dir())

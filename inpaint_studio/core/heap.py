"""Keep freed memory for reuse while a large network runs (glibc only; a no-op elsewhere).

glibc serves every allocation above a threshold (at most 32 MB) with a fresh
mmap and unmaps it when freed, so a network that allocates the same large
activations on every step pays for zero-filling new pages each time. Inside
`reusing_freed_memory()` allocations come from the heap and freed memory stays
there for the next step; on leaving, the defaults return and the unused heap
is handed back to the system, so the app does not keep the peak afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
import threading
from collections.abc import Iterator

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536
_KEEP_EVERYTHING = 2**31 - 1

_lock = threading.Lock()
_users = 0


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - musl and others lack them
    except (OSError, AttributeError):
        return None
    return libc


_libc = _glibc()


@contextlib.contextmanager
def reusing_freed_memory() -> Iterator[None]:
    """Within the block (in any thread; blocks may overlap), freed memory is kept for reuse."""
    global _users
    if _libc is None:
        yield
        return
    with _lock:
        _users += 1
        if _users == 1:
            _libc.mallopt(_M_MMAP_MAX, 0)
            _libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_EVERYTHING)
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                _libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                _libc.malloc_trim(0)

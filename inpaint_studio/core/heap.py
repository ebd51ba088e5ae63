"""Keep freed memory for reuse while a large network runs (glibc only; a no-op elsewhere).

glibc serves every allocation above a threshold (at most 32 MB) with a fresh
mmap and unmaps it when freed, so a network that allocates the same large
activations on every step pays for zero-filling new pages each time. Inside
`reusing_freed_memory()` allocations come from the heap and freed memory stays
there for the next step; on leaving, the defaults return and the unused heap
is handed back to the system, so the app does not keep the peak afterwards.
With `linger` seconds, that happens only when no block started meanwhile: a
fill that follows within that time (Try Again, the next object) finds its
memory ready instead of faulting in fresh pages.
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
_pending_release: threading.Timer | None = None


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
def reusing_freed_memory(linger: float = 0.0) -> Iterator[None]:
    """Within the block (in any thread; blocks may overlap), freed memory is kept for reuse.

    After the last block ends, it is kept `linger` seconds more (unless a block starts), then handed back.
    """
    global _users, _pending_release
    if _libc is None:
        yield
        return
    with _lock:
        _users += 1
        if _pending_release is not None:  # still kept from the last block: use it
            _pending_release.cancel()
            _pending_release = None
        elif _users == 1:
            _libc.mallopt(_M_MMAP_MAX, 0)
            _libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_EVERYTHING)
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                if linger > 0:
                    timer = _pending_release = threading.Timer(linger, lambda: _release_if_unused(timer))
                    timer.daemon = True
                    timer.start()
                else:
                    _release()


def _release_if_unused(timer: threading.Timer) -> None:
    global _pending_release
    with _lock:
        if _pending_release is timer:  # not cancelled by a block that started since
            _pending_release = None
            _release()


def _release() -> None:
    assert _libc is not None
    _libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
    _libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
    _libc.malloc_trim(0)

"""What every long job shares, whoever runs it: a progress callback and a cancel token.

Engines, model downloads, detection and batches report progress and poll for
cancel the same way; the types live on the floor so none of them imports another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from inpaint_studio.core.errors import JobCancelled

# progress(fraction) with fraction in [0, 1] for the current call.
ProgressFn = Callable[[float], None]


def no_progress(fraction: float) -> None:
    """A progress callback that ignores its argument."""


class CancelToken:
    """Shared flag a job polls; set from any thread to stop the job at its next check."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise JobCancelled("The job was cancelled.")

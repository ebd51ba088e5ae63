"""Fill jobs of the open documents: which document a job fills, and the one rule for runs asked for meanwhile.

At most one fill is in flight. It belongs to the document it was started
from: its result lands there (with the provenance the worker made of what
really ran), even if another photo of a folder is shown by then. A run asked
for while one is in flight is not queued as a snapshot (its mask would still
hold what the running job is filling): it is remembered, the newest request
winning, and started from the document's newest mask and image when the
running job ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from inpaint_studio.core.document import Document, ResultLayer
from inpaint_studio.core.fill_tries import add_try
from inpaint_studio.core.mask_ops import is_empty
from inpaint_studio.core.retouch import add_to_retouch
from inpaint_studio.worker import (
    FillRequest,
    JobCancelledMessage,
    JobFailed,
    JobFinished,
    WorkerMessage,
)


class FillRunner(Protocol):
    """What runs the jobs: `worker.EngineWorker`, or a stand-in in tests."""

    def submit(self, request: FillRequest) -> int: ...

    def cancel(self, job_id: int | None = None) -> None: ...


class FillAsk(Enum):
    """The answer to 'fill this document's mask now'."""

    NOTHING = "nothing"  # no document, or an empty mask
    LATER = "later"  # a fill is in flight: this one runs when it ends, from the newest mask
    NOW = "now"  # nothing in flight: start it


@dataclass(frozen=True)
class FillJob:
    id: int
    request: FillRequest
    document: Document  # the document the result lands on
    retouch: bool = False  # spot healing: into the retouch layer, not a layer of its own
    try_of: ResultLayer | None = None  # "Try again": another result for this layer, not a new layer


class Fills:
    def __init__(self, runner: FillRunner) -> None:
        self.runner = runner
        self.job: FillJob | None = None
        self._wanted: Document | None = None  # asked for while the job ran: newest request wins
        # The request of the job that ended last: its arrays hold the next snapshot (see FillRequest.snapshot).
        self.spare: FillRequest | None = None

    @property
    def busy(self) -> bool:
        return self.job is not None

    def ask(self, document: Document | None) -> FillAsk:
        """Whether a fill of `document` can start now; remembered for later when one is in flight."""
        if document is None or is_empty(document.mask):
            return FillAsk.NOTHING
        if self.job is not None:
            self._wanted = document
            return FillAsk.LATER
        return FillAsk.NOW

    def start(
        self, document: Document, request: FillRequest, retouch: bool = False, try_of: ResultLayer | None = None
    ) -> int:
        """Submit `request` (a snapshot of `document`) as the job in flight."""
        if self.job is not None:
            raise RuntimeError("a fill is already in flight; ask() says when to start one")
        self.job = FillJob(self.runner.submit(request), request, document, retouch, try_of)
        self._wanted = None
        self.spare = None  # its arrays may now be this request's
        return self.job.id

    def handle(self, message: WorkerMessage) -> FillJob | None:
        """The job `message` is about, or None when it is about a job that was cancelled or replaced.

        A finished job's fill is added to its document as a new layer here; after
        any end (finished, failed, cancelled) no job is in flight.
        """
        job = self.job
        if job is None or message.job_id != job.id:
            return None
        if isinstance(message, (JobFinished, JobFailed, JobCancelledMessage)):
            self.job, self.spare = None, job.request
        if isinstance(message, JobFinished) and job.retouch:
            add_to_retouch(job.document, message.patches, f"Spot healing ({message.engine_name})")
        elif isinstance(message, JobFinished) and job.try_of is not None:
            # A layer deleted meanwhile takes its tries with it (undoing the deletion brings back the others).
            if message.patches and job.try_of in job.document.layers:
                add_try(job.document, job.try_of, message.patches, dict(message.provenance))
        elif isinstance(message, JobFinished):
            name = f"Remove {_next_fill_number(job.document)} · {message.engine_name}"
            job.document.add_fill(message.patches, job.request.mask, name, dict(message.provenance))
        elif isinstance(message, JobFailed):
            self._wanted = None  # the same request would fail again
        return job

    def take_wanted(self, shown: Document | None) -> bool:
        """True (once) when a run asked for meanwhile should start now: no job in flight, and it was asked
        for the document shown now, whose mask still holds something to fill."""
        wanted, self._wanted = self._wanted, None
        return self.job is None and wanted is not None and wanted is shown and not is_empty(wanted.mask)

    def forget_wanted(self) -> None:
        """Another photo is shown: a run asked for the previous one is not one for this one."""
        self._wanted = None

    def cancel(self) -> None:
        """Cancel the job in flight, and any run asked for meanwhile."""
        self._wanted = None
        if self.job is not None:
            self.runner.cancel(self.job.id)

    def cancel_for(self, document: Document) -> None:
        """Cancel the job in flight if it fills `document` (an undo there would make its result stale)."""
        if self.job is None or self.job.document is document:
            self.cancel()


def _next_fill_number(document: Document) -> int:
    """Fills are named "Remove 1 · PatchMatch", "Remove 2 · LaMa"...: the Layers panel tells them apart."""
    numbers = [int(match.group(1)) for layer in document.layers if (match := _FILL_NAME.match(layer.name))]
    return max(numbers, default=0) + 1


_FILL_NAME = re.compile(r"Remove (\d+) · ")

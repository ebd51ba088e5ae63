"""The background job runner shared by the GUI and anything else that must not block."""

from inpaint_studio.worker.engine_worker import (
    EngineWorker,
    FillRequest,
    JobCancelledMessage,
    JobFailed,
    JobFinished,
    JobPreview,
    JobProgress,
    JobStarted,
    WorkerMessage,
)

__all__ = [
    "EngineWorker",
    "FillRequest",
    "JobCancelledMessage",
    "JobFailed",
    "JobFinished",
    "JobPreview",
    "JobProgress",
    "JobStarted",
    "WorkerMessage",
]

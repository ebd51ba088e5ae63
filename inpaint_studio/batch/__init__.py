"""Folder processing shared by the CLI (`inpaint-studio batch`) and the GUI's batch dialog.

Streaming pieces (imported from their modules): `manifest` (the planned items in a file),
`report` (one line per finished photo; the journal a rerun resumes from), `streaming`
(manifest -> backend -> report), `ray_backend` (the items on a Ray cluster; imports Ray).
"""

from inpaint_studio.batch.file_job import FileOutcome, process_file
from inpaint_studio.batch.pairing import (
    DEFAULT_NAME,
    BatchItem,
    check_name_pattern,
    iter_plan,
    output_name,
    plan_batch,
)
from inpaint_studio.batch.runner import (
    FAILED,
    SKIPPED,
    WRITTEN,
    BatchReport,
    BatchSettings,
    BatchTotals,
    ItemResult,
    prepare_engine,
    run_batch,
    stream_batch,
)
from inpaint_studio.io.photo_files import find_images

__all__ = [
    "FileOutcome",
    "process_file",
    "DEFAULT_NAME",
    "BatchItem",
    "check_name_pattern",
    "find_images",
    "iter_plan",
    "output_name",
    "plan_batch",
    "FAILED",
    "SKIPPED",
    "WRITTEN",
    "BatchReport",
    "BatchSettings",
    "BatchTotals",
    "ItemResult",
    "prepare_engine",
    "run_batch",
    "stream_batch",
]

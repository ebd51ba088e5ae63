"""Folder processing shared by the CLI (`inpaint-studio batch`) and the GUI's batch dialog."""

from inpaint_studio.batch.file_job import FileOutcome, process_file
from inpaint_studio.batch.pairing import (
    DEFAULT_NAME,
    BatchItem,
    check_name_pattern,
    output_name,
    plan_batch,
)
from inpaint_studio.batch.runner import (
    FAILED,
    SKIPPED,
    WRITTEN,
    BatchReport,
    BatchSettings,
    ItemResult,
    prepare_engine,
    run_batch,
)
from inpaint_studio.io.photo_files import find_images

__all__ = [
    "FileOutcome",
    "process_file",
    "DEFAULT_NAME",
    "BatchItem",
    "check_name_pattern",
    "find_images",
    "output_name",
    "plan_batch",
    "FAILED",
    "SKIPPED",
    "WRITTEN",
    "BatchReport",
    "BatchSettings",
    "ItemResult",
    "prepare_engine",
    "run_batch",
]

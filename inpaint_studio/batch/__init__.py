"""Folder processing shared by the CLI (`inpaint-studio batch`) and the GUI."""

from inpaint_studio.batch.file_job import FileOutcome, process_file
from inpaint_studio.batch.pairing import BatchItem, find_images, plan_batch
from inpaint_studio.batch.runner import FAILED, SKIPPED, WRITTEN, BatchReport, BatchSettings, ItemResult, run_batch

__all__ = [
    "FileOutcome",
    "process_file",
    "BatchItem",
    "find_images",
    "plan_batch",
    "FAILED",
    "SKIPPED",
    "WRITTEN",
    "BatchReport",
    "BatchSettings",
    "ItemResult",
    "run_batch",
]

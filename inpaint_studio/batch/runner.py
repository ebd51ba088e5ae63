"""Process a planned batch, in this process or in a pool of worker processes.

Each worker process loads the engine once and handles one file at a time;
only paths and short reports cross process boundaries, and at most a few
items are in flight, so memory stays flat however large the folder is.
A failure is recorded against its file and the batch goes on.

An item's mask is a file (`batch.file_job.process_file`, as `inpaint-studio
remove` does) or, for `BatchItem.detect`, the scratches and dust the worker
finds in the photo (`batch.restore_job.restore_file`, as `inpaint-studio restore`
does). The CLI and the GUI's batch dialog both run `plan_batch` + `run_batch`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from inpaint_studio.batch.file_job import process_file
from inpaint_studio.batch.pairing import BatchItem
from inpaint_studio.batch.restore_job import restore_file
from inpaint_studio.core.errors import (
    EngineNotReadyError,
    InpaintStudioError,
    JobCancelled,
    plain_reason,
)
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.engines.base import Engine
from inpaint_studio.engines.registry import create_engine
from inpaint_studio.models.store import ModelStore
from inpaint_studio.restore.detect import (
    DEFAULT_DETECTOR,
    DEFAULT_SENSITIVITY,
    threshold_for,
)

WRITTEN, SKIPPED, FAILED = "written", "skipped", "failed"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ItemResult:
    item: BatchItem
    status: str  # WRITTEN, SKIPPED or FAILED
    message: str = ""  # why it was skipped or failed, or warnings
    seconds: float = 0.0


@dataclass
class BatchReport:
    results: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False

    def with_status(self, status: str) -> list[ItemResult]:
        return [r for r in self.results if r.status == status]


@dataclass(frozen=True)
class BatchSettings:
    """Everything a worker needs besides the item; plain data so it pickles cheaply."""

    engine_id: str
    device: str = "cpu"
    params: Mapping[str, Any] = field(default_factory=dict)
    quality: int | None = None
    max_pixels: int | None = None
    model_store: ModelStore | None = None  # plain data, so it pickles to the worker processes
    sensitivity: float = DEFAULT_SENSITIVITY  # scratch detection, for items with `detect`
    detector: str = DEFAULT_DETECTOR

    def __post_init__(self) -> None:
        threshold_for(self.sensitivity, self.detector)  # a bad value fails here, not once per photo


def _run_item(engine: Engine, item: BatchItem, settings: BatchSettings, cancel: CancelToken | None = None) -> ItemResult:
    """Process one item; every error becomes a FAILED result except JobCancelled, which the caller handles."""
    started = time.perf_counter()
    if item.mask is None and not item.detect:
        return ItemResult(item, FAILED, f"no mask named '{item.image.stem}.*' or '{item.image.stem}_mask.*' was found")
    quality, max_pixels = settings.quality, settings.max_pixels
    try:
        if item.detect:
            outcome = restore_file(
                engine, item.image, item.output, settings.params, sensitivity=settings.sensitivity,
                detector=settings.detector, quality=quality, max_pixels=max_pixels, cancel=cancel,
            )
        else:
            assert item.mask is not None
            outcome = process_file(
                engine, item.image, item.mask, item.output, settings.params,
                quality=quality, max_pixels=max_pixels, cancel=cancel,
            )
    except JobCancelled:
        raise
    except InpaintStudioError as error:
        return ItemResult(item, FAILED, str(error), time.perf_counter() - started)
    except MemoryError:
        return ItemResult(item, FAILED, "not enough memory to process this photo", time.perf_counter() - started)
    except Exception as error:
        log.exception("batch item %s failed", item.image)
        return ItemResult(item, FAILED, plain_reason(error), time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if outcome.skipped:
        return ItemResult(item, SKIPPED, outcome.skipped, seconds)
    return ItemResult(item, WRITTEN, " ".join(outcome.warnings), seconds)


# Per worker process: the engine, created once by the pool initializer.
_worker_engine: Engine | None = None


def _init_worker(settings: BatchSettings) -> None:
    global _worker_engine
    import cv2

    _exit_with_parent()
    _warnings_to_log()
    # One OpenCV thread per process: the pool already uses every core.
    cv2.setNumThreads(1)
    _worker_engine = create_engine(settings.engine_id, settings.device, model_store=settings.model_store)


def _exit_with_parent() -> None:
    """End this worker process as soon as the process that started it ends, however it ends (kill -9 too).

    The pool stops its workers only while it lives; an orphaned worker would otherwise sit idle,
    holding its engine (hundreds of megabytes), for minutes. A spawned child holds the read end
    of a pipe whose write end only its parent has: the end of file on it (the parent's
    "sentinel", a process handle on Windows) is the parent's death, on every platform.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)  # nothing to clean up that the parent could still want; a half-written file stays a temp file

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _warnings_to_log() -> None:
    """Python warnings in a worker go to logging, not to the terminal the batch runs in."""
    logging.captureWarnings(True)
    if not logging.getLogger().handlers:
        logging.getLogger("py.warnings").addHandler(logging.NullHandler())


def _worker_run(item: BatchItem, settings: BatchSettings) -> ItemResult:
    assert _worker_engine is not None
    return _run_item(_worker_engine, item, settings)


def prepare_engine(settings: BatchSettings) -> Engine:
    """Create the engine and check it can run, before any file is touched."""
    engine = create_engine(settings.engine_id, settings.device, model_store=settings.model_store)
    engine.resolve_params(settings.params)  # refuse bad parameters up front
    reason = engine.readiness(settings.params)
    if reason:
        raise EngineNotReadyError(reason)
    return engine


def run_batch(
    items: list[BatchItem],
    settings: BatchSettings,
    *,
    workers: int = 1,
    skip_existing: bool = False,
    on_result: Callable[[ItemResult], None] = lambda result: None,
    cancel: CancelToken | None = None,
    engine: Engine | None = None,
) -> BatchReport:
    """Process `items`; `on_result` is called (in this thread) as each one finishes.

    `engine`: one `prepare_engine(settings)` already made (a caller that checked
    the engine before starting need not create it twice).

    `cancel` stops the batch: no new photo is started; in this process the photo
    being filled is dropped (nothing is written for it), in worker processes the
    photos already running finish. Outputs are written atomically either way.
    """
    cancel = cancel or CancelToken()
    engine = engine if engine is not None else prepare_engine(settings)
    report = BatchReport()
    started = time.perf_counter()

    def record(result: ItemResult) -> None:
        report.results.append(result)
        on_result(result)

    todo = []
    for item in items:
        if skip_existing and item.output.exists():
            record(ItemResult(item, SKIPPED, "the output already exists"))
        else:
            todo.append(item)
    if todo:
        for folder in {item.output.parent for item in todo}:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise InpaintStudioError(f"Cannot create the output folder '{folder}': {error.strerror}.") from None

    if settings.device != "cpu":
        workers = 1  # processes would each load the model into the one GPU's memory
    if workers <= 1 or len(todo) <= 1:
        for item in todo:
            if cancel.cancelled:
                break
            try:
                result = _run_item(engine, item, settings, cancel)
            except JobCancelled:
                break  # the photo in progress is dropped; nothing was written for it
            record(result)
    else:
        _run_in_pool(todo, settings, workers, record, cancel)

    report.cancelled = cancel.cancelled and len(report.results) < len(items)
    report.seconds = time.perf_counter() - started
    return report


def _run_in_pool(
    todo: list[BatchItem],
    settings: BatchSettings,
    workers: int,
    record: Callable[[ItemResult], None],
    cancel: CancelToken,
) -> None:
    # spawn, not fork: forking a process that runs Qt or other threads can deadlock.
    context = multiprocessing.get_context("spawn")
    pending = list(reversed(todo))
    # Photos in flight when a worker died: any of them may have caused it, so each is
    # retried alone; one that kills its worker again is reported as failed.
    suspects: list[BatchItem] = []
    while (pending or suspects) and not cancel.cancelled:
        alone = bool(suspects)
        queue = suspects if alone else pending
        window = 1 if alone else 2 * workers  # a small window keeps memory flat for huge folders
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(settings,)) as pool:
            in_flight: dict[Future, BatchItem] = {}
            try:
                while (queue or in_flight) and not cancel.cancelled:
                    while queue and len(in_flight) < window:
                        item = queue.pop()
                        in_flight[pool.submit(_worker_run, item, settings)] = item
                    done, _ = wait(in_flight, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in done:
                        # result() first: if the pool broke, the item must stay in flight to be handled below.
                        record(future.result())
                        in_flight.pop(future)
            except BrokenProcessPool:
                for future, item in in_flight.items():
                    if future.done() and future.exception() is None:
                        record(future.result())
                    elif alone:
                        record(ItemResult(item, FAILED, "the worker process stopped unexpectedly (out of memory?)"))
                    else:
                        suspects.append(item)
                continue
            if cancel.cancelled:
                for future in in_flight:
                    future.cancel()
                for future, _item in in_flight.items():
                    if not future.cancelled():
                        record(future.result())

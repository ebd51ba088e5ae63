"""Process a planned batch, in this process or in a pool of worker processes.

Each worker process loads the engine once and handles one file at a time;
only paths and short reports cross process boundaries, and at most a few
items are in flight, so memory stays flat however large the folder is.
A failure is recorded against its file and the batch goes on.

`stream_batch` takes the items from any iterable as workers need them and hands
each result to a callback only (the CLI streams a manifest into a report this
way); `run_batch` is the same run keeping the results in a `BatchReport` (the
GUI's batch dialog). `batch.ray_backend` runs the same items on a Ray cluster.

An item's mask is a file (`batch.file_job.process_file`, as `inpaint-studio
remove` does) or, for `BatchItem.detect`, the scratches and dust the worker
finds in the photo (`batch.restore_job.restore_file`, as `inpaint-studio restore`
does). The CLI and the GUI's batch dialog both run `plan_batch` + `run_batch`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
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
    worker: str = ""  # "host:pid" of the process that did it


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class BatchTotals:
    """What a streamed batch keeps: counts, never the list of results."""

    written: int = 0
    skipped: int = 0
    failed: int = 0
    already_done: int = 0  # left out: an earlier run's report says they are done (`batch.streaming`)
    seconds: float = 0.0
    cancelled: bool = False  # stopped by its cancel token before every item was done

    def add(self, result: ItemResult) -> None:
        if result.status == WRITTEN:
            self.written += 1
        elif result.status == SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1

    def counting(self, on_result: Callable[[ItemResult], None]) -> Callable[[ItemResult], None]:
        """`on_result`, each result counted here first."""

        def record(result: ItemResult) -> None:
            self.add(result)
            on_result(result)

        return record

    @property
    def processed(self) -> int:
        return self.written + self.skipped + self.failed


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
    started, worker = time.perf_counter(), worker_name()
    if item.mask is None and not item.detect:
        message = f"no mask named '{item.image.stem}.*' or '{item.image.stem}_mask.*' was found"
        return ItemResult(item, FAILED, message, worker=worker)
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
        return ItemResult(item, FAILED, str(error), time.perf_counter() - started, worker)
    except MemoryError:
        return ItemResult(item, FAILED, "not enough memory to process this photo", time.perf_counter() - started, worker)
    except Exception as error:
        log.exception("batch item %s failed", item.image)
        return ItemResult(item, FAILED, plain_reason(error), time.perf_counter() - started, worker)
    seconds = time.perf_counter() - started
    if outcome.skipped:
        return ItemResult(item, SKIPPED, outcome.skipped, seconds, worker)
    return ItemResult(item, WRITTEN, " ".join(outcome.warnings), seconds, worker)


# Per worker process: the engine, created once by the pool initializer.
_worker_engine: Engine | None = None


def _init_worker(settings: BatchSettings) -> None:
    global _worker_engine
    import faulthandler

    import cv2

    from inpaint_studio.core.paths import log_dir

    try:
        # A native crash (a segfault in OpenCV, numba or torch code) writes this worker's Python traceback into
        # the app's log file (session.logs' inpaint-studio.log; this layer cannot import it). faulthandler
        # holds the file object, which stays open for the life of the worker.
        faulthandler.enable(open(log_dir() / "inpaint-studio.log", "a", encoding="utf-8"), all_threads=True)
    except OSError:
        pass  # no log folder: a crashed worker is reported by the batch as before, without a trace
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
    items: Iterable[BatchItem],
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
    report = BatchReport()

    def record(result: ItemResult) -> None:
        report.results.append(result)
        on_result(result)

    totals = stream_batch(
        items, settings, workers=workers, skip_existing=skip_existing, on_result=record, cancel=cancel, engine=engine
    )
    report.seconds, report.cancelled = totals.seconds, totals.cancelled
    return report


def stream_batch(
    items: Iterable[BatchItem],
    settings: BatchSettings,
    *,
    workers: int = 1,
    skip_existing: bool = False,
    on_result: Callable[[ItemResult], None] = lambda result: None,
    cancel: CancelToken | None = None,
    engine: Engine | None = None,
) -> BatchTotals:
    """`run_batch` in flat memory: items are taken from `items` only as workers need them (at most
    2 x `workers` in flight), each result goes to `on_result` only, and counts are returned."""
    cancel = cancel or CancelToken()
    engine = engine if engine is not None else prepare_engine(settings)
    totals = BatchTotals()
    started = time.perf_counter()
    record = totals.counting(on_result)
    queue = ItemQueue(items, record, skip_existing=skip_existing)
    if settings.device != "cpu":
        workers = 1  # processes would each load the model into the one GPU's memory
    dropped = False  # a photo started was left unfinished by a cancel
    if workers <= 1 or not queue.has_more(2):
        while not cancel.cancelled and (item := queue.take()) is not None:
            try:
                result = _run_item(engine, item, settings, cancel)
            except JobCancelled:
                dropped = True  # the photo in progress is dropped; nothing was written for it
                break
            record(result)
    else:
        dropped = _run_in_pool(queue, settings, workers, record, cancel)

    totals.cancelled = cancel.cancelled and (dropped or queue.has_more())
    totals.seconds = time.perf_counter() - started
    return totals


class ItemQueue:
    """The items of a batch, taken one at a time as workers need them.

    With `skip_existing`, an item whose output exists is recorded as skipped instead;
    each output folder is created when its first item is taken (an error stops the batch).
    """

    def __init__(self, items: Iterable[BatchItem], record: Callable[[ItemResult], None], *, skip_existing: bool = False):
        self._items: Iterator[BatchItem] = iter(items)
        self._record, self._skip_existing = record, skip_existing
        self._ahead: list[BatchItem] = []  # looked at, not yet taken; the next one last
        self._folders: set[Path] = set()

    def take(self) -> BatchItem | None:
        """The next item to process, or None when there are no more."""
        while (item := self._next()) is not None:
            if self._skip_existing and item.output.exists():
                self._record(ItemResult(item, SKIPPED, "the output already exists"))
                continue
            folder = item.output.parent
            if folder not in self._folders:
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    raise InpaintStudioError(f"Cannot create the output folder '{folder}': {error.strerror}.") from None
                self._folders.add(folder)
            return item
        return None

    def has_more(self, count: int = 1) -> bool:
        """Whether at least `count` items remain (they stay in the queue)."""
        while len(self._ahead) < count and (item := next(self._items, None)) is not None:
            self._ahead.insert(0, item)
        return len(self._ahead) >= count

    def _next(self) -> BatchItem | None:
        return self._ahead.pop() if self._ahead else next(self._items, None)


def _run_in_pool(
    queue: ItemQueue,
    settings: BatchSettings,
    workers: int,
    record: Callable[[ItemResult], None],
    cancel: CancelToken,
) -> bool:
    """Run the queue's items in worker processes; True if a cancel left photos unstarted in flight."""
    # spawn, not fork: forking a process that runs Qt or other threads can deadlock.
    context = multiprocessing.get_context("spawn")
    # Photos in flight when a worker died: any of them may have caused it, so each is
    # retried alone; one that kills its worker again is reported as failed.
    suspects: list[BatchItem] = []
    dropped = False
    while (suspects or queue.has_more()) and not cancel.cancelled:
        alone = bool(suspects)
        window = 1 if alone else 2 * workers  # a small window keeps memory flat for huge folders

        def next_item(alone: bool = alone) -> BatchItem | None:
            if alone:
                return suspects.pop() if suspects else None
            return queue.take()

        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(settings,)) as pool:
            in_flight: dict[Future, BatchItem] = {}
            try:
                while not cancel.cancelled:
                    while len(in_flight) < window and (item := next_item()) is not None:
                        in_flight[pool.submit(_worker_run, item, settings)] = item
                    if not in_flight:
                        break
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
                for future in in_flight:
                    if future.cancelled():
                        dropped = True
                    else:
                        record(future.result())
    return dropped

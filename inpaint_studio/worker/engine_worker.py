"""A background thread that owns the loaded engine and runs fill jobs one at a time.

The GUI (or any caller) submits an immutable `FillRequest` and gets typed
messages back through one callback, called on the worker thread; the Qt layer
forwards them to the GUI thread. Jobs run in the order they were submitted.
Errors come back as `JobFailed` values, never as exceptions crossing threads.
A finished job carries its provenance, made here from what really ran (the
device after a GPU fallback, every parameter), so the caller only applies it.
Which request is worth running (the newest edit) is the caller's rule:
`session.fills` holds it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from inpaint_studio.core.devices import Device
from inpaint_studio.core.errors import InpaintStudioError, JobCancelled, plain_reason
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.core.patch import Patch
from inpaint_studio.core.sampling import SamplingArea
from inpaint_studio.engines.base import Engine, RunReport
from inpaint_studio.engines.pipeline import DEFAULT_FEATHER, inpaint_patches
from inpaint_studio.engines.registry import create_engine
from inpaint_studio.models.store import ModelFiles
from inpaint_studio.worker.provenance import fill_provenance

log = logging.getLogger(__name__)

def _frozen(array: np.ndarray, into: np.ndarray | None = None) -> np.ndarray:
    """A read-only copy of `array`, made in `into` (an array nobody reads any more) when it fits."""
    if into is not None and into.shape == array.shape and into.dtype == array.dtype and into.flags.owndata:
        into.flags.writeable = True
        np.copyto(into, array)
        copy = into
    else:
        copy = np.array(array, copy=True)
    copy.flags.writeable = False
    return copy


@dataclass(frozen=True)
class FillRequest:
    """A snapshot of everything one job needs; the caller may keep editing its own arrays."""

    image: np.ndarray  # uint8 (H, W, 3) RGB
    mask: np.ndarray  # uint8 (H, W), 255 = fill
    engine_id: str
    device: Device = Device.CPU
    params: Mapping[str, Any] = field(default_factory=dict)
    feather: int = DEFAULT_FEATHER
    sampling: SamplingArea | None = None  # where engines that copy from the photo may copy from

    @classmethod
    def snapshot(
        cls, image: np.ndarray, mask: np.ndarray, engine_id: str, *, reuse: FillRequest | None = None, **options: Any
    ) -> FillRequest:
        """Copies of `image` and `mask` with the job's options.

        `reuse` is the request of a job that has ended: its arrays are overwritten when their shapes
        match. Copying into memory in use takes ~15 ms for a 14.7-megapixel photo on the GUI thread;
        fresh memory costs 40-100 ms more in page faults, every fill.
        """
        params = MappingProxyType(dict(options.pop("params", {})))
        if options.get("sampling") is not None:
            options["sampling"] = options["sampling"].copy()
        old_image, old_mask = (reuse.image, reuse.mask) if reuse is not None else (None, None)
        return cls(_frozen(image, old_image), _frozen(mask, old_mask), engine_id, params=params, **options)


def _not_sharing(patch: Patch, request: FillRequest) -> Patch:
    """`patch`, copied if its pixels could be views of the request's arrays (an engine returning its input)."""
    if np.may_share_memory(patch.rgb, request.image) or np.may_share_memory(patch.alpha, request.mask):
        return Patch(patch.x, patch.y, patch.rgb.copy(), patch.alpha.copy())
    return patch


@dataclass(frozen=True)
class JobStarted:
    job_id: int


@dataclass(frozen=True)
class JobProgress:
    job_id: int
    fraction: float


@dataclass(frozen=True)
class JobPreview:
    """The fill as it emerges (slow engines): shown until the job ends, never added to the document."""

    job_id: int
    patch: Patch


@dataclass(frozen=True)
class JobFinished:
    job_id: int
    patches: list[Patch]
    seconds: float
    # How the fill was made (engine, the device that really ran it, every parameter, the seed).
    provenance: Mapping[str, Any] = field(default_factory=dict)
    engine_name: str = ""
    # Something the user should know about the result, e.g. a fall back to the CPU.
    notice: str | None = None


@dataclass(frozen=True)
class JobFailed:
    job_id: int
    message: str


@dataclass(frozen=True)
class JobCancelledMessage:
    job_id: int


WorkerMessage = JobStarted | JobProgress | JobPreview | JobFinished | JobFailed | JobCancelledMessage


class EngineWorker:
    """Runs fill jobs on one background thread; see the module docstring."""

    def __init__(self, on_message: Callable[[WorkerMessage], None], model_store: ModelFiles | None = None) -> None:
        self._on_message = on_message
        self._model_store = model_store  # where learned engines find their model files
        self._lock = threading.Condition()
        self._queued: deque[tuple[int, FillRequest]] = deque()
        self._running: tuple[int, CancelToken] | None = None
        self._next_id = 1
        self._stopping = False
        self._release_wanted = False
        self._engine: Engine | None = None
        self._thread = threading.Thread(target=self._loop, name="engine-worker", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ caller side

    def submit(self, request: FillRequest) -> int:
        """Queue `request` after any others and return its job id."""
        with self._lock:
            if self._stopping:
                raise RuntimeError("the worker has been shut down")
            job_id = self._next_id
            self._next_id += 1
            self._queued.append((job_id, request))
            self._lock.notify()
        return job_id

    def cancel(self, job_id: int | None = None) -> None:
        """Cancel the running job and drop the queued ones (or only job `job_id`)."""
        with self._lock:
            dropped = [queued_id for queued_id, _ in self._queued if job_id in (None, queued_id)]
            self._queued = deque(job for job in self._queued if job[0] not in dropped)
            if self._running is not None and job_id in (None, self._running[0]):
                self._running[1].cancel()
        for queued_id in dropped:
            self._on_message(JobCancelledMessage(queued_id))

    def release_engine(self, model_store: ModelFiles | None = None) -> None:
        """Unload the engine (its model's memory) as soon as no job uses it.

        Called when the user switches engine or model folder; with `model_store`,
        later engines find their models there.
        """
        with self._lock:
            if model_store is not None:
                self._model_store = model_store
            self._release_wanted = True
            self._lock.notify()

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._running is not None or bool(self._queued)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel everything, stop the thread and free the engine."""
        self.cancel()
        with self._lock:
            self._stopping = True
            self._lock.notify()
        self._thread.join(timeout)

    # ------------------------------------------------------------ worker side

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._queued and not self._stopping and not self._release_wanted:
                    self._lock.wait()
                if self._stopping:
                    break
                release, self._release_wanted = self._release_wanted, False
                job = self._queued.popleft() if self._queued else None
                if job is not None:
                    token = CancelToken()
                    self._running = (job[0], token)
            if release:
                self._unload_engine()
            if job is None:
                continue
            try:
                self._run(job[0], job[1], token)
            finally:
                with self._lock:
                    self._running = None
        self._unload_engine()

    def _unload_engine(self) -> None:
        if self._engine is not None:
            self._engine.unload()
            self._engine = None

    def _engine_for(self, request: FillRequest) -> Engine:
        engine = self._engine
        if engine is None or engine.info.id != request.engine_id or engine.device != request.device:
            self._unload_engine()  # free the old model before loading the next
            engine = self._engine = create_engine(request.engine_id, request.device, model_store=self._model_store)
        return engine

    def _run(self, job_id: int, request: FillRequest, token: CancelToken) -> None:
        send = self._on_message
        send(JobStarted(job_id))
        started = time.perf_counter()
        report = RunReport()
        try:
            engine = self._engine_for(request)
            patches = inpaint_patches(
                engine,
                request.image,
                request.mask,
                request.params,
                progress=lambda fraction: send(JobProgress(job_id, fraction)),
                cancel=token,
                feather=request.feather,
                preview=lambda patch: send(JobPreview(job_id, patch)),
                report=report,
                sampling=request.sampling,
            )
            # Request arrays are reused for the next job's snapshot: a layer must never share their memory.
            patches = [_not_sharing(patch, request) for patch in patches]
            provenance = fill_provenance(type(engine), request.params, report.device or request.device, report.precision)
            if request.sampling is not None and engine.info.copies_from_photo:
                provenance["sampling_area"] = "painted"  # copied only from where the user allowed
        except JobCancelled:
            send(JobCancelledMessage(job_id))
        except InpaintStudioError as error:
            send(JobFailed(job_id, str(error)))
        except MemoryError:
            send(JobFailed(job_id, "Not enough memory for this fill. Try a smaller selection or a lighter engine."))
        except Exception as error:
            log.exception("fill job %d with %s failed", job_id, request.engine_id)
            send(JobFailed(job_id, f"The engine stopped: {plain_reason(error)}."))
        else:
            seconds = time.perf_counter() - started
            notice = " ".join(report.notices) or None
            send(JobFinished(job_id, patches, seconds, provenance, engine.info.name, notice))

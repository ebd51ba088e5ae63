"""The Ray backend: a batch's items on the actors of a Ray cluster (`pip install "inpaint-studio[cluster]"`).

One actor per worker CPU, or per GPU for an engine on CUDA, loads the engine once and does
whole photos with the local workers' own `_run_item` (decode, fill, atomic write), so the
outputs are the local backend's, bit for bit. A GPU actor takes its two photos at once, in two
threads, one filling at a time: the next photo is decoded, and the last one encoded, while the
GPU fills (`OneFillAtATime`), so the GPU does not wait for the CPU stages. Only paths and short results cross the
network: the actors read and write the photos on storage that every node mounts at the
same paths (one machine's disk, NFS), as the driver (this process) does, which reads the
items as a stream, keeps at most `IN_FLIGHT_PER_ACTOR` per actor queued, and hands each
result to `on_result` as it comes. Memory stays flat on both sides, whatever the number
of photos.

Ray core actors rather than a Ray Data pipeline: the items are a few hundred bytes of paths,
so there are no blocks of data to stream between stages, and the failure rules must be the
local backend's, per photo: Ray Data's actor pools retry a task whose actor died without
limit (a photo that crashes its worker would be retried for ever), or, when limited, fail
or drop the whole block of photos with it. Here an actor that dies (killed, out of memory,
its node lost) is restarted by Ray and loads the engine again; the photos it had in flight
are retried one at a time, alone on an actor, and one that kills its actor again is
reported failed. No photo is lost silently: each one is written, skipped or failed.

Ray is imported here only, when a batch asks for it; the standalone app never ships it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, cast

from inpaint_studio import __version__
from inpaint_studio.batch.pairing import BatchItem
from inpaint_studio.batch.runner import (
    FAILED,
    BatchSettings,
    BatchTotals,
    ItemQueue,
    ItemResult,
    _run_item,
    _warnings_to_log,
    worker_name,
)
from inpaint_studio.core.errors import InpaintStudioError, plain_reason
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.engines.base import Engine
from inpaint_studio.engines.registry import create_engine, engine_class

INSTALL_HINT = 'The Ray backend needs `pip install "inpaint-studio[cluster]"`.'
IN_FLIGHT_PER_ACTOR = 2  # one running, one waiting: the actor never idles while the driver catches up
STALL_SECONDS = 600.0  # no actor alive for this long (all restarting, no room on the cluster): give up
CLIENT_ATTEMPTS = 3  # Ray Client connections whose server-side session failed to start
CLIENT_RETRY_SECONDS = 1.0
log = logging.getLogger(__name__)
CRASHED = "the Ray worker stopped unexpectedly while processing this photo, twice (out of memory? node lost?)"


def import_ray() -> Any:
    """The `ray` module, or InpaintStudioError saying how to install it."""
    try:  # by name: neither the app's start nor the type checker needs Ray
        return importlib.import_module("ray")
    except ImportError:
        raise InpaintStudioError(INSTALL_HINT) from None


class OneFillAtATime:
    """An engine shared by an actor's threads: its fills run one at a time, everything else around them freely."""

    def __init__(self, engine: Any) -> None:
        self._engine, self._lock = engine, threading.Lock()

    def inpaint(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._engine.inpaint(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # info, resolve_params, paste_alpha ...: read-only, shared
        return getattr(self._engine, name)


def actor_options(device: str) -> dict[str, Any]:
    """Ray options of a FillWorker: restarted when it dies, its calls never retried (the driver decides)."""
    options: dict[str, Any] = {"num_cpus": 1, "max_restarts": -1, "max_task_retries": 0}
    if device == "cuda":
        # Its own GPU (Ray sets CUDA_VISIBLE_DEVICES), and both photos in flight at once (OneFillAtATime).
        options.update(num_gpus=1, max_concurrency=IN_FLIGHT_PER_ACTOR)
    return options


class FillWorker:
    """One Ray actor: the engine, created once, and the photos it is given (on a GPU, two at once)."""

    def __init__(self, settings: BatchSettings) -> None:
        _warnings_to_log()
        self.settings, self.problem = settings, ""
        try:
            engine = create_engine(settings.engine_id, settings.device, model_store=settings.model_store)
            # The proxy stands in for the engine wherever the pipeline uses one (duck-typed).
            self.engine = cast(Engine, OneFillAtATime(engine)) if settings.device == "cuda" else engine
        except Exception as error:  # said by ready(): an actor whose __init__ raised would only be "dead"
            log.exception("the engine could not be created")
            self.problem = str(error) if isinstance(error, InpaintStudioError) else plain_reason(error)

    def ready(self) -> tuple[str, str, str]:
        """This worker's name, the inpaint-studio version it runs, and why it cannot fill ("" if it can)."""
        return worker_name(), __version__, self.problem

    def run(self, item: BatchItem) -> ItemResult:
        return _run_item(self.engine, item, self.settings)


@dataclass(eq=False)
class _Actor:
    handle: Any
    ready: bool = False
    ping: Any = None  # the pending ready() call while the actor (re)starts
    in_flight: dict[Any, BatchItem] = field(default_factory=dict)  # ObjectRef -> item
    alone: bool = False  # retrying a photo that was in flight when an actor died: nothing else is sent to it


def run_on_ray(
    items: Iterable[BatchItem],
    settings: BatchSettings,
    *,
    address: str | None = None,
    workers: int | None = None,
    skip_existing: bool = False,
    on_result: Callable[[ItemResult], None] = lambda result: None,
    cancel: CancelToken | None = None,
) -> BatchTotals:
    """Process `items` on a Ray cluster, as `runner.stream_batch` does in local processes.

    `address`: a running cluster ("auto" for the one this machine belongs to, "HOST:PORT",
    or "ray://HOST:PORT" through Ray Client); None starts a cluster on this machine for the
    batch (or uses the connection this process already has). `workers`: the number of
    actors (default: one per CPU of the cluster, or per GPU when the engine runs on CUDA).
    `settings.device` "auto" becomes "cuda" when the cluster has GPUs and the engine can use them.
    `cancel`: no new photo is started; those in flight finish.
    """
    ray = import_ray()
    cancel = cancel or CancelToken()
    totals = BatchTotals()
    started = time.perf_counter()
    record = totals.counting(on_result)
    queue = ItemQueue(items, record, skip_existing=skip_existing)
    with _connected(ray, address):
        gpus = int(ray.cluster_resources().get("GPU", 0))
        settings = replace(settings, device=cluster_device(settings, gpus))
        count = workers or (gpus if settings.device == "cuda" else int(ray.cluster_resources().get("CPU", 1))) or 1
        worker_class = ray.remote(**actor_options(settings.device))(FillWorker)
        actors = [_Actor(worker_class.remote(settings)) for _ in range(count)]
        try:
            left = _schedule(ray, actors, queue, record, cancel)
        finally:
            for actor in actors:
                ray.kill(actor.handle, no_restart=True)
    totals.cancelled = cancel.cancelled and (left or queue.has_more())
    totals.seconds = time.perf_counter() - started
    return totals


def cluster_device(settings: BatchSettings, gpus: int) -> str:
    """The device every actor fills on: what the cluster has and the engine supports."""
    supported = engine_class(settings.engine_id).info.devices
    requested = settings.device
    if requested == "auto":
        return "cuda" if gpus and "cuda" in supported else "cpu"
    if requested not in supported:
        raise InpaintStudioError(f"The engine '{settings.engine_id}' runs on {', '.join(supported)} only, not '{requested}'.")
    if requested == "mps":
        raise InpaintStudioError("The Ray backend runs engines on CUDA GPUs or CPUs; use --device cuda, cpu or auto.")
    if requested == "cuda" and not gpus:
        raise InpaintStudioError("The Ray cluster has no GPU; use --device cpu or auto.")
    return requested


@contextlib.contextmanager
def _connected(ray: Any, address: str | None) -> Iterator[None]:
    """Connected to a cluster for the batch; a connection this process already had is used and kept."""
    if ray.is_initialized():
        yield
        return
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address is None:
        # "local": a new cluster for this batch only, never one a `ray start` on this machine left behind.
        address, options["include_dashboard"] = "local", False
    for attempt in range(1, CLIENT_ATTEMPTS + 1):
        try:
            ray.init(address=address, **options)
            break
        except (ConnectionError, ValueError, RuntimeError, ray.exceptions.RayError) as error:
            # A failed init leaves half a connection behind that breaks the next one in this process.
            ray.shutdown()
            if isinstance(error, ConnectionAbortedError) and attempt < CLIENT_ATTEMPTS:
                # The Ray Client server could not start this client's own server process (seen when the
                # process died on startup): a new connection asks for a new one.
                log.warning("The Ray Client server at %s failed to start a session (try %d of %d); trying again",
                            address, attempt, CLIENT_ATTEMPTS)
                time.sleep(CLIENT_RETRY_SECONDS)
                continue
            # No cluster there, a bad address, no Ray Client, or a cluster that wants its authentication token.
            where = "start a Ray cluster on this machine" if address == "local" else f"connect to the Ray cluster at '{address}'"
            tries = f" (tried {attempt} times)" if attempt > 1 else ""
            raise InpaintStudioError(f"Cannot {where}{tries}: {error}") from None
    try:
        yield
    finally:
        ray.shutdown()


Record = Callable[[ItemResult], None]
Owners = dict[Any, tuple[_Actor, BatchItem | None]]  # each pending call (an ObjectRef): its actor, its item (None: a ping)


def _schedule(ray: Any, actors: list[_Actor], queue: ItemQueue, record: Record, cancel: CancelToken) -> bool:
    """Feed the actors from `queue` until every item is recorded (or `cancel`, then until those in flight are).

    True if a cancel left photos to retry unfinished."""
    owners: Owners = {}
    suspects: list[BatchItem] = []  # in flight on an actor that died: each is retried alone
    for actor in actors:
        _ping(actor, owners)
    last_alive = time.monotonic()
    while True:
        if not cancel.cancelled:
            _dispatch(actors, queue, suspects, owners)
        if not any(actor.in_flight for actor in actors) and (cancel.cancelled or (not suspects and not queue.has_more())):
            return bool(suspects)
        if any(actor.ready for actor in actors):
            last_alive = time.monotonic()
        elif time.monotonic() - last_alive > STALL_SECONDS:
            raise InpaintStudioError(
                f"No Ray worker has been running for {STALL_SECONDS / 60:.0f} minutes (the cluster has no room for them?); "
                "the photos finished so far are in the report: run the batch again with it to go on."
            )
        done, _ = ray.wait(list(owners), num_returns=1, timeout=0.2)
        if done:  # and every other call finished by now, in one pass
            done, _ = ray.wait(list(owners), num_returns=len(owners), timeout=0)
        for ref in done:
            if ref in owners:  # else a call of an actor whose death was handled already
                _finished(ray, ref, owners, suspects, record)


def _ping(actor: _Actor, owners: Owners) -> None:
    """Ask the actor whether it is ready: answered once it has started (or Ray has restarted it) and loaded the engine."""
    actor.ping = actor.handle.ready.remote()
    owners[actor.ping] = (actor, None)


def _dispatch(actors: list[_Actor], queue: ItemQueue, suspects: list[BatchItem], owners: Owners) -> None:
    for actor in actors:
        if not actor.ready or actor.alone:
            continue
        if suspects:  # no new photos until each suspect has an actor to itself
            if not actor.in_flight:
                suspect = suspects.pop()
                ref = actor.handle.run.remote(suspect)
                owners[ref], actor.in_flight[ref], actor.alone = (actor, suspect), suspect, True
            continue
        while len(actor.in_flight) < IN_FLIGHT_PER_ACTOR and (item := queue.take()) is not None:
            ref = actor.handle.run.remote(item)
            owners[ref], actor.in_flight[ref] = (actor, item), item


def _finished(ray: Any, ref: Any, owners: Owners, suspects: list[BatchItem], record: Record) -> None:
    """Handle one call that ended: a result, a ping's answer, or the death of its actor."""
    actor, item = owners.pop(ref)
    try:
        value = ray.get(ref)
    except ray.exceptions.RayTaskError as error:  # the call itself raised (a photo's errors are results, not this)
        reason = plain_reason(error.cause if isinstance(error.cause, Exception) else error)
        if item is None:
            raise InpaintStudioError(f"A Ray worker could not start: {reason}") from None
        del actor.in_flight[ref]
        actor.alone = False
        record(ItemResult(item, FAILED, f"the Ray worker failed: {reason}"))
        return
    except ray.exceptions.RayError as error:  # the actor died (killed, out of memory, node lost) or is unreachable
        if getattr(error, "actor_init_failed", False):
            raise InpaintStudioError(f"A Ray worker could not start: {error}") from None
        _actor_died(actor, owners, suspects, record)
        return
    if item is None:
        _check_ready(actor, value)
    else:
        del actor.in_flight[ref]
        actor.alone = False
        record(value)


def _check_ready(actor: _Actor, answer: tuple[str, str, str]) -> None:
    name, version, problem = answer
    if problem:
        raise InpaintStudioError(f"The Ray worker {name} cannot run the engine: {problem}")
    if version != __version__:
        raise InpaintStudioError(
            f"The Ray worker {name} runs inpaint-studio {version}, this machine {__version__}; "
            "install the same version on every node."
        )
    actor.ready, actor.ping = True, None


def _actor_died(actor: _Actor, owners: Owners, suspects: list[BatchItem], record: Record) -> None:
    """Its photos in flight become suspects (or, if it was retrying one alone, that one failed); Ray restarts it."""
    if actor.in_flight:
        photos = ", ".join(item.image.name for item in actor.in_flight.values())
        log.warning("a Ray worker stopped with %d photo(s) in flight (%s); %s", len(actor.in_flight), photos,
                    "failed" if actor.alone else "each is tried again alone")
    for ref, item in actor.in_flight.items():
        owners.pop(ref, None)
        if actor.alone:
            record(ItemResult(item, FAILED, CRASHED))
        else:
            suspects.append(item)
    actor.in_flight.clear()
    actor.alone = actor.ready = False
    if actor.ping is not None:
        owners.pop(actor.ping, None)
    _ping(actor, owners)

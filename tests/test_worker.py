"""The background engine worker: snapshots, ordering, cancel, provenance, errors as values."""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
import pytest
from conftest import gradient_photo

from inpaint_studio.engines.fake import FakeEngine
from inpaint_studio.engines.registry import register_engine, unregister_engine
from inpaint_studio.worker import (
    EngineWorker,
    FillRequest,
    JobCancelledMessage,
    JobFailed,
    JobFinished,
    JobProgress,
    JobStarted,
)


@pytest.fixture
def worker():
    register_engine(FakeEngine)
    messages: queue.Queue = queue.Queue()
    w = EngineWorker(messages.put)
    w.messages = messages
    yield w
    w.shutdown()
    unregister_engine("fake")


def _request(**params) -> FillRequest:
    image = gradient_photo(60, 80)
    mask = np.zeros((60, 80), np.uint8)
    mask[20:30, 30:40] = 255
    return FillRequest.snapshot(image, mask, "fake", params=params)


def _until(worker, kind, job_id, timeout=10.0):
    """Collect messages until one of `kind` for `job_id` arrives; return all seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = worker.messages.get(timeout=deadline - time.monotonic())
        seen.append(message)
        if isinstance(message, kind) and message.job_id == job_id:
            return seen
    raise AssertionError(f"no {kind.__name__} for job {job_id}; saw {seen}")


def test_a_job_reports_start_progress_and_patches(worker):
    job = worker.submit(_request(color="1,2,3"))
    seen = _until(worker, JobFinished, job)
    assert isinstance(seen[0], JobStarted)
    fractions = [m.fraction for m in seen if isinstance(m, JobProgress)]
    assert fractions and fractions[-1] == 1.0
    [patch] = seen[-1].patches
    region = patch.rgb[patch.alpha == 255]
    assert (region == [1, 2, 3]).all()


def test_the_request_is_a_snapshot_the_caller_can_keep_editing():
    image = gradient_photo(20, 20)
    mask = np.zeros((20, 20), np.uint8)
    request = FillRequest.snapshot(image, mask, "fake")
    image[:] = 0
    mask[:] = 255
    assert request.image.any() and not request.mask.any()
    with pytest.raises(ValueError):
        request.image[0, 0] = 1  # read-only


def test_jobs_run_in_the_order_they_were_submitted(worker):
    slow = worker.submit(_request(steps=20, step_seconds=0.02))
    _until(worker, JobStarted, slow)
    second = worker.submit(_request(color="9,9,9"))
    third = worker.submit(_request(color="7,7,7"))
    seen = _until(worker, JobFinished, third)
    finished = [m.job_id for m in seen if isinstance(m, JobFinished)]
    assert finished == [slow, second, third]


def test_cancel_drops_the_queued_jobs_too(worker):
    slow = worker.submit(_request(steps=1000, step_seconds=0.01))
    _until(worker, JobStarted, slow)
    queued = worker.submit(_request())
    worker.cancel()
    seen = _until(worker, JobCancelledMessage, slow)
    assert JobCancelledMessage(queued) in seen
    assert not any(isinstance(m, JobStarted) and m.job_id == queued for m in seen)


def test_a_finished_job_carries_the_provenance_of_what_ran(worker):
    job = worker.submit(_request(color="1,2,3"))
    finished = _until(worker, JobFinished, job)[-1]
    assert finished.engine_name == "Fake (tests)"
    assert finished.provenance["engine"] == "fake" and finished.provenance["device"] == "cpu"
    assert finished.provenance["params"]["color"] == "1,2,3"


def test_cancel_stops_a_running_job_quickly(worker):
    job = worker.submit(_request(steps=1000, step_seconds=0.01))
    _until(worker, JobStarted, job)
    started = time.monotonic()
    worker.cancel(job)
    _until(worker, JobCancelledMessage, job)
    assert time.monotonic() - started < 1.0
    # The worker carries on with the next job.
    after = worker.submit(_request())
    _until(worker, JobFinished, after)


def test_engine_errors_arrive_as_messages_and_the_worker_survives(worker):
    job = worker.submit(_request(fail=True))
    failed = _until(worker, JobFailed, job)[-1]
    assert "on purpose" in failed.message
    bad = worker.submit(FillRequest.snapshot(gradient_photo(10, 10), np.full((10, 10), 255, np.uint8), "no-such-engine"))
    assert "Unknown engine" in _until(worker, JobFailed, bad)[-1].message
    ok = worker.submit(_request())
    _until(worker, JobFinished, ok)


def test_messages_come_from_the_worker_thread_not_the_caller(worker):
    threads = set()
    done = threading.Event()

    def on_message(message) -> None:
        threads.add(threading.current_thread().name)
        if isinstance(message, JobFinished):
            done.set()

    other = EngineWorker(on_message)
    try:
        other.submit(_request())
        assert done.wait(10)
    finally:
        other.shutdown()
    assert threads == {"engine-worker"}


def test_release_engine_unloads_it_once_idle_and_the_next_job_makes_a_new_one(worker, monkeypatch):
    unloaded = []
    monkeypatch.setattr(FakeEngine, "unload", lambda self: unloaded.append(self))
    _until(worker, JobFinished, worker.submit(_request()))
    first = worker._engine
    worker.release_engine()
    deadline = time.monotonic() + 5
    while not unloaded and time.monotonic() < deadline:
        time.sleep(0.01)
    assert unloaded == [first] and worker._engine is None
    _until(worker, JobFinished, worker.submit(_request()))
    assert worker._engine is not None and worker._engine is not first


def test_a_snapshot_reuses_the_arrays_of_an_ended_job_and_never_hands_them_out(worker):
    from inpaint_studio.core.patch import Patch
    from inpaint_studio.worker.engine_worker import _not_sharing

    first = _request()
    image, mask = gradient_photo(60, 80, seed=5), np.full((60, 80), 255, np.uint8)
    second = FillRequest.snapshot(image, mask, "fake", reuse=first)
    assert second.image is first.image and second.mask is first.mask  # the same memory, no fresh pages
    assert np.array_equal(second.image, image) and not second.image.flags.writeable
    image[0, 0] = (77, 77, 77)  # still a snapshot: the caller's array is not the job's
    assert not np.array_equal(second.image, image)
    other = FillRequest.snapshot(gradient_photo(30, 40), np.zeros((30, 40), np.uint8), "fake", reuse=second)
    assert other.image is not second.image  # another size: new arrays

    # A layer never keeps a view of a request's arrays (an engine may return its input as it is).
    view = Patch(0, 0, second.image[:10], second.mask[:10])
    owned = _not_sharing(view, second)
    assert not np.shares_memory(owned.rgb, second.image) and np.array_equal(owned.rgb, view.rgb)
    separate = Patch(0, 0, second.image[:10].copy(), second.mask[:10].copy())
    assert _not_sharing(separate, second) is separate

"""The fill rules, without Qt: which document a job fills, and the newest request winning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import gradient_photo

from inpaint_studio.core.document import Document
from inpaint_studio.core.patch import Patch
from inpaint_studio.io.image_file import load_image
from inpaint_studio.session.fills import FillAsk, Fills
from inpaint_studio.worker import FillRequest, JobCancelledMessage, JobFailed, JobFinished, JobStarted


class RecordingRunner:
    """Takes requests and cancels; the test plays the worker's part by handing messages to `Fills.handle`."""

    def __init__(self) -> None:
        self.requests: list[FillRequest] = []
        self.cancelled: list[int | None] = []

    def submit(self, request: FillRequest) -> int:
        self.requests.append(request)
        return len(self.requests)

    def cancel(self, job_id: int | None = None) -> None:
        self.cancelled.append(job_id)


def document(tmp_path: Path, name: str = "photo.png") -> Document:
    from PIL import Image

    path = tmp_path / name
    Image.fromarray(gradient_photo(40, 60)).save(path)
    return Document(load_image(path))


def masked(doc: Document) -> Document:
    doc.mask[10:20, 10:30] = 255
    return doc


def start(fills: Fills, doc: Document) -> int:
    assert fills.ask(doc) == FillAsk.NOW
    return fills.start(doc, FillRequest.snapshot(doc.composite, doc.mask, "fake"))


def finished(job_id: int, doc: Document) -> JobFinished:
    patch = Patch(10, 10, np.full((10, 20, 3), 7, np.uint8), np.full((10, 20), 255, np.uint8))
    return JobFinished(job_id, [patch], 0.1, {"engine": "fake", "device": "cpu", "params": {}}, "Fake (tests)")


def test_an_empty_mask_asks_for_nothing(tmp_path):
    fills = Fills(RecordingRunner())
    assert fills.ask(None) == FillAsk.NOTHING
    assert fills.ask(document(tmp_path)) == FillAsk.NOTHING


def test_a_finished_job_lands_on_the_document_it_was_started_from(tmp_path):
    fills = Fills(RecordingRunner())
    first, second = masked(document(tmp_path, "a.png")), document(tmp_path, "b.png")
    job = start(fills, first)
    assert fills.handle(JobStarted(job)).document is first and fills.busy
    assert fills.handle(finished(job, first)).document is first
    assert not fills.busy
    assert [layer.name for layer in first.layers] == ["Remove 1 · Fake (tests)"] and second.layers == []
    assert first.layers[0].provenance["device"] == "cpu"
    assert not first.mask[10:20, 10:30].any()  # the filled pixels left the mask


def test_messages_of_a_job_no_longer_in_flight_are_ignored(tmp_path):
    fills = Fills(RecordingRunner())
    doc = masked(document(tmp_path))
    job = start(fills, doc)
    assert fills.handle(JobStarted(job + 1)) is None
    fills.handle(JobCancelledMessage(job))
    assert fills.handle(finished(job, doc)) is None and doc.layers == []


def test_runs_asked_for_meanwhile_start_once_from_the_newest_mask(tmp_path):
    runner = RecordingRunner()
    fills = Fills(runner)
    doc = masked(document(tmp_path))
    job = start(fills, doc)
    doc.mask[30:35, 40:50] = 255  # painted while the fill runs
    assert fills.ask(doc) == FillAsk.LATER and fills.ask(doc) == FillAsk.LATER
    assert len(runner.requests) == 1  # nothing was snapshotted while the job ran
    fills.handle(finished(job, doc))
    assert fills.take_wanted(doc) and not fills.take_wanted(doc)  # once
    second = start(fills, doc)
    request = runner.requests[second - 1]
    assert request.mask[30:35, 40:50].all() and not request.mask[10:20, 10:30].any()


def test_a_run_wanted_for_another_photo_or_after_a_failure_does_not_start(tmp_path):
    fills = Fills(RecordingRunner())
    first, other = masked(document(tmp_path, "a.png")), masked(document(tmp_path, "b.png"))
    job = start(fills, first)
    fills.ask(first)
    fills.handle(finished(job, first))
    first.mask[0:5, 0:5] = 255
    assert not fills.take_wanted(other)  # another photo is shown now
    job = start(fills, first)
    fills.ask(first)
    fills.handle(JobFailed(job, "broken"))
    assert not fills.take_wanted(first)  # the same request would fail again


def test_cancel_for_a_document_cancels_only_its_own_job(tmp_path):
    runner = RecordingRunner()
    fills = Fills(runner)
    first, other = masked(document(tmp_path, "a.png")), document(tmp_path, "b.png")
    job = start(fills, first)
    fills.cancel_for(other)
    assert runner.cancelled == []
    fills.cancel_for(first)
    assert runner.cancelled == [job]


def test_the_next_snapshot_goes_into_the_ended_jobs_arrays_and_layers_keep_their_pixels(tmp_path):
    fills = Fills(RecordingRunner())
    doc = masked(document(tmp_path))
    job = start(fills, doc)
    assert fills.spare is None
    fills.handle(finished(job, doc))
    ended = fills.runner.requests[-1]
    assert fills.spare is ended
    layer_pixels = doc.layers[-1].patches[0].rgb.copy()
    doc.mask[...] = 255
    again = FillRequest.snapshot(doc.composite, doc.mask, "fake", reuse=fills.spare)
    fills.start(doc, again)
    assert again.mask is ended.mask and fills.spare is None  # reused, and not offered twice
    assert np.array_equal(doc.layers[-1].patches[0].rgb, layer_pixels)

"""Folder processing: pairing, parallel workers, failures recorded, originals untouched."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, gradient_photo
from PIL import Image

from inpaint_studio.batch import (
    FAILED,
    SKIPPED,
    WRITTEN,
    BatchSettings,
    plan_batch,
    prepare_engine,
    run_batch,
)
from inpaint_studio.cli import main
from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.core.jobs import CancelToken


def _folder_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def photo_folder(tmp_path):
    """Four photos (JPEG and PNG, two sizes) and one damaged file."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(4):
        size = (90, 120) if index % 2 else (180, 240)
        image = Image.fromarray(gradient_photo(*size, seed=index))
        if index < 2:
            image.save(folder / f"p{index}.jpg", quality=85)
        else:
            image.save(folder / f"p{index}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("not a photo")
    mask = np.zeros((180, 240), np.uint8)
    mask[80:100, 100:140] = 255  # a "watermark"
    mask_path = tmp_path / "watermark.png"
    Image.fromarray(mask).save(mask_path)
    return folder, mask_path


@pytest.mark.parametrize("workers", [1, 2])
def test_one_mask_for_all_photos(photo_folder, tmp_path, workers):
    folder, mask = photo_folder
    before = _folder_hashes(folder)
    out = tmp_path / f"out{workers}"
    report = run_batch(plan_batch(folder, out, mask=mask), BatchSettings("telea"), workers=workers)
    assert sorted(r.item.image.name for r in report.with_status(WRITTEN)) == ["p0.jpg", "p1.jpg", "p2.png", "p3.png"]
    [failed] = report.with_status(FAILED)
    assert failed.item.image.name == "broken.jpg" and "broken.jpg" in failed.message
    assert _folder_hashes(folder) == before  # originals untouched
    assert sorted(p.name for p in out.iterdir()) == ["p0.jpg", "p1.jpg", "p2.png", "p3.png"]
    with Image.open(out / "p0.jpg") as written:
        assert written.format == "JPEG"
    # The half-size photos got the mask scaled to their size.
    small_before = np.asarray(Image.open(folder / "p3.png"))
    small_after = np.asarray(Image.open(out / "p3.png"))
    assert not np.array_equal(small_before[40:50, 50:70], small_after[40:50, 50:70])
    assert np.array_equal(small_before[:20], small_after[:20])


def test_an_engine_prepared_by_the_caller_is_the_one_used(photo_folder, tmp_path):
    """The GUI checks the engine before starting; the batch then fills with that same engine."""
    folder, mask = photo_folder
    settings = BatchSettings("telea")
    engine = prepare_engine(settings)
    calls = []
    original = engine.inpaint
    engine.inpaint = lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs)
    report = run_batch(plan_batch(folder, tmp_path / "out", mask=mask), settings, engine=engine)
    assert len(report.with_status(WRITTEN)) == 4 and len(calls) >= 4


def test_mask_folder_matched_by_stem(photo_folder, tmp_path):
    folder, _ = photo_folder
    masks = tmp_path / "masks"
    masks.mkdir()
    m = np.zeros((180, 240), np.uint8)
    m[10:30, 10:30] = 255
    Image.fromarray(m).save(masks / "p0.png")
    Image.fromarray(m[::2, ::2]).save(masks / "p1_mask.png")
    items = plan_batch(folder, tmp_path / "out", mask_dir=masks)
    by_name = {item.image.name: item.mask for item in items}
    assert by_name["p0.jpg"].name == "p0.png" and by_name["p1.jpg"].name == "p1_mask.png"
    assert by_name["p2.png"] is None
    report = run_batch(items, BatchSettings("telea"))
    statuses = {r.item.image.name: r.status for r in report.results}
    assert statuses == {"broken.jpg": FAILED, "p0.jpg": WRITTEN, "p1.jpg": WRITTEN, "p2.png": FAILED, "p3.png": FAILED}
    assert "no mask" in next(r.message for r in report.results if r.item.image.name == "p2.png")


def test_masks_beside_the_photos_are_not_processed(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(gradient_photo(60, 80)).save(folder / "a.png")
    m = np.zeros((60, 80), np.uint8)
    m[20:30, 20:30] = 255
    Image.fromarray(m).save(folder / "a_mask.png")
    items = plan_batch(folder, tmp_path / "out", mask_dir=folder)
    assert [(i.image.name, i.mask.name) for i in items] == [("a.png", "a_mask.png")]


def test_skip_existing_and_refusing_the_input_folder_as_output(photo_folder, tmp_path):
    folder, mask = photo_folder
    out = tmp_path / "out"
    items = plan_batch(folder, out, mask=mask)
    run_batch(items, BatchSettings("telea"))
    again = run_batch(items, BatchSettings("telea"), skip_existing=True)
    assert len(again.with_status(SKIPPED)) == 4
    with pytest.raises(InpaintStudioError, match="input folder"):
        plan_batch(folder, folder, mask=mask)


def test_cancel_stops_before_the_next_photo(photo_folder, tmp_path):
    folder, mask = photo_folder
    token = CancelToken()
    report = run_batch(
        plan_batch(folder, tmp_path / "out", mask=mask), BatchSettings("telea"), on_result=lambda r: token.cancel(), cancel=token
    )
    assert report.cancelled and len(report.results) == 1


def test_cli_batch_summary_and_exit_status(photo_folder, tmp_path, capsys):
    folder, mask = photo_folder
    out = tmp_path / "out"
    status = main(["batch", str(folder), "--mask", str(mask), "-o", str(out), "--engine", "telea", "--workers", "2"])
    captured = capsys.readouterr()
    assert status == 1  # one photo failed
    assert "4 written, 0 skipped, 1 failed" in captured.out
    assert "broken.jpg" in captured.out
    (folder / "broken.jpg").unlink()
    status = main(["batch", str(folder), "--mask", str(mask), "-o", str(out), "--engine", "telea", "--skip-existing"])
    assert status == 0
    assert "0 written, 4 skipped, 0 failed" in capsys.readouterr().out



def test_a_crashed_worker_fails_its_photo_and_the_batch_goes_on(photo_folder, tmp_path, monkeypatch):
    import crashing_worker

    import inpaint_studio.batch.runner as runner

    folder, mask = photo_folder
    items = plan_batch(folder, tmp_path / "out", mask=mask)
    monkeypatch.setattr(runner, "_worker_run", crashing_worker.run_or_crash)
    report = run_batch(items, BatchSettings("telea"), workers=2)
    # Every photo is reported exactly once; only the one that kills its worker fails for it.
    assert sorted(r.item.image.name for r in report.results) == sorted(i.image.name for i in items)
    statuses = {r.item.image.name: r.status for r in report.results}
    assert statuses == {"broken.jpg": FAILED, "p0.jpg": WRITTEN, "p1.jpg": FAILED, "p2.png": WRITTEN, "p3.png": WRITTEN}
    crashed = next(r for r in report.results if r.item.image.name == "p1.jpg")
    assert "stopped unexpectedly" in crashed.message


def _has_ended(pid: int) -> bool:
    """True once `pid` is gone or a zombie (an orphan's new parent may be slow to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_when_the_batch_process_is_killed(tmp_path):
    script = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "orphaned_workers.py")], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        line = script.stdout.readline()
        workers = [int(pid) for pid in line.split()]
        assert len(workers) == 2 and not any(_has_ended(pid) for pid in workers)
    finally:
        script.kill()  # SIGKILL: the pool gets no chance to stop its workers
        script.wait()
    deadline = time.monotonic() + 20
    while not all(_has_ended(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if not _has_ended(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # leave nothing behind even when the test fails
    assert left == []

"""Streaming batches: recursive plans, manifests, reports that a rerun resumes from, items taken as workers need them."""

from __future__ import annotations

import json
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

from inpaint_studio.batch import FAILED, SKIPPED, WRITTEN, BatchItem, BatchSettings, ItemResult, plan_batch
from inpaint_studio.batch.manifest import count_manifest, read_manifest, write_manifest
from inpaint_studio.batch.pairing import iter_plan
from inpaint_studio.batch.report import DoneItems, ReportWriter, read_report
from inpaint_studio.batch.runner import stream_batch
from inpaint_studio.cli import main
from inpaint_studio.core.errors import InpaintStudioError


def _photo(path: Path, seed: int = 0, size: tuple[int, int] = (60, 80)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gradient_photo(*size, seed=seed)).save(path)
    return path


def _mask(path: Path, size: tuple[int, int] = (60, 80)) -> Path:
    mask = np.zeros(size, np.uint8)
    mask[20:30, 20:40] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask).save(path)
    return path


def test_a_recursive_plan_mirrors_the_folders_and_leaves_out_output_mask_and_hidden_ones(tmp_path):
    photos, masks = tmp_path / "in", tmp_path / "in" / "masks"
    for index, name in enumerate(["a.png", "2019/b.png", "2019/summer/c.png", "2020/d.png", ".hidden/e.png", "out/x.png"]):
        _photo(photos / name, index)
    _mask(masks / "a.png")
    _mask(masks / "2019" / "b_mask.png")
    items = list(iter_plan(photos, photos / "out", mask_dir=masks, recursive=True))
    assert [(i.image.relative_to(photos).as_posix(), i.output.relative_to(photos / "out").as_posix()) for i in items] == [
        ("a.png", "a.png"), ("2019/b.png", "2019/b.png"), ("2019/summer/c.png", "2019/summer/c.png"), ("2020/d.png", "2020/d.png")
    ]
    assert [i.mask.relative_to(masks).as_posix() if i.mask else None for i in items] == ["a.png", "2019/b_mask.png", None, None]
    assert [i.image.name for i in plan_batch(photos, tmp_path / "flat", mask_dir=masks)] == ["a.png"]  # one level, as before
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(InpaintStudioError, match="No photos found in .* or its sub-folders"):
        list(iter_plan(tmp_path / "empty", tmp_path / "o", detect=True, recursive=True))


def test_a_recursive_plan_refuses_an_output_over_a_photo_of_another_folder(tmp_path):
    photos = tmp_path / "in"
    _photo(photos / "x.png")
    _photo(photos / "in" / "x.png", 1)  # would be written to tmp/in/x.png: the first photo
    with pytest.raises(InpaintStudioError, match=r"would replace .*in/x\.png' in the input folder"):
        list(iter_plan(photos, tmp_path, detect=True, recursive=True))


def test_manifests_round_trip_and_are_checked(tmp_path):
    _photo(tmp_path / "in" / "a.png")
    _photo(tmp_path / "in" / "b.png", 1)
    items = plan_batch(tmp_path / "in", tmp_path / "out", mask=_mask(tmp_path / "m.png"))
    manifest = tmp_path / "plan.jsonl"
    assert write_manifest(items, manifest) == 2 == count_manifest(manifest)
    assert list(read_manifest(manifest)) == [BatchItem(i.image.absolute(), i.mask.absolute(), i.output.absolute()) for i in items]
    assert all(Path(json.loads(line)["image"]).is_absolute() for line in manifest.read_text().splitlines())

    # Made by hand: paths relative to the manifest's folder; a mask or detection per photo.
    (tmp_path / "hand.jsonl").write_text(
        '{"image": "in/a.png", "mask": "m.png", "output": "o/a.png"}\n\n'
        '{"image": "in/b.png", "output": "o/b.png", "detect": true}\n'
    )
    assert list(read_manifest(tmp_path / "hand.jsonl")) == [
        BatchItem(tmp_path / "in/a.png", tmp_path / "m.png", tmp_path / "o/a.png"),
        BatchItem(tmp_path / "in/b.png", None, tmp_path / "o/b.png", detect=True),
    ]
    (tmp_path / "bad.jsonl").write_text('{"image": "a.png", "output": "o.png"}\n{"image": "b.png"}\n')
    with pytest.raises(InpaintStudioError, match=r"line 2 of the manifest .*bad\.jsonl' is not an item"):
        count_manifest(tmp_path / "bad.jsonl")
    (tmp_path / "bad.jsonl").write_text("not json\n")
    with pytest.raises(InpaintStudioError, match=r"Line 1 of the manifest .* is not JSON"):
        count_manifest(tmp_path / "bad.jsonl")


def test_parquet_manifests(tmp_path):
    pytest.importorskip("pyarrow")
    items = [BatchItem(tmp_path / f"p{i}.jpg", None if i % 3 else tmp_path / "m.png", tmp_path / "out" / f"p{i}.jpg", i % 3 == 1)
             for i in range(25_000)]  # more than two row groups
    assert write_manifest(iter(items), tmp_path / "plan.parquet") == 25_000
    assert list(read_manifest(tmp_path / "plan.parquet")) == items


def test_items_are_taken_only_as_workers_need_them(tmp_path):
    for index in range(12):
        _photo(tmp_path / "in" / f"p{index:02d}.png", index)
    items = plan_batch(tmp_path / "in", tmp_path / "out", mask=_mask(tmp_path / "m.png"))
    for workers in (1, 2):
        taken, seen = [], []

        def source(items=items, taken=taken):
            for item in items:
                taken.append(item)
                yield item

        def on_result(result, taken=taken, seen=seen):
            seen.append(len(taken))

        totals = stream_batch(source(), BatchSettings("telea"), workers=workers, on_result=on_result)
        assert (totals.written, totals.processed, totals.cancelled) == (12, 12, False)
        assert seen[0] <= 2 * workers + 1  # the window, and one looked at ahead


def test_a_report_is_valid_up_to_its_last_whole_line_and_says_what_is_done(tmp_path):
    outputs = [tmp_path / f"o{i}.png" for i in range(4)]
    items = [BatchItem(tmp_path / f"p{i}.png", None, output) for i, output in enumerate(outputs)]
    report = tmp_path / "r.jsonl"
    with ReportWriter(report, "telea") as writer:
        writer.write(ItemResult(items[0], WRITTEN, seconds=0.25, worker="host:1"))
        writer.write(ItemResult(items[1], WRITTEN))
        writer.write(ItemResult(items[2], SKIPPED, "the mask is empty"))
    with open(report, "ab") as file:
        file.write(b'{"image": "cut sho')  # a crash in the middle of a line
    with ReportWriter(report, "telea") as writer:
        writer.write(ItemResult(items[3], FAILED, "damaged"))
    records = list(read_report(report))
    assert [(Path(r["output"]).name, r["status"]) for r in records] == [
        ("o0.png", WRITTEN), ("o1.png", WRITTEN), ("o2.png", SKIPPED), ("o3.png", FAILED)
    ]
    assert records[0]["engine"] == "telea" and records[0]["worker"] == "host:1" and records[0]["seconds"] == 0.25
    outputs[0].write_bytes(b"written")  # o1.png was written, then deleted
    done = DoneItems.from_report(report)
    assert [done.is_done(item) for item in items] == [True, False, True, False]
    assert not DoneItems.from_report(tmp_path / "none.jsonl").is_done(items[0])


def test_cli_manifest_then_report_then_resume(tmp_path, capsys):
    for index, name in enumerate(["a.png", "b.png", "sub/c.png", "sub/deeper/d.png"]):
        _photo(tmp_path / "in" / name, index)
    (tmp_path / "in" / "sub" / "broken.png").write_bytes(b"not a png")
    mask, manifest, report, out = _mask(tmp_path / "m.png"), tmp_path / "plan.jsonl", tmp_path / "r.jsonl", tmp_path / "out"
    assert main(["batch", str(tmp_path / "in"), "--mask", str(mask), "-o", str(out), "-r", "--manifest", str(manifest),
                 "--manifest-only", "--engine", "telea"]) == 0
    assert f"Wrote {manifest}: 5 photo(s) to process." in capsys.readouterr().out and not out.exists()

    run = ["batch", "--manifest", str(manifest), "--report", str(report), "--engine", "telea", "--workers", "2"]
    assert main(run) == 1
    captured = capsys.readouterr().out
    assert "4 written, 0 skipped, 1 failed. Manifest:" in captured and f"Report: {report}" in captured
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["a.png", "b.png", "sub/c.png", "sub/deeper/d.png"]
    (out / "b.png").unlink()
    assert main(run) == 1  # b.png again (its output is gone), and the broken photo, which fails again
    captured = capsys.readouterr().out
    assert "1 written, 0 skipped, 1 failed" in captured and "Left out 3 photo(s)" in captured
    assert [r["status"] for r in read_report(report)].count(WRITTEN) == 5


def test_cli_batch_option_errors(tmp_path, capsys):
    _photo(tmp_path / "in" / "a.png")
    mask = _mask(tmp_path / "m.png")
    (tmp_path / "plan.jsonl").write_text("")
    cases = [
        (["batch", "--manifest", str(tmp_path / "plan.jsonl"), "--mask", str(mask)], "--mask apply when a folder is given"),
        (["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out")], "Give exactly one mask source"),
        (["batch", str(tmp_path / "in"), "--mask", str(mask)], "Give the output folder"),
        (["batch"], "or a manifest of photos to process"),
        (["batch", str(tmp_path / "in"), "--mask", str(mask), "-o", str(tmp_path / "out"), "--manifest-only"],
         "--manifest-only writes the manifest named by --manifest"),
        (["batch", str(tmp_path / "in"), "--mask", str(mask), "-o", str(tmp_path / "out"), "--address", "auto"],
         "--address applies with --backend ray"),
    ]
    for argv, words in cases:
        assert main([*argv, "--engine", "telea"]) == 1, argv
        assert words in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_summary_lists_the_first_failures_and_points_to_the_report(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    for index in range(25):
        (tmp_path / "in" / f"broken{index:02d}.png").write_bytes(b"not a png")
    report = tmp_path / "r.jsonl"
    argv = ["batch", str(tmp_path / "in"), "--mask", str(_mask(tmp_path / "m.png")), "-o", str(tmp_path / "out"),
            "--engine", "telea", "--workers", "1", "--report", str(report)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out.count("  failed  broken") == 20 and f"... and 5 more failed: see the report {report}" in captured.out
    assert captured.err.count("failed: broken") == 25  # each as it happened


def test_the_ray_backend_without_ray_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as where it is not installed
    _photo(tmp_path / "in" / "a.png")
    argv = ["batch", str(tmp_path / "in"), "--mask", str(_mask(tmp_path / "m.png")), "-o", str(tmp_path / "out"),
            "--engine", "telea", "--backend", "ray"]
    assert main(argv) == 1
    assert 'The Ray backend needs `pip install "inpaint-studio[cluster]"`' in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kills a process with SIGKILL")
def test_a_killed_batch_loses_only_the_photo_in_flight_and_resumes_from_its_report(tmp_path, capsys):
    names = [f"p{index:02d}.png" for index in range(10)]
    for index, name in enumerate(names):
        _photo(tmp_path / "in" / name, index)
    report, out = tmp_path / "r.jsonl", tmp_path / "out"
    argv = ["batch", str(tmp_path / "in"), "--mask", str(_mask(tmp_path / "m.png")), "-o", str(out), "--report", str(report),
            "--workers", "1"]
    # The fake engine (0.3 s a photo) is registered in the batch's own process, which does the work with one worker.
    code = (
        "import sys\n"
        "from inpaint_studio.engines.fake import FakeEngine\n"
        "from inpaint_studio.engines.registry import register_engine\n"
        "from inpaint_studio.cli import main\n"
        "register_engine(FakeEngine)\n"
        f"sys.exit(main({[*argv, '--engine', 'fake', '--param', 'steps=3', '--param', 'step_seconds=0.1']!r}))\n"
    )
    batch = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while (not report.exists() or report.read_text().count("\n") < 3) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(batch.pid, signal.SIGKILL)  # in the middle of the fourth photo
    batch.wait()
    finished = [r for r in read_report(report)]
    assert 3 <= len(finished) < 10 and {r["status"] for r in finished} == {WRITTEN}
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(Path(r["output"]).name for r in finished)
    for path in out.iterdir():
        if not path.name.startswith("."):  # a hidden temporary file may stay behind; never a half-written photo
            with Image.open(path) as image:
                image.load()

    assert main([*argv, "--engine", "telea"]) == 0
    assert f"Left out {len(finished)} photo(s)" in capsys.readouterr().out
    statuses = [(Path(r["image"]).name, r["status"]) for r in read_report(report)]
    assert sorted(statuses) == sorted((name, WRITTEN) for name in names)  # each photo written once
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == names


# ---------------------------------------------------------------- GPU actors of the Ray backend (no Ray needed)


def test_a_gpu_actor_fills_one_photo_at_a_time_while_its_other_photo_is_read_or_written():
    import threading
    import time as clock

    from inpaint_studio.batch.ray_backend import IN_FLIGHT_PER_ACTOR, OneFillAtATime, actor_options

    class SlowEngine:
        info = "the engine's info"
        running = overlaps = 0

        def inpaint(self, image, mask, params, context=None):
            SlowEngine.running += 1
            SlowEngine.overlaps += SlowEngine.running > 1
            clock.sleep(0.05)
            SlowEngine.running -= 1
            return image

    shared = OneFillAtATime(SlowEngine())
    threads = [threading.Thread(target=shared.inpaint, args=(i, None, {})) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert SlowEngine.overlaps == 0 and shared.info == "the engine's info"
    gpu, cpu = actor_options("cuda"), actor_options("cpu")
    assert gpu["num_gpus"] == 1 and gpu["max_concurrency"] == IN_FLIGHT_PER_ACTOR == 2
    assert "max_concurrency" not in cpu and "num_gpus" not in cpu  # CPU actors: one photo at a time, one core each
    assert gpu["max_task_retries"] == cpu["max_task_retries"] == 0  # the driver retries a dead worker's photos itself

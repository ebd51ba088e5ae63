"""Batch options shared by `inpaint-studio batch` and the GUI's batch dialog: detected scratches as
the mask source, output names, outputs that would replace inputs, the current mask scaled, cancel."""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image

from inpaint_studio.batch import (
    FAILED,
    SKIPPED,
    WRITTEN,
    BatchItem,
    BatchSettings,
    check_name_pattern,
    output_name,
    plan_batch,
    run_batch,
)
from inpaint_studio.batch.file_job import process_file
from inpaint_studio.batch.restore_job import restore_file
from inpaint_studio.cli import main
from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.engines.fake import FakeEngine
from inpaint_studio.engines.registry import (
    create_engine,
    register_engine,
    unregister_engine,
)
from inpaint_studio.io.mask_file import save_mask
from inpaint_studio.restore import degrade


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def damaged_folder(tmp_path):
    """Two photos with drawn scratches and dust, one clean flat photo, one corrupt file; and the clean originals."""
    folder = tmp_path / "old"
    folder.mkdir()
    clean = {}
    for index, name in enumerate(["a.png", "b.png"]):
        photo = gradient_photo(160, 200, seed=index)
        clean[name] = photo
        Image.fromarray(degrade(photo, seed=10 + index).image).save(folder / name)
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(folder / "flat.png")  # nothing to find
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return folder, clean


@pytest.mark.parametrize("workers", [1, 2])
def test_detected_scratches_are_filled_like_restore_does(damaged_folder, tmp_path, workers):
    folder, clean = damaged_folder
    before = _hashes(folder)
    out = tmp_path / f"out{workers}"
    items = plan_batch(folder, out, detect=True, name_pattern="{stem}_restored")
    assert all(item.detect and item.mask is None for item in items)
    report = run_batch(items, BatchSettings("telea", sensitivity=0.4), workers=workers)

    statuses = {r.item.image.name: r.status for r in report.results}
    assert statuses == {"a.png": WRITTEN, "b.png": WRITTEN, "flat.png": SKIPPED, "corrupt.jpg": FAILED}
    skipped = report.with_status(SKIPPED)[0]
    assert "no scratches or dust were found" in skipped.message and "0.4" in skipped.message
    assert "corrupt.jpg" in report.with_status(FAILED)[0].message
    assert sorted(p.name for p in out.iterdir()) == ["a_restored.png", "b_restored.png"]
    assert _hashes(folder) == before  # originals untouched

    engine = create_engine("telea")
    for name in ("a", "b"):
        # The same function `inpaint-studio restore` runs, on the same photo: the same pixels.
        expected = restore_file(engine, folder / f"{name}.png", tmp_path / f"{name}_direct{workers}.png", sensitivity=0.4)
        assert expected.output is not None
        batch = np.asarray(Image.open(out / f"{name}_restored.png"))
        assert np.array_equal(batch, np.asarray(Image.open(expected.output)))
        # And the damage is mostly gone.
        damaged = np.asarray(Image.open(folder / f"{name}.png")).astype(float)
        truth = clean[f"{name}.png"].astype(float)
        assert np.abs(batch - truth).mean() < 0.5 * np.abs(damaged - truth).mean()


def test_sensitivity_changes_what_is_found_and_is_checked(damaged_folder, tmp_path):
    folder, _ = damaged_folder
    changed = {}
    for sensitivity in (0.0, 1.0):
        out = tmp_path / f"out{sensitivity}"
        items = [i for i in plan_batch(folder, out, detect=True) if i.image.name == "a.png"]
        report = run_batch(items, BatchSettings("telea", sensitivity=sensitivity))
        assert report.results[0].status == WRITTEN
        before = np.asarray(Image.open(folder / "a.png")).astype(int)
        changed[sensitivity] = np.count_nonzero(np.abs(np.asarray(Image.open(out / "a.png")) - before).sum(-1))
    assert 0 < changed[0.0] < changed[1.0]  # a higher sensitivity finds (and fills) more
    with pytest.raises(InpaintStudioError, match="Sensitivity must be between 0 and 1"):
        BatchSettings("telea", sensitivity=1.5)


def test_batch_uses_the_chosen_detector_as_restore_does(damaged_folder, tmp_path):
    folder, _ = damaged_folder
    engine = create_engine("telea")
    for detector in ("learned", "classical"):
        out = tmp_path / detector
        items = [i for i in plan_batch(folder, out, detect=True) if i.image.name == "a.png"]
        report = run_batch(items, BatchSettings("telea", detector=detector))
        assert report.results[0].status == WRITTEN
        direct = restore_file(engine, folder / "a.png", tmp_path / f"direct-{detector}.png", detector=detector)
        assert direct.output is not None
        assert np.array_equal(np.asarray(Image.open(out / "a.png")), np.asarray(Image.open(tmp_path / f"direct-{detector}.png")))
    with pytest.raises(InpaintStudioError, match="Unknown damage detector"):
        BatchSettings("telea", detector="magic")


def test_output_names_keep_the_format_and_need_the_stem(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(gradient_photo(60, 80)).save(folder / "holiday.jpg", quality=90)
    Image.fromarray(gradient_photo(60, 80, seed=1)).save(folder / "holiday.png")
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 30:50] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    items = plan_batch(folder, tmp_path / "out", mask=tmp_path / "m.png", name_pattern="clean-{stem}_v2")
    assert sorted(i.output.name for i in items) == ["clean-holiday_v2.jpg", "clean-holiday_v2.png"]
    report = run_batch(items, BatchSettings("telea"))
    assert len(report.with_status(WRITTEN)) == 2
    with Image.open(tmp_path / "out" / "clean-holiday_v2.jpg") as written:
        assert written.format == "JPEG"
    assert output_name(Path("a.b.tiff"), "{stem}_x") == "a.b_x.tiff"

    for bad, why in [
        ("", "must contain {stem}"),
        ("result", "must contain {stem}"),
        ("{name}", "only placeholder"),
        ("{stem:>9}", "only placeholder"),
        ("{stem!r}", "only placeholder"),
        ("{0}", "only placeholder"),
        ("{stem", "unmatched"),
        ("../{stem}", "without folders"),
        ("sub/{stem}", "without folders"),
        (".{stem}", "hide"),
    ]:
        with pytest.raises(InpaintStudioError, match="cannot be used") as caught:
            check_name_pattern(bad)
        assert why in str(caught.value), bad
        with pytest.raises(InpaintStudioError, match="cannot be used"):
            plan_batch(folder, tmp_path / "out", mask=tmp_path / "m.png", name_pattern=bad)


def test_every_photo_format_is_a_batch_input_and_heic_is_written_as_jpeg(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.gif", "b.avif", "c.HEIC", "d.tif", "e.tga"):
        (folder / name).write_bytes(b"")  # planning looks at names only
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(tmp_path / "m.png")
    items = plan_batch(folder, tmp_path / "out", mask=tmp_path / "m.png", name_pattern="{stem}_clean")
    assert [(i.image.name, i.output.name) for i in items] == [
        ("a.gif", "a_clean.gif"), ("b.avif", "b_clean.avif"), ("c.HEIC", "c_clean.jpg"), ("d.tif", "d_clean.tif"),
    ]
    assert output_name(Path("IMG_0001.heif")) == "IMG_0001.jpg"


def test_two_photos_written_to_one_file_are_refused(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("IMG_1.heic", "IMG_1.JPG"):
        (folder / name).write_bytes(b"")
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(InpaintStudioError, match=r"'IMG_1.heic' and 'IMG_1.JPG' would both be written to '.*IMG_1.JPG'"):
        plan_batch(folder, tmp_path / "out", mask=tmp_path / "m.png")


def test_what_an_output_cannot_keep_is_in_the_outcome_and_the_cli_says_it(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    frames = [Image.fromarray(gradient_photo(40, 50, seed=seed)) for seed in range(3)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    mask = np.zeros((40, 50), np.uint8)
    mask[10:20, 10:20] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    outcome = process_file(create_engine("telea"), folder / "anim.gif", tmp_path / "m.png", tmp_path / "one.gif")
    assert outcome.warnings == ["This photo has 3 frames; only the first, the one edited, is written."]
    assert main(["batch", str(folder), "--mask", str(tmp_path / "m.png"), "-o", str(tmp_path / "out"), "--engine", "telea"]) == 0
    assert "inpaint-studio: warning: anim.gif: This photo has 3 frames; only the first" in capsys.readouterr().err


def test_no_output_may_replace_an_input(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("p0.png", "p1.png"):
        Image.fromarray(gradient_photo(40, 50)).save(photos / name)
    masks = tmp_path / "masks"
    masks.mkdir()
    mask = np.zeros((40, 50), np.uint8)
    mask[10:20, 10:20] = 255
    Image.fromarray(mask).save(masks / "p0.png")
    Image.fromarray(mask).save(masks / "p1_mask.png")
    before = {**_hashes(photos), **{f"m/{k}": v for k, v in _hashes(masks).items()}}

    # Writing into the mask folder: p0.png would replace the mask p0.png.
    with pytest.raises(InpaintStudioError, match="would replace the input"):
        plan_batch(photos, masks, mask_dir=masks)
    # ... which a name pattern avoids.
    planned = plan_batch(photos, masks, mask_dir=masks, name_pattern="{stem}_done")
    assert [i.output.name for i in planned] == ["p0_done.png", "p1_done.png"]
    # One mask for all, kept in the output folder under a photo's output name.
    with pytest.raises(InpaintStudioError, match="would replace the input"):
        plan_batch(photos, masks, mask=masks / "p1_mask.png", name_pattern="{stem}_mask")
    # The output folder is the input folder under another name (a symlink) or the same name.
    (tmp_path / "link").symlink_to(photos, target_is_directory=True)
    for output in (photos, tmp_path / "link"):
        with pytest.raises(InpaintStudioError, match="input folder"):
            plan_batch(photos, output, detect=True)
    # An output that is a hard link to an original is the original.
    out = tmp_path / "out"
    out.mkdir()
    os.link(photos / "p1.png", out / "p1_x.png")
    with pytest.raises(InpaintStudioError, match="would replace the input '.*p1.png'"):
        plan_batch(photos, out, detect=True, name_pattern="{stem}_x")
    assert {**_hashes(photos), **{f"m/{k}": v for k, v in _hashes(masks).items()}} == before


def test_plan_refuses_no_source_two_sources_missing_masks_and_empty_folders(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    with pytest.raises(InpaintStudioError, match="No photos found"):
        plan_batch(photos, tmp_path / "out", detect=True)
    Image.fromarray(gradient_photo(40, 50)).save(photos / "a.png")
    with pytest.raises(InpaintStudioError, match="exactly one mask source"):
        plan_batch(photos, tmp_path / "out")
    with pytest.raises(InpaintStudioError, match="exactly one mask source"):
        plan_batch(photos, tmp_path / "out", mask_dir=photos, detect=True)
    with pytest.raises(InpaintStudioError, match="Mask folder .* not found"):
        plan_batch(photos, tmp_path / "out", mask_dir=tmp_path / "nowhere")
    with pytest.raises(InpaintStudioError, match="Mask file .* not found"):
        plan_batch(photos, tmp_path / "out", mask=tmp_path / "nowhere.png")


@pytest.mark.parametrize("workers", [1, 2])
def test_the_current_mask_is_scaled_to_each_photo(tmp_path, workers):
    """The GUI writes the document's mask as a PNG (save_mask); photos of other sizes get it scaled."""
    photos = tmp_path / "photos"
    photos.mkdir()
    sizes = {"same.png": (200, 300), "half.png": (100, 150), "other.png": (150, 120)}  # (height, width)
    for index, (name, (height, width)) in enumerate(sizes.items()):
        Image.fromarray(gradient_photo(height, width, seed=index)).save(photos / name)
    mask = np.zeros((200, 300), np.uint8)
    mask[120:180, 200:280] = 255  # bottom right, like a watermark
    mask_file = save_mask(mask, tmp_path / "current_mask.png")
    out = tmp_path / "out"
    register_engine(FakeEngine)  # in this process only: spawned workers do not see it, so they use telea
    try:
        engine_id = "fake" if workers == 1 else "telea"
        report = run_batch(plan_batch(photos, out, mask=mask_file), BatchSettings(engine_id), workers=workers)
    finally:
        unregister_engine("fake")
    assert len(report.with_status(WRITTEN)) == 3
    warnings = {r.item.image.name: r.message for r in report.results}
    assert warnings["same.png"] == "" and "scaled" in warnings["half.png"] and "scaled" in warnings["other.png"]
    for name, (height, width) in sizes.items():
        before = np.asarray(Image.open(photos / name)).astype(int)
        after = np.asarray(Image.open(out / name)).astype(int)
        changed = np.abs(after - before).sum(-1) > 0
        ys, xs = np.nonzero(changed)
        # The change sits where the scaled mask is (plus the feathered seam), nowhere else.
        assert ys.min() >= 120 / 200 * height - 6 and xs.min() >= 200 / 300 * width - 6, name
        assert changed[round(150 / 200 * height), round(240 / 300 * width)], name
        if workers == 1:  # the fake engine fills with magenta: the scaled mask is filled whole
            rows = slice(round(125 / 200 * height), round(175 / 200 * height))
            columns = slice(round(205 / 300 * width), round(275 / 300 * width))
            inside = after[rows, columns]
            assert (inside == [255, 0, 255]).all(), name


def test_cancel_in_process_drops_the_photo_in_flight(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(6):
        Image.fromarray(gradient_photo(60, 80, seed=index)).save(photos / f"p{index}.png")
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 20:40] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    out = tmp_path / "out"
    token = CancelToken()
    results = []

    def on_result(result):
        results.append(result)
        if len(results) == 2:
            threading.Timer(0.15, token.cancel).start()  # while the third photo is being filled

    register_engine(FakeEngine)
    try:
        settings = BatchSettings("fake", params={"steps": 50, "step_seconds": 0.02})  # 1 s per photo
        report = run_batch(plan_batch(photos, out, mask=tmp_path / "m.png"), settings, on_result=on_result, cancel=token)
    finally:
        unregister_engine("fake")
    assert report.cancelled
    assert [r.item.image.name for r in report.results] == ["p0.png", "p1.png"]  # the third was dropped
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png"]  # and nothing half-written
    assert report.seconds < 2 * 1.0 + 0.9  # it did not wait for the third photo's fill to end


def test_items_and_settings_are_small_and_pickle(tmp_path):
    item = BatchItem(tmp_path / "a.jpg", None, tmp_path / "out" / "a.jpg", detect=True)
    settings = BatchSettings("telea", params={"radius": 3}, sensitivity=0.55, quality=90)
    for value in (item, settings):
        data = pickle.dumps(value)
        assert pickle.loads(data) == value and len(data) < 1000


def test_cli_batch_auto_scratches_with_a_suffix(damaged_folder, tmp_path, capsys):
    folder, _ = damaged_folder
    out = tmp_path / "out"
    status = main(["batch", str(folder), "--auto-scratches", "--sensitivity", "0.4", "--suffix", "_restored",
                   "-o", str(out), "--engine", "telea", "--workers", "2"])
    captured = capsys.readouterr()
    assert status == 1  # the corrupt file failed
    assert "2 written, 1 skipped, 1 failed" in captured.out
    assert "skipped flat.png: no scratches or dust were found" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["a_restored.png", "b_restored.png"]


def test_cli_batch_name_pattern_and_option_errors(damaged_folder, tmp_path, capsys):
    folder, _ = damaged_folder
    (folder / "corrupt.jpg").unlink()
    mask = np.zeros((160, 200), np.uint8)
    mask[10:30, 10:30] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    out = tmp_path / "out"
    command = ["batch", str(folder), "--mask", str(tmp_path / "m.png"), "--name", "fixed_{stem}", "-o", str(out)]
    assert main([*command, "--engine", "telea", "--workers", "1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["fixed_a.png", "fixed_b.png", "fixed_flat.png"]
    capsys.readouterr()

    assert main(
        ["batch", str(folder), "--mask", str(tmp_path / "m.png"), "--name", "same", "-o", str(out), "--engine", "telea"]
    ) == 1
    assert "must contain {stem}" in capsys.readouterr().err
    assert main(
        ["batch", str(folder), "--mask", str(tmp_path / "m.png"), "--sensitivity", "0.5", "-o", str(out), "--engine", "telea"]
    ) == 1
    assert "--sensitivity and --detector apply only with --auto-scratches" in capsys.readouterr().err
    # The output folder is the input folder: refused before any work, whatever the names.
    assert main(["batch", str(folder), "--auto-scratches", "-o", str(folder), "--suffix", "_x", "--engine", "telea"]) == 1
    assert "input folder" in capsys.readouterr().err
    for argv in (["--auto-scratches", "--mask", "m.png"], ["--auto-scratches", "--name", "{stem}", "--suffix", "_x"]):
        with pytest.raises(SystemExit) as usage:
            main(["batch", str(folder), *argv, "-o", str(out)])
        assert usage.value.code == 2
    assert sorted(p.name for p in out.iterdir()) == ["fixed_a.png", "fixed_b.png", "fixed_flat.png"]

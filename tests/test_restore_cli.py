"""`inpaint-studio restore` end to end: a damaged photo in, the result and the mask out."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image

from inpaint_studio.cli import main
from inpaint_studio.restore import degrade, score_detection


@pytest.fixture
def damaged_png(tmp_path):
    clean = gradient_photo(160, 200)
    damaged = degrade(clean, seed=2)
    path = tmp_path / "old photo.png"
    Image.fromarray(damaged.image).save(path)
    return path, clean, damaged


def test_restore_writes_the_mask_and_a_result_closer_to_the_clean_photo(damaged_png, capsys):
    path, clean, damaged = damaged_png
    mask_path = path.with_name("damage.png")
    assert main(["restore", str(path), "--mask-out", str(mask_path), "--engine", "telea"]) == 0
    out = capsys.readouterr().out
    result_path = path.with_name("old photo_restored.png")
    assert f"Wrote {result_path}" in out and str(mask_path) in out

    mask = np.asarray(Image.open(mask_path))
    assert mask.shape == (160, 200) and set(np.unique(mask)) <= {0, 255}
    assert score_detection(mask, damaged.mask).f1 > 0.8

    result = np.asarray(Image.open(result_path)).astype(int)
    inside = damaged.mask == 255
    before = np.abs(damaged.image.astype(int) - clean)[inside].mean()
    after = np.abs(result - clean)[inside].mean()
    assert after < before / 3
    # Farther than the fill's growth and feather from any detection, the photo is untouched.
    far = cv2.dilate(mask, np.ones((15, 15), np.uint8)) == 0
    assert np.array_equal(result[far], damaged.image.astype(int)[far])


def test_restore_default_output_name_does_not_replace_an_earlier_result(damaged_png):
    path, _, _ = damaged_png
    assert main(["restore", str(path), "--engine", "telea"]) == 0
    assert main(["restore", str(path), "--engine", "telea"]) == 0
    assert path.with_name("old photo_restored.png").is_file()
    assert path.with_name("old photo_restored-2.png").is_file()


def test_restore_refuses_to_overwrite_the_input_unless_asked(damaged_png, capsys):
    path, _, _ = damaged_png
    original = path.read_bytes()
    assert main(["restore", str(path), "-o", str(path), "--engine", "telea"]) == 1
    assert "overwrite" in capsys.readouterr().err
    assert main(["restore", str(path), "--mask-out", str(path), "--engine", "telea"]) == 1
    assert "overwrite" in capsys.readouterr().err
    assert path.read_bytes() == original
    assert main(["restore", str(path), "-o", str(path), "--engine", "telea", "--overwrite"]) == 0
    assert path.read_bytes() != original


def test_a_clean_photo_writes_no_result_but_still_the_empty_mask(tmp_path, capsys):
    path = tmp_path / "clean.png"
    Image.fromarray(gradient_photo(120, 160)).save(path)
    mask_path = tmp_path / "mask.png"
    assert main(["restore", str(path), "--mask-out", str(mask_path), "--engine", "telea"]) == 0
    assert "Nothing written: no scratches or dust were found" in capsys.readouterr().out
    assert not (tmp_path / "clean_restored.png").exists()
    assert not np.asarray(Image.open(mask_path)).any()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--mask-out", "damage.jpg"], "must be lossless"),
        (["--mask-out", "missing-folder/damage.png"], "does not exist"),
        (["--engine", "no-such-engine"], "Unknown engine"),
    ],
)
def test_bad_options_are_one_line_errors_and_write_nothing(damaged_png, capsys, extra, message):
    path, _, _ = damaged_png
    extra = [str(path.parent / e) if e.startswith(("damage", "missing")) else e for e in extra]
    before = sorted(p.name for p in path.parent.iterdir())
    assert main(["restore", str(path), *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert sorted(p.name for p in path.parent.iterdir()) == before


def test_unreadable_photo_and_bad_sensitivity(tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    assert main(["restore", str(broken), "--engine", "telea"]) == 1
    assert "broken.jpg" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["restore", str(broken), "--sensitivity", "high"])
    assert exit_info.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err


def test_detector_option_picks_the_classical_filters(damaged_png):
    from inpaint_studio.restore import detect_damage

    path, _, damaged = damaged_png
    masks = {}
    for detector in ("learned", "classical"):
        mask_path = path.with_name(f"{detector}.png")
        assert main(["restore", str(path), "--detector", detector, "--mask-out", str(mask_path), "--engine", "telea"]) == 0
        masks[detector] = np.asarray(Image.open(mask_path))
    assert np.array_equal(masks["classical"], detect_damage(damaged.image, 0.4, "classical"))
    assert np.array_equal(masks["learned"], detect_damage(damaged.image, 0.4, "learned"))
    assert not np.array_equal(masks["learned"], masks["classical"])


def test_unknown_detector_is_refused_by_the_parser(damaged_png, capsys):
    path, _, _ = damaged_png
    with pytest.raises(SystemExit) as exit_info:
        main(["restore", str(path), "--detector", "magic"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'magic'" in capsys.readouterr().err


def test_the_result_and_the_mask_may_not_be_one_file(damaged_png, capsys):
    path, _, _ = damaged_png
    same = path.with_name("same.png")
    for extra in ([], ["--overwrite"]):
        assert main(["restore", str(path), "-o", str(same), "--mask-out", str(same), "--engine", "telea", *extra]) == 1
        assert "are the same file" in capsys.readouterr().err
        assert not same.exists()


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (1, 4000), (4000, 1), (7, 300)])
def test_tiny_and_thin_photos_are_restored_not_an_internal_error(tmp_path, capsys, shape):
    path = tmp_path / "thin.png"
    pixels = np.full((*shape, 3), 140, np.uint8)
    pixels.reshape(-1, 3)[::37] = 255  # specks of dust
    Image.fromarray(pixels).save(path)
    assert main(["restore", str(path), "--engine", "telea"]) == 0, capsys.readouterr().err
    assert "error" not in capsys.readouterr().err


def test_batch_auto_scratches_handles_tiny_photos(tmp_path):
    from inpaint_studio.batch import FAILED, BatchSettings, plan_batch, run_batch

    folder = tmp_path / "photos"
    folder.mkdir()
    for name, shape in [("dot.png", (1, 1)), ("line.png", (1, 4000)), ("small.png", (2, 2))]:
        pixels = np.full((*shape, 3), 140, np.uint8)
        pixels.reshape(-1, 3)[::37] = 255
        Image.fromarray(pixels).save(folder / name)
    items = plan_batch(folder, tmp_path / "out", detect=True)
    report = run_batch(items, BatchSettings("telea"), workers=1)
    assert [r.message for r in report.results if r.status == FAILED] == []

"""The Python API (`inpaint_studio.api`: remove, restore, select): inputs, outputs, rules and errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, gradient_photo
from PIL import Image

import inpaint_studio
from inpaint_studio import api
from inpaint_studio.api import restore
from inpaint_studio.cli import main
from inpaint_studio.core.errors import EngineNotReadyError, ImageError, InpaintStudioError


@pytest.fixture
def photo() -> np.ndarray:
    return gradient_photo(120, 160)


@pytest.fixture
def hole() -> np.ndarray:
    mask = np.zeros((120, 160), np.uint8)
    mask[40:70, 60:100] = 255
    return mask


def test_importing_the_package_imports_nothing_heavy():
    code = (
        "import sys, inpaint_studio\n"
        "heavy = [m for m in ('torch', 'cv2', 'PySide6', 'numpy', 'PIL', 'numba') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert callable(inpaint_studio.remove) and 'remove' in dir(inpaint_studio)\n"
        "heavy = [m for m in ('torch', 'cv2', 'PySide6') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


def test_importing_the_package_makes_openmp_threads_sleep_unless_the_user_chose():
    code = "import os, inpaint_studio; print(os.environ['OMP_WAIT_POLICY'])"
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    chosen = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert chosen.stdout.strip() == "PASSIVE"
    kept = subprocess.run(
        [sys.executable, "-c", code], env=env | {"OMP_WAIT_POLICY": "ACTIVE"}, capture_output=True, text=True, timeout=60
    )
    assert kept.stdout.strip() == "ACTIVE"


def test_the_package_exports_the_api_functions():
    assert (inpaint_studio.remove, inpaint_studio.select) == (api.remove, api.select)
    restore(np.zeros((8, 8, 3), np.uint8), detector="classical")  # imports the package named restore...
    assert inpaint_studio.restore.__name__ == "inpaint_studio.restore"  # ...which stays the package
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        inpaint_studio.nothing  # noqa: B018 - the lookup is what is tested
    from inpaint_studio.engines.registry import DEFAULT_ENGINE

    assert api.DEFAULT_ENGINE == DEFAULT_ENGINE
    assert (REPO / "inpaint_studio" / "py.typed").is_file()


# -- remove --------------------------------------------------------------------------------------


def test_remove_takes_and_returns_arrays(photo, hole):
    result = inpaint_studio.remove(photo, hole, engine="telea")
    assert isinstance(result, np.ndarray) and result.shape == photo.shape and result.dtype == np.uint8
    assert not np.array_equal(result[45:65, 65:95], photo[45:65, 65:95])
    assert np.array_equal(result[:20], photo[:20])  # far from the hole: untouched
    assert result is not photo and np.array_equal(photo, gradient_photo(120, 160))  # the input is not changed


def test_remove_with_the_default_engine_matches_the_command_line(tmp_path, photo, hole):
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(hole).save(tmp_path / "mask.png")
    out = tmp_path / "cli.png"
    assert main(["remove", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "mask.png"), "-o", str(out)]) == 0
    result = inpaint_studio.remove(tmp_path / "photo.png", str(tmp_path / "mask.png"))
    assert isinstance(result, Image.Image) and result.mode == "RGB"
    assert np.array_equal(np.asarray(result), np.asarray(Image.open(out)))


def test_a_path_is_turned_upright_by_its_exif_orientation(tmp_path, photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown turned a quarter clockwise
    Image.fromarray(photo).save(tmp_path / "sideways.jpg", exif=exif.tobytes(), quality=95)
    mask = np.zeros((160, 120), np.uint8)  # the upright photo is 120 wide, 160 high
    mask[60:90, 40:70] = 255
    result = inpaint_studio.remove(tmp_path / "sideways.jpg", mask, engine="telea")
    assert result.size == (120, 160)


def test_a_pil_image_keeps_its_alpha(photo, hole):
    rgba = Image.fromarray(photo).convert("RGBA")
    rgba.putalpha(Image.fromarray(np.full((120, 160), 200, np.uint8)))
    result = inpaint_studio.remove(rgba, Image.fromarray(hole), engine="telea")
    assert result.mode == "RGBA" and np.asarray(result.getchannel("A")).min() == 200


def test_masks_follow_the_mask_file_rules(photo):
    grey = np.zeros((120, 160), np.uint8)
    grey[10:20, 10:20] = 127  # not above 127: kept
    grey[50:60, 50:60] = 128  # fill
    result = inpaint_studio.remove(photo, grey, engine="telea")
    assert np.array_equal(result[:30, :30], photo[:30, :30]) and not np.array_equal(result[50:60, 50:60], photo[50:60, 50:60])

    painted = np.zeros((120, 160, 4), np.uint8)  # a transparent layer: its alpha is the mask
    painted[50:60, 50:60, 3] = 255
    assert np.array_equal(inpaint_studio.remove(photo, painted, engine="telea"), result)

    as_bool = np.zeros((120, 160), bool)
    as_bool[50:60, 50:60] = True
    assert np.array_equal(inpaint_studio.remove(photo, as_bool, engine="telea"), result)

    with pytest.warns(UserWarning, match="The mask is 80x60 but the photo is 160x120; it was scaled to fit"):
        scaled = inpaint_studio.remove(photo, grey[::2, ::2], engine="telea")
    assert not np.array_equal(scaled[50:60, 50:60], photo[50:60, 50:60])


def test_an_empty_mask_gives_the_photo_back(photo):
    result = inpaint_studio.remove(photo, np.zeros((120, 160), np.uint8))
    assert np.array_equal(result, photo) and result is not photo


def test_engine_parameters_are_passed_and_checked(photo, hole):
    a = inpaint_studio.remove(photo, hole, seed=1)
    assert np.array_equal(a, inpaint_studio.remove(photo, hole, seed="1"))
    with pytest.raises(InpaintStudioError, match="PatchMatch has no parameter 'strength'"):
        inpaint_studio.remove(photo, hole, strength=3)


@pytest.mark.parametrize(
    ("image", "mask", "message"),
    [
        (np.zeros((10, 10, 3), np.float32), np.zeros((10, 10), np.uint8), "A photo array must be uint8 RGB of shape"),
        (np.zeros((10, 10), np.uint8), np.zeros((10, 10), np.uint8), "A photo array must be uint8 RGB of shape"),
        (b"bytes", np.zeros((10, 10), np.uint8), "A photo is a path, a PIL image or a numpy array; got bytes"),
        (np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.float64), "A mask array must be bool or uint8"),
        (np.zeros((10, 10, 3), np.uint8), [[0]], "A mask is a path, a PIL image or a numpy array; got list"),
        (np.zeros((0, 10, 3), np.uint8), np.zeros((10, 10), np.uint8), "The photo is empty"),
    ],
)
def test_bad_inputs_are_clear_errors(image, mask, message):
    with pytest.raises(InpaintStudioError, match=message):
        inpaint_studio.remove(image, mask)


def test_a_missing_file_unknown_engine_or_device_is_a_clear_error(tmp_path, photo, hole):
    with pytest.raises(ImageError, match="nowhere.jpg"):
        inpaint_studio.remove(tmp_path / "nowhere.jpg", hole)
    with pytest.raises(InpaintStudioError, match="Unknown engine 'magic'"):
        inpaint_studio.remove(photo, hole, engine="magic")
    with pytest.raises(InpaintStudioError, match="Unknown device 'tpu'"):
        inpaint_studio.remove(photo, hole, device="tpu")


def test_a_learned_engine_without_its_model_says_what_to_download(tmp_path, photo, hole):
    with pytest.raises(EngineNotReadyError, match="LaMa needs the model 'big-lama'.*`inpaint-studio models download big-lama`"):
        inpaint_studio.remove(photo, hole, engine="lama", models_dir=tmp_path / "models")


# -- restore -------------------------------------------------------------------------------------


def test_restore_fills_what_the_detector_finds(photo):
    scratched = photo.copy()
    scratched[20:100, 80] = 255  # a thin bright scratch
    result = restore(scratched, detector="classical", engine="telea")
    assert isinstance(result, np.ndarray)
    assert np.abs(result[20:100, 80].astype(int) - photo[20:100, 80]).mean() < 20
    assert np.array_equal(result[:, :60], scratched[:, :60])

    clean = np.full((120, 160, 3), 128, np.uint8)
    assert np.array_equal(restore(clean, detector="classical"), clean)
    assert isinstance(restore(Image.fromarray(clean), detector="classical"), Image.Image)


def test_restore_refuses_a_bad_sensitivity_or_detector(photo):
    with pytest.raises(InpaintStudioError, match="sensitivity must be a number from 0 to 1"):
        restore(photo, sensitivity=2)
    with pytest.raises(InpaintStudioError, match="Unknown damage detector 'magic'"):
        restore(photo, detector="magic")


# -- select --------------------------------------------------------------------------------------


@pytest.fixture
def object_photo() -> np.ndarray:
    image = gradient_photo(120, 160)
    image[40:80, 50:110] = (200, 30, 30)  # a red object on the gradient
    return image


def test_select_with_a_box_returns_the_objects_mask(object_photo):
    mask = inpaint_studio.select(object_photo, box=(40, 30, 120, 90))
    assert isinstance(mask, np.ndarray) and mask.shape == (120, 160) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    inside = np.count_nonzero(mask[40:80, 50:110]) / (40 * 60)
    assert inside > 0.9 and np.count_nonzero(mask) < 1.2 * 40 * 60

    as_image = inpaint_studio.select(Image.fromarray(object_photo), box=[40, 30, 120, 90])
    assert isinstance(as_image, Image.Image) and as_image.mode == "L"
    assert np.array_equal(np.asarray(as_image), mask)


def test_select_with_points_uses_the_wand(object_photo):
    mask = inpaint_studio.select(object_photo, points=[(80, 60)])
    assert np.count_nonzero(mask[40:80, 50:110]) == 40 * 60 and np.count_nonzero(mask) == 40 * 60
    less = inpaint_studio.select(object_photo, points=[(80, 60), (5, 5, 0)], method="wand")
    assert np.array_equal(less, mask)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "Say what to select"),
        ({"box": (10, 10, 5, 20)}, "is empty: its second corner"),
        ({"box": "1,2,3,4"}, "A box is \\(x0, y0, x1, y1\\)"),
        ({"box": (0, 0, 10.5, 10)}, "Coordinates are whole numbers"),
        ({"points": [(1, 2, 3)]}, "third value is 1"),
        ({"points": [5]}, "A point is \\(x, y\\)"),
        ({"points": [(500, 5)]}, "outside the 160x120 photo"),
        ({"points": [(5, 5)], "method": "lasso"}, "Unknown selection method 'lasso'"),
        ({"points": [(5, 5)], "method": "grabcut"}, "GrabCut needs a --box"),
    ],
)
def test_select_refuses_unclear_prompts(object_photo, arguments, message):
    with pytest.raises(InpaintStudioError, match=message):
        inpaint_studio.select(object_photo, **arguments)


def test_select_with_sam_needs_its_model(tmp_path, object_photo):
    with pytest.raises(EngineNotReadyError, match="models download mobile-sam"):
        inpaint_studio.select(object_photo, points=[(80, 60)], method="sam", models_dir=tmp_path)

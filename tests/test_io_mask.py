"""load_mask: alpha or brightness, binarised at 127, upright, scaled to the photo with a warning."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from inpaint_studio.core.errors import ImageError
from inpaint_studio.io import load_mask


def test_luminance_binarised_at_127(tmp_path):
    values = np.array([[0, 126, 127, 128, 200, 255]], dtype=np.uint8)
    path = tmp_path / "m.png"
    Image.fromarray(values).save(path)
    mask, warnings = load_mask(path)
    assert mask.dtype == np.uint8 and mask.shape == (1, 6)
    np.testing.assert_array_equal(mask, [[0, 0, 0, 255, 255, 255]])
    assert warnings == []


def test_colour_mask_uses_luminance(tmp_path):
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 255, 255)
    rgb[0, 1] = (255, 0, 0)  # luma 76: keep
    rgb[0, 2] = (0, 255, 0)  # luma 150: fill
    path = tmp_path / "m.png"
    Image.fromarray(rgb).save(path)
    mask, _ = load_mask(path)
    np.testing.assert_array_equal(mask[0], [255, 0, 255])


def test_alpha_is_the_mask_when_not_opaque(tmp_path):
    # Painted strokes on a transparent layer: the stroke colour is black, so only alpha can tell.
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[1:3, 1:3, 3] = 255
    rgba[0, 0, 3] = 100  # faint: below the threshold
    path = tmp_path / "strokes.png"
    Image.fromarray(rgba).save(path)
    mask, _ = load_mask(path)
    expected = np.zeros((4, 4), dtype=np.uint8)
    expected[1:3, 1:3] = 255
    np.testing.assert_array_equal(mask, expected)


def test_opaque_alpha_falls_back_to_luminance(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[2:, 2:, :3] = 255
    path = tmp_path / "m.png"
    Image.fromarray(rgba).save(path)
    mask, _ = load_mask(path)
    assert mask.sum() == 4 * 255 and mask[3, 3] == 255


def test_16bit_mask(tmp_path):
    values = np.array([[0, 32000, 33000, 65535]], dtype=np.uint16)  # 32000/257 = 124.5, 33000/257 = 128.4
    path = tmp_path / "m16.png"
    Image.fromarray(values).save(path)
    np.testing.assert_array_equal(load_mask(path)[0], [[0, 0, 255, 255]])


def test_orientation_applied(tmp_path):
    upright = np.zeros((4, 6), dtype=np.uint8)
    upright[0, :2] = 255  # top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display turns it 90 degrees clockwise
    path = tmp_path / "m.png"
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))).save(path, exif=exif.tobytes())
    mask, _ = load_mask(path, size=(6, 4))
    np.testing.assert_array_equal(mask, upright)


def test_scaled_to_photo_with_warning(tmp_path):
    small = np.zeros((48, 64), dtype=np.uint8)
    small[:24, :32] = 255
    path = tmp_path / "m.png"
    Image.fromarray(small).save(path)
    mask, warnings = load_mask(path, size=(128, 96))
    assert mask.shape == (96, 128)
    assert set(np.unique(mask)) == {0, 255}
    assert mask[:48, :64].min() == 255 and mask[48:, :].max() == 0
    assert warnings == [f"Mask '{path}' is 64x48 but the image is 128x96; it was scaled to fit."]


def test_same_size_no_warning(tmp_path):
    path = tmp_path / "m.png"
    Image.new("L", (10, 8), 255).save(path)
    mask, warnings = load_mask(path, size=(10, 8))
    assert warnings == [] and mask.shape == (8, 10)


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "the file is empty (0 bytes)"), (b"just some text\n" * 10, "it is not a photo in a supported format")],
)
def test_bad_mask_files(tmp_path, content, reason):
    path = tmp_path / "m.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=re.escape(f"Cannot open '{path}': {reason}")):
        load_mask(path)


def test_missing_mask(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        load_mask(tmp_path / "m.png")


def test_mask_limit(tmp_path, monkeypatch):
    path = tmp_path / "m.png"
    Image.new("L", (100, 50)).save(path)
    with pytest.raises(ImageError, match="above the 1,000-pixel safety limit"):
        load_mask(path, max_pixels=1000)
    monkeypatch.setenv("INPAINT_STUDIO_MAX_PIXELS", "1000")
    with pytest.raises(ImageError, match="safety limit"):
        load_mask(path, size=(10, 10))
    # A mask the size of a photo that was already allowed in is allowed too.
    assert load_mask(path, size=(100, 50))[0].shape == (50, 100)

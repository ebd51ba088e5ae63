"""Hostile photo and mask files: only supported formats are decoded, and memory and decoding time
are bounded from the header, before any pixel is decoded (photos, thumbnails and masks alike)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from conftest import gradient_photo
from PIL import EpsImagePlugin, Image, ImageFile

from inpaint_studio.core.errors import ImageError
from inpaint_studio.io import image_file, load_image, load_mask, mask_file
from inpaint_studio.io.thumbnails import make_thumbnail

# An endless PostScript loop: Ghostscript would run it forever.
ENDLESS_POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n{ } loop\n"


@pytest.fixture
def no_ghostscript(monkeypatch):
    """Fails the test if Pillow ever hands a file to Ghostscript."""

    def refuse(*args, **kwargs):
        raise AssertionError("a file was handed to Ghostscript")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", refuse)


def _refused(path, *words, **kwargs) -> str:
    with pytest.raises(ImageError) as caught:
        load_image(path, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"Cannot open '{path}': ") and message.endswith(".")
    for word in words:
        assert word in message
    return message


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (ENDLESS_POSTSCRIPT, "it is a PostScript file, not a photo"),
        (b"\xc5\xd0\xd3\xc6" + bytes(26) + ENDLESS_POSTSCRIPT, "it is a PostScript file, not a photo"),  # DOS EPS
        (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "it is a PDF document, not a photo"),
    ],
)
def test_postscript_and_pdf_under_a_photo_name_are_never_decoded(tmp_path, no_ghostscript, content, reason):
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    started = time.perf_counter()
    _refused(path, reason)
    thumbnail = make_thumbnail(path)
    assert thumbnail.error == f"Cannot open '{path}': {reason}."
    with pytest.raises(ImageError, match=reason):
        load_mask(path, size=(10, 10))
    assert time.perf_counter() - started < 5


def test_other_formats_pillow_knows_are_not_read(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(gradient_photo(8, 8)).save(path, format="PPM")
    _refused(path, "it is not a photo in a supported format (JPEG, PNG, WebP, TIFF, BMP, GIF, AVIF or HEIC)")


# ---------------------------------------------------------------- memory by depth, not only pixels


def test_memory_is_budgeted_by_bit_depth(tmp_path):
    # At 400 pixels allowed, the budget is 9,600 bytes: 8-bit RGB fits, 16-bit RGBA (40 bytes a pixel) does not.
    rgb = gradient_photo(20, 20)
    eight = tmp_path / "eight.png"
    Image.fromarray(rgb).save(eight)
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), np.dstack([rgb, rgb[..., 0]]).astype(np.uint16) * 257)
    assert load_image(eight, max_pixels=400).rgb.shape == (20, 20, 3)
    message = _refused(deep, "20x20 image (16-bit colour)", "16,000 bytes of memory", "9,600 bytes allowed", max_pixels=400)
    assert "--max-pixels" in message
    assert make_thumbnail(deep, max_pixels=400).error == message  # the strip refuses what the editor refuses
    assert load_image(deep, max_pixels=1000).deep is not None  # a higher limit raises the budget too


def test_a_jpeg_with_an_absurd_number_of_scans_is_refused_before_decoding(tmp_path, monkeypatch):
    progressive, baseline = tmp_path / "progressive.jpg", tmp_path / "baseline.jpg"
    Image.fromarray(gradient_photo(32, 32)).save(progressive, progressive=True)  # about ten scans
    Image.fromarray(gradient_photo(32, 32)).save(baseline)  # one scan
    monkeypatch.setattr(image_file, "MAX_JPEG_SCANS", 3)
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self) or None)
    _refused(progressive, "the JPEG has more than 3 scans")
    assert "more than 3 scans" in (make_thumbnail(progressive).error or "")
    assert decoded == []
    monkeypatch.undo()
    monkeypatch.setattr(image_file, "MAX_JPEG_SCANS", 3)
    assert load_image(baseline).rgb.shape == (32, 32, 3)


def test_scan_markers_are_counted_only_where_they_can_be(tmp_path):
    # FF DA inside a comment, or after the end of the image (a motion photo's video, say), is no scan.
    path = tmp_path / "motion.jpg"
    Image.fromarray(gradient_photo(32, 32)).save(path, comment=b"\xff\xda" * 500)
    path.write_bytes(path.read_bytes() + b"\xff\xda\x00\x02" * 5000)
    assert image_file.jpeg_scan_count(path.read_bytes(), 1000) == 1
    assert load_image(path).rgb.shape == (32, 32, 3)
    progressive = tmp_path / "progressive.jpg"
    Image.fromarray(gradient_photo(32, 32)).save(progressive, progressive=True)
    assert 5 <= image_file.jpeg_scan_count(progressive.read_bytes(), 1000) <= 20
    assert image_file.jpeg_scan_count(progressive.read_bytes(), 3) == 4  # stops counting past the limit


# ---------------------------------------------------------------- masks far larger than their photo


def test_a_mask_far_larger_than_its_photo_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(mask_file, "MASK_FREE_PIXELS", 0)
    path = tmp_path / "huge-mask.png"
    Image.new("L", (200, 100), 255).save(path)
    with pytest.raises(ImageError) as caught:
        load_mask(path, size=(20, 10))
    assert str(caught.value) == (
        f"Cannot use the mask '{path}': it is 200x100 pixels, more than 4 times the 20x10 photo it is for; "
        "make the mask the photo's size."
    )
    assert load_mask(path, size=(100, 50))[0].shape == (50, 100)  # four times the photo: still read


def test_a_huge_jpeg_mask_is_decoded_reduced(tmp_path, monkeypatch):
    monkeypatch.setattr(mask_file, "MASK_FREE_PIXELS", 0)
    values = np.zeros((400, 400), np.uint8)
    values[:200, :200] = 255
    path = tmp_path / "mask.jpg"
    Image.fromarray(values).save(path, quality=95)
    decoded_sizes = []
    real_load = ImageFile.ImageFile.load

    def load(self):
        decoded_sizes.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    mask, warnings = load_mask(path, size=(50, 50))
    assert set(decoded_sizes) == {(50, 50)}  # libjpeg decoded it at 1/8, never at 400x400
    assert mask.shape == (50, 50)
    assert mask[:24, :24].min() == 255 and mask[26:, :].max() == 0 and mask[:, 26:].max() == 0
    assert warnings == [f"Mask '{path}' is 400x400 but the image is 50x50; it was scaled to fit."]

"""load_image: modes, depths, orientation, metadata, and a clear error for every bad file."""

from __future__ import annotations

import base64
import importlib.util
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, features

from inpaint_studio.core.errors import ImageError
from inpaint_studio.io import DEFAULT_MAX_PIXELS, default_output_path, formats, load_image, save_image

ORIENTATION = 0x0112
MAKE = 0x010F


def upright_reference(height: int = 5, width: int = 7) -> np.ndarray:
    """An RGB image with no symmetry, so every flip or rotation shows."""
    y, x = np.mgrid[0:height, 0:width]
    return np.dstack([x * 30, y * 40, (x * 7 + y * 13) % 256]).astype(np.uint8)


def stored_for_orientation(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels a camera stores so that EXIF `orientation` displays `upright` (EXIF 2.3 definitions)."""
    return {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],  # mirrored horizontally
        3: lambda a: a[::-1, ::-1],  # rotated 180
        4: lambda a: a[::-1],  # mirrored vertically
        5: lambda a: a.swapaxes(0, 1),  # row 0 = visual left, column 0 = visual top
        6: lambda a: np.rot90(a, 1),  # row 0 = visual right, column 0 = visual top
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],  # row 0 = visual right, column 0 = visual bottom
        8: lambda a: np.rot90(a, -1),  # row 0 = visual left, column 0 = visual bottom
    }[orientation](upright)


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "TestCam"
    return exif.tobytes()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png16_bytes(rgb16: np.ndarray, exif: bytes | None = None) -> bytes:
    """A 48/64-bit PNG (which Pillow cannot write), optionally with an eXIf chunk."""
    order = [2, 1, 0, 3][: rgb16.shape[2]]
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb16[..., order]))
    assert ok
    data = encoded.tobytes()
    if exif:
        data = data[:33] + png_chunk(b"eXIf", exif[6:]) + data[33:]
    return data


# ---------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_png(tmp_path, orientation):
    upright = upright_reference()
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(np.ascontiguousarray(stored_for_orientation(upright, orientation))).save(
        path, exif=exif_bytes(orientation)
    )
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.rgb, upright)
    assert (loaded.width, loaded.height) == (7, 5)
    assert loaded.native.size == (7, 5)
    assert loaded.rgb.flags.c_contiguous


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_tiff_applied_once(tmp_path, orientation):
    # Pillow 13 already turns TIFFs upright while decoding; it must not happen twice.
    upright = upright_reference()
    path = tmp_path / f"o{orientation}.tif"
    Image.fromarray(np.ascontiguousarray(stored_for_orientation(upright, orientation))).save(
        path, exif=exif_bytes(orientation), compression="tiff_lzw"
    )
    np.testing.assert_array_equal(load_image(path).rgb, upright)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_16bit_png(tmp_path, orientation):
    upright16 = upright_reference().astype(np.uint16) * 257 + 3
    path = tmp_path / f"o{orientation}.png"
    stored = np.ascontiguousarray(stored_for_orientation(upright16, orientation))
    path.write_bytes(png16_bytes(stored, exif_bytes(orientation)))
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.deep, upright16)
    np.testing.assert_array_equal(loaded.rgb, upright_reference())


def test_orientation_alpha_follows_pixels(tmp_path):
    upright = np.dstack([upright_reference(), np.arange(35, dtype=np.uint8).reshape(5, 7) * 7])
    path = tmp_path / "o6.png"
    Image.fromarray(np.ascontiguousarray(stored_for_orientation(upright, 6))).save(path, exif=exif_bytes(6))
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.alpha, upright[..., 3])


def test_exif_orientation_reset_and_other_tags_kept(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.ascontiguousarray(stored_for_orientation(upright_reference(), 8))).save(
        path, exif=exif_bytes(8)
    )
    exif = Image.Exif()
    exif.load(load_image(path).exif)
    assert exif[ORIENTATION] == 1
    assert exif[MAKE] == "TestCam"


def test_dpi_swaps_with_rotation(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(upright_reference()).save(path, exif=exif_bytes(6), dpi=(300, 150))
    dpi = load_image(path).native.info["dpi"]
    assert (round(dpi[0]), round(dpi[1])) == (150, 300)


# ---------------------------------------------------------------- modes and depths


def test_rgb_jpeg(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(upright_reference()).save(path, quality=95)
    loaded = load_image(path)
    assert loaded.format == "JPEG"
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.shape == (5, 7, 3)
    assert loaded.alpha is None and loaded.bit_depth == 8
    assert "qtables" in loaded.save_options


def test_grayscale(tmp_path):
    path = tmp_path / "gray.png"
    gray = np.arange(35, dtype=np.uint8).reshape(5, 7) * 7
    Image.fromarray(gray).save(path)
    loaded = load_image(path)
    assert loaded.native.mode == "L"
    for channel in range(3):
        np.testing.assert_array_equal(loaded.rgb[..., channel], gray)


def test_16bit_gray_png_rounds_to_nearest(tmp_path):
    values = np.array([[0, 128, 129, 257 * 100, 257 * 100 + 128, 257 * 100 + 129, 65535]], dtype=np.uint16)
    path = tmp_path / "gray16.png"
    Image.fromarray(values).save(path)
    loaded = load_image(path)
    assert loaded.native.mode == "I;16" and loaded.bit_depth == 16
    np.testing.assert_array_equal(loaded.rgb[0, :, 0], [0, 0, 1, 100, 100, 101, 255])
    np.testing.assert_array_equal(np.asarray(loaded.native), values)


@pytest.mark.parametrize("extension", [".png", ".tif"])
def test_16bit_rgb_full_depth(tmp_path, extension):
    rng = np.random.default_rng(1)
    rgb16 = rng.integers(0, 65536, size=(6, 9, 3), dtype=np.uint16)
    path = tmp_path / f"deep{extension}"
    cv2.imwrite(str(path), rgb16[..., ::-1])
    with Image.open(path) as im:  # what Pillow alone would give: 8 bits, high byte only
        assert im.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(im), rgb16 >> 8)
    loaded = load_image(path)
    assert loaded.bit_depth == 16
    np.testing.assert_array_equal(loaded.deep, rgb16)
    expected = (rgb16.astype(np.uint32) * 255 + 32767) // 65535
    np.testing.assert_array_equal(loaded.rgb, expected)
    assert loaded.alpha is None


def test_16bit_rgba_png(tmp_path):
    rgba16 = np.zeros((4, 5, 4), dtype=np.uint16)
    rgba16[..., 0] = 60000
    rgba16[..., 3] = np.arange(20).reshape(4, 5) * 3000
    path = tmp_path / "deep.png"
    path.write_bytes(png16_bytes(rgba16))
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.deep, rgba16)
    np.testing.assert_array_equal(loaded.alpha, (rgba16[..., 3].astype(np.uint32) * 255 + 32767) // 65535)


def test_rgba_and_la_alpha(tmp_path):
    alpha = np.arange(35, dtype=np.uint8).reshape(5, 7) * 7
    Image.fromarray(np.dstack([upright_reference(), alpha])).save(tmp_path / "rgba.png")
    Image.fromarray(np.dstack([alpha, alpha[::-1]])).save(tmp_path / "la.png")
    rgba = load_image(tmp_path / "rgba.png")
    np.testing.assert_array_equal(rgba.alpha, alpha)
    np.testing.assert_array_equal(rgba.rgb, upright_reference())
    la = load_image(tmp_path / "la.png")
    assert la.native.mode == "LA"
    np.testing.assert_array_equal(la.alpha, alpha[::-1])
    np.testing.assert_array_equal(la.rgb[..., 1], alpha)


def test_palette_with_transparency(tmp_path):
    image = Image.new("P", (4, 2))
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    image.putdata([0, 1, 2, 3, 3, 2, 1, 0])
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    loaded = load_image(path)
    assert loaded.native.mode == "P"
    np.testing.assert_array_equal(loaded.alpha, [[0, 255, 255, 255], [255, 255, 255, 0]])
    np.testing.assert_array_equal(loaded.rgb[0, 1], [255, 0, 0])
    np.testing.assert_array_equal(loaded.rgb[1, 0], [0, 0, 255])


def test_palette_without_transparency_has_no_alpha(tmp_path):
    path = tmp_path / "palette.bmp"
    Image.fromarray(upright_reference()).convert("P").save(path)
    loaded = load_image(path)
    assert loaded.native.mode == "P" and loaded.alpha is None


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (6, 4), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    loaded = load_image(path)
    assert loaded.format == "GIF"
    np.testing.assert_array_equal(loaded.rgb[0, 0], [255, 0, 0])


def test_cmyk_jpeg_plausible_rgb(tmp_path):
    cmyk = np.zeros((8, 16, 4), dtype=np.uint8)
    cmyk[:, :8, 0] = 255  # cyan ink
    cmyk[:, 8:, 3] = 255  # black ink
    path = tmp_path / "print.jpg"
    Image.fromarray(cmyk, mode="CMYK").save(path, quality=95)
    loaded = load_image(path)
    assert loaded.native.mode == "CMYK" and loaded.format == "JPEG"
    cyan, black = loaded.rgb[4, 2].astype(int), loaded.rgb[4, 12].astype(int)
    assert cyan[0] < 40 and cyan[1] > 200 and cyan[2] > 200
    assert black.max() < 40


def test_icc_profile_kept(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "photo.png"
    Image.fromarray(upright_reference()).save(path, icc_profile=icc)
    assert load_image(path).icc_profile == icc


def test_float_tiff_reads_zero_to_one(tmp_path):
    values = np.linspace(0.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "float.tif"
    Image.fromarray(values).save(path)
    loaded = load_image(path)
    assert loaded.native.mode == "F" and loaded.bit_depth == 16
    np.testing.assert_array_equal(loaded.rgb[..., 0], np.round(values * 255).astype(np.uint8))


def test_webp_lossless_detected(tmp_path):
    Image.fromarray(upright_reference()).save(tmp_path / "a.webp", lossless=True)
    Image.fromarray(upright_reference()).save(tmp_path / "b.webp", quality=80)
    assert load_image(tmp_path / "a.webp").save_options["lossless"] is True
    assert load_image(tmp_path / "b.webp").save_options["lossless"] is False


def test_file_handle_closed(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(upright_reference()).save(path)
    load_image(path)
    fd_dir = "/proc/self/fd"
    if not os.path.isdir(fd_dir):
        pytest.skip("needs /proc to list open files")
    open_files = {os.path.realpath(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)}
    assert str(path.resolve()) not in open_files


# ---------------------------------------------------------------- bad input


def assert_cannot_open(path, reason: str, **kwargs) -> ImageError:
    with pytest.raises(ImageError) as info:
        load_image(path, **kwargs)
    message = str(info.value)
    assert message.startswith(f"Cannot open '{path}': ")
    assert reason in message
    assert message.endswith(".") and "\n" not in message
    return info.value


def test_empty_file(tmp_path):
    path = tmp_path / "x.jpg"
    path.write_bytes(b"")
    assert_cannot_open(path, "the file is empty (0 bytes)")


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_truncated_file(tmp_path, extension):
    rng = np.random.default_rng(0)
    path = tmp_path / f"cut{extension}"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_cannot_open(path, "the file is truncated or damaged")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert_cannot_open(path, "it is not a photo in a supported format (JPEG, PNG, WebP, TIFF, BMP, GIF, AVIF or HEIC)")


def test_text_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello, this is not a picture\n" * 20)
    assert_cannot_open(path, "not a photo in a supported format")


def test_folder(tmp_path):
    path = tmp_path / "album.jpg"
    path.mkdir()
    assert_cannot_open(path, "it is a folder")


def test_missing_file(tmp_path):
    assert_cannot_open(tmp_path / "gone.jpg", "file not found")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.png"
    Image.fromarray(upright_reference()).save(path)
    path.chmod(0)
    try:
        assert_cannot_open(path, "permission denied")
    finally:
        path.chmod(0o644)


def test_permission_error_while_opening(tmp_path, monkeypatch):
    # Runs even as root, where chmod cannot make a file unreadable.
    path = tmp_path / "secret.png"
    Image.fromarray(upright_reference()).save(path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", denied)
    assert_cannot_open(path, "permission denied")


def test_unsupported_mode(tmp_path):
    path = tmp_path / "lab.tif"
    Image.new("LAB", (4, 4)).save(path)
    assert_cannot_open(path, "image mode 'LAB' is not supported")


def test_bomb_refused_with_size_in_message(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    error = assert_cannot_open(path, "the image is 300x200 pixels (60,000 pixels)", max_pixels=1000)
    assert "above the 1,000-pixel safety limit" in str(error)
    assert "--max-pixels or INPAINT_STUDIO_MAX_PIXELS" in str(error)


def test_bomb_refused_before_decoding(tmp_path):
    # A header claiming 30000x30000 with no pixel data: only the size check can name the problem.
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", b"junk"))
    assert_cannot_open(
        path, "the image is 30000x30000 pixels (900 megapixels), above the 250-megapixel safety limit"
    )


def test_bomb_limit_from_environment(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(path)
    monkeypatch.setenv("INPAINT_STUDIO_MAX_PIXELS", "5000")
    assert_cannot_open(path, "above the 5,000-pixel safety limit")
    assert load_image(path, max_pixels=20_000).width == 100  # the argument beats the variable
    monkeypatch.setenv("INPAINT_STUDIO_MAX_PIXELS", "lots")
    with pytest.raises(ImageError, match="INPAINT_STUDIO_MAX_PIXELS"):
        load_image(path)


def test_pillow_global_limit_neither_fires_nor_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow would call 40x40 a bomb
    path = tmp_path / "photo.png"
    Image.new("RGB", (40, 40)).save(path)
    assert load_image(path).width == 40
    assert Image.MAX_IMAGE_PIXELS == 100
    assert DEFAULT_MAX_PIXELS == 250_000_000


def test_concurrent_loads_restore_pillow_limit(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(upright_reference(64, 64)).save(path)
    before = Image.MAX_IMAGE_PIXELS
    with ThreadPoolExecutor(8) as pool:
        widths = list(pool.map(lambda _: load_image(path).width, range(32)))
    assert widths == [64] * 32
    assert Image.MAX_IMAGE_PIXELS == before


# ---------------------------------------------------------------- AVIF, HEIC and files of several frames

needs_avif = pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF codec")
needs_pi_heif = pytest.mark.skipif(importlib.util.find_spec("pi_heif") is None, reason="pi-heif is not installed")

# A 24x16 gradient (red grows to the right, green downwards, blue 128) that ImageMagick wrote as HEIC.
HEIC_GRADIENT = base64.b64decode(
    "AAAAHGZ0eXBoZWljAAAAAG1pZjFoZWljbWlhZgAAAaptZXRhAAAAAAAAACFoZGxyAAAAAAAAAABwaWN0AAAAAAAAAAAAAAAA"
    "AAAAAA5waXRtAAAAAAACAAAAEGlkYXQAAAAAABgAEAAAADhpbG9jAQAAAERAAAIAAQAAAAAAAAHOAAEAAAAAAAAA4AACAAEA"
    "AAAAAAAAAQAAAAAAAAAIAAAAOGlpbmYAAAAAAAIAAAAVaW5mZQIAAAEAAQAAaHZjMQAAAAAVaW5mZQIAAAAAAgAAZ3JpZAAA"
    "AADVaXBycAAAALNpcGNvAAAAc2h2Y0MBA3AAAAAAAAAAAAAe8AD8/fj4AAAPAyAAAQAYQAEMAf//A3AAAAMAkAAAAwAAAwAe"
    "ugJAIQABACdCAQEDcAAAAwCQAAADAAADAB6gIIEFluqumubAgAAAAwCAAAADAIQiAAEABkQBwXPBiQAAABRpc3BlAAAAAAAA"
    "AEAAAABAAAAAFGlzcGUAAAAAAAAAGAAAABAAAAAQcGl4aQAAAAADCAgIAAAAGmlwbWEAAAAAAAAAAgABAoECAAICA4QAAAAa"
    "aXJlZgAAAAAAAAAOZGltZwACAAEAAQAAAOhtZGF0AAAA3CgBrwayH6qyUJGqUxA5F47+IxJeqTLSpM/gov5jTe8TlvHQ0eLX"
    "Eqmtt8IGJhf/BPcqfi3SiX7SMJ/92jOp3u0Jn3GSML5HpRDb0JwgwN2+pP5WNxPlancwrgJ7UuZ4BFLBsGN234Vksbdi1YkZ"
    "rFTPaWL6nbBjpNNi0f/TSf2g+k/bPfxD2wWslzC9MUrSBa2PcArijQ9M1TlRk5x/t9ldT0H+wnWWEzwk/W+z3pBgNtdaDOke"
    "6R+lOnL0j6CrL86QiwQ50J9G6DIRYNKrVKdENXtroY8sEOr834A="
)


def heic_gradient() -> np.ndarray:
    y, x = np.mgrid[0:16, 0:24]
    return np.dstack([x * 10, y * 15, np.full_like(x, 128)]).astype(np.uint8)


def smooth_reference(height: int = 30, width: int = 40) -> np.ndarray:
    """Gradients without symmetry that survive lossy coding: a wrong turn or flip shows as a large error."""
    y, x = np.mgrid[0:height, 0:width]
    return np.dstack([x * 255 // (width - 1), y * 255 // (height - 1), np.full_like(x, 90)]).astype(np.uint8)


@needs_avif
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_avif_is_read_and_turned_upright_once(tmp_path, orientation):
    upright = smooth_reference()
    path = tmp_path / f"o{orientation}.avif"
    Image.fromarray(np.ascontiguousarray(stored_for_orientation(upright, orientation))).save(
        path, exif=exif_bytes(orientation), quality=95
    )
    loaded = load_image(path)
    assert loaded.format == "AVIF" and loaded.rgb.shape == upright.shape
    assert np.abs(loaded.rgb.astype(int) - upright).mean() < 4
    exif = Image.Exif()
    exif.load(loaded.exif)
    assert exif.get(ORIENTATION, 1) == 1 and exif[MAKE] == "TestCam"


@needs_pi_heif
def test_heic_is_read_through_pi_heif(tmp_path):
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(HEIC_GRADIENT)
    loaded = load_image(path)
    assert loaded.format == "HEIF" and loaded.rgb.shape == (16, 24, 3) and loaded.frames == 1
    assert np.abs(loaded.rgb.astype(int) - heic_gradient()).mean() < 8


@needs_pi_heif
def test_heic_is_written_back_as_jpeg_and_says_so(tmp_path):
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(HEIC_GRADIENT)
    loaded = load_image(path)
    output = default_output_path(path)
    assert output == tmp_path / "IMG_0001_inpainted.jpg"
    warnings: list[str] = []
    save_image(loaded, loaded.rgb, output, warn=warnings.append)
    assert Image.open(output).format == "JPEG"
    assert warnings == ["HEIC cannot be written, so the result is a JPEG file."]
    with pytest.raises(ImageError, match=r"cannot write HEIC files \(pi-heif, which reads them, cannot write them\); use \.jpg"):
        save_image(loaded, loaded.rgb, tmp_path / "again.heic")
    assert not (tmp_path / "again.heic").exists()


def test_heic_without_pi_heif_says_what_it_needs(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "_pi_heif_registered", lambda: False)
    path = tmp_path / "IMG_0001.heic"
    path.write_bytes(HEIC_GRADIENT)
    assert_cannot_open(path, "HEIC photos need the pi-heif package (pip install pi-heif)")


@pytest.mark.parametrize(
    ("name", "options"), [("anim.gif", {}), ("anim.webp", {"lossless": True}), ("pages.tif", {}), ("one.png", None)]
)
def test_frames_and_pages_are_counted(tmp_path, name, options):
    frames = [Image.new("RGB", (6, 4), colour) for colour in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    path = tmp_path / name
    if options is None:
        frames[0].save(path)
    else:
        frames[0].save(path, save_all=True, append_images=frames[1:], **options)
    loaded = load_image(path)
    assert loaded.frames == (1 if options is None else 3)
    np.testing.assert_array_equal(loaded.rgb[0, 0], [255, 0, 0])  # the first frame is the one edited

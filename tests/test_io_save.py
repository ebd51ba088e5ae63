"""save_image: untouched pixels stay exactly as they were, format settings and metadata carry over."""

from __future__ import annotations

import errno
import io
import itertools
import os
import struct

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, IptcImagePlugin, PngImagePlugin, features

from inpaint_studio.core.errors import ImageError
from inpaint_studio.io import default_output_path, load_image, save_image

ORIENTATION = 0x0112
MAKE = 0x010F
DATE_TIME_ORIGINAL = 0x9003
EXIF_IFD = 0x8769


def photo(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise: compresses like a photo, not like flat colour."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.dstack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)])
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def edit(rgb: np.ndarray, colour=(10, 200, 30)) -> tuple[np.ndarray, np.ndarray]:
    """What an engine returns: a copy with one rectangle repainted; also the changed-pixel mask."""
    result = rgb.copy()
    result[5:15, 8:20] = colour
    changed = np.zeros(rgb.shape[:2], dtype=bool)
    changed[5:15, 8:20] = True
    return result, changed


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def without_creation_date(icc: bytes) -> bytes:
    """An ICC profile minus its header's creation date (bytes 24-35), which lcms sets to 'now'."""
    return icc[:24] + icc[36:]


def s15fixed16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def lut16_tag(inputs: int, outputs: int, corner_values) -> bytes:
    """ICC v2 'mft2' tag: identity matrix and curves, a 2-point grid filled from corner_values(corner)."""
    linear = struct.pack(">HH", 0, 65535)
    corners = itertools.product((0, 1), repeat=inputs)
    grid = b"".join(struct.pack(">H", round(v * 65535)) for c in corners for v in corner_values(c))
    identity = b"".join(s15fixed16(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    return (
        b"mft2" + bytes(4) + bytes([inputs, outputs, 2, 0]) + identity + struct.pack(">HH", 2, 2)
        + linear * inputs + grid + linear * outputs
    )


def toy_cmyk_profile() -> bytes:
    """A tiny CMYK printer profile (no real one ships with the test environment).

    Its inks are dull (cyan reads as a muted teal, unlike Pillow's plain
    conversion) and it prints any gray with black ink only.
    """
    white = s15fixed16(0.9642) + s15fixed16(1.0) + s15fixed16(0.8249)

    def to_lab(cmyk):  # v2 16-bit Lab encoding: L * 0xFF00 / 100, (a + 128) * 256
        c, m, y, k = cmyk
        lightness = 100 * (1 - k) * (1 - 0.25 * (c + m + y))
        a, b = 15 * (m - c), 15 * (2 * y - c - m)
        return lightness * 0xFF00 / 100 / 65535, (a + 128) * 256 / 65535, (b + 128) * 256 / 65535

    def to_cmyk(lab):
        return 0, 0, 0, 1 - lab[0]

    tags = {
        b"A2B0": lut16_tag(4, 3, to_lab),
        b"B2A0": lut16_tag(3, 4, to_cmyk),
        b"wtpt": b"XYZ " + bytes(4) + white,
    }
    table, body = struct.pack(">I", len(tags)), b""
    data_start = 128 + 4 + 12 * len(tags)
    for signature, data in tags.items():
        table += signature + struct.pack(">II", data_start + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    header = (
        struct.pack(">I", data_start + len(body)) + bytes(4) + bytes([2, 0x10, 0, 0])
        + b"prtrCMYKLab " + bytes(12) + b"acsp" + bytes(28) + white + bytes(48)
    )
    return header + table + body


def exif_with(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "TestCam"
    exif[EXIF_IFD] = {DATE_TIME_ORIGINAL: "2024:05:06 07:08:09"}
    return exif.tobytes()


def xmp_packet(orientation: int | None = None) -> bytes:
    """An XMP packet as Lightroom or digiKam writes it: keywords (dc:subject), a rating, maybe an orientation."""
    turned = f' tiff:Orientation="{orientation}"'.encode() if orientation else b""
    return (
        b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmp:Rating="4"'
        + turned
        + b'><dc:subject><rdf:Bag><rdf:li>harbour</rdf:li><rdf:li>fishing boats</rdf:li></rdf:Bag></dc:subject>'
        b"</rdf:Description></rdf:RDF></x:xmpmeta>\n" + b" " * 200 + b'\n<?xpacket end="w"?>'
    )


def iptc_record(dataset: int, value: bytes) -> bytes:
    return b"\x1c\x02" + bytes([dataset]) + struct.pack(">H", len(value)) + value


# IPTC-IIM: record version, two keywords, a caption.
IPTC = iptc_record(0, b"\x00\x04") + iptc_record(25, b"harbour") + iptc_record(25, b"fishing boats") + iptc_record(120, b"Dawn")
IPTC_FIELDS = {(2, 0): b"\x00\x04", (2, 25): [b"harbour", b"fishing boats"], (2, 120): b"Dawn"}


def save_with_metadata(image: Image.Image, path, *, xmp: bytes | None = None, iptc: bytes | None = None, **options) -> None:
    """Write `image` with an XMP packet (and, for JPEG, IPTC) the way other programs do."""
    if path.suffix == ".png" and xmp:
        text = PngImagePlugin.PngInfo()
        text.add_itxt("XML:com.adobe.xmp", xmp.decode())
        options["pnginfo"] = text
    elif path.suffix == ".tif":
        tags = Image.Exif()
        tags.load(options.pop("exif", b""))
        tags.update({700: xmp} if xmp else {})
        tags.update({33723: iptc} if iptc else {})
        options["exif"] = tags
    elif xmp:
        options["xmp"] = xmp
    if path.suffix == ".jpg" and iptc:
        resource = b"8BIM\x04\x04\0\0" + struct.pack(">I", len(iptc)) + iptc + b"\0" * (len(iptc) % 2)
        payload = b"Photoshop 3.0\0" + resource
        options["extra"] = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    image.save(path, **options)


def written_xmp(image: Image.Image) -> bytes | None:
    xmp = image.info.get("xmp")
    return xmp.encode() if isinstance(xmp, str) else xmp


def read16(path) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return pixels[..., [2, 1, 0, 3][: pixels.shape[2]]] if pixels.ndim == 3 else pixels


# ---------------------------------------------------------------- full-depth write-back


def test_rgba_png_keeps_alpha_exactly(tmp_path):
    alpha = np.random.default_rng(3).integers(0, 256, (48, 64), dtype=np.uint8)
    source = tmp_path / "in.png"
    Image.fromarray(np.dstack([photo(), alpha])).save(source)
    loaded = load_image(source)
    result, changed = edit(loaded.rgb)
    out = np.asarray(Image.open(save_image(loaded, result, tmp_path / "out.png")))
    np.testing.assert_array_equal(out[..., 3], alpha)
    np.testing.assert_array_equal(out[..., :3], result)


@pytest.mark.parametrize("extension", [".png", ".tif"])
@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_rgb_untouched_pixels_bit_identical(tmp_path, extension, channels):
    rng = np.random.default_rng(7)
    source16 = rng.integers(0, 65536, (48, 64, channels), dtype=np.uint16)
    source = tmp_path / f"in{extension}"
    cv2.imwrite(str(source), source16[..., [2, 1, 0, 3][:channels]])
    loaded = load_image(source)
    result, changed = edit(loaded.rgb)
    out_path = save_image(loaded, result, tmp_path / f"out{extension}")
    out = read16(out_path)
    assert out.dtype == np.uint16 and out.shape == source16.shape
    np.testing.assert_array_equal(out[~changed], source16[~changed])
    assert (out[changed][:, :3] == np.array([10, 200, 30]) * 257).all()
    if channels == 4:
        np.testing.assert_array_equal(out[..., 3], source16[..., 3])  # alpha stays 16-bit too


@pytest.mark.parametrize("extension", [".png", ".tif"])
def test_16bit_rgb_keeps_metadata(tmp_path, extension):
    source16 = np.random.default_rng(8).integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    plain = tmp_path / f"plain{extension}"
    cv2.imwrite(str(plain), source16[..., ::-1])
    loaded = load_image(plain)
    loaded.icc_profile = srgb_icc()  # as if the source had carried them
    loaded.exif = exif_with(1)
    loaded.xmp, loaded.iptc = xmp_packet(), IPTC
    loaded.native.info["dpi"] = (300, 300)
    out_path = save_image(loaded, loaded.rgb, tmp_path / f"out{extension}")
    np.testing.assert_array_equal(read16(out_path), source16)
    with Image.open(out_path) as out:
        assert written_xmp(out) == xmp_packet()
        assert IptcImagePlugin.getiptcinfo(out) == (IPTC_FIELDS if extension == ".tif" else None)
        assert without_creation_date(out.info["icc_profile"]) == without_creation_date(srgb_icc())
        assert [round(d) for d in out.info["dpi"]] == [300, 300]
        exif = out.getexif()
        assert exif[MAKE] == "TestCam"
        assert exif.get_ifd(EXIF_IFD)[DATE_TIME_ORIGINAL] == "2024:05:06 07:08:09"


@pytest.mark.parametrize("orientation", [3, 6])
def test_16bit_rgb_tiff_orientation(tmp_path, orientation):
    # Pillow turns a TIFF upright while decoding its 8-bit view; the 16-bit pixels must agree.
    stored = np.random.default_rng(11).integers(0, 65536, (6, 10, 3), dtype=np.uint16)
    plain = tmp_path / "plain.tif"
    cv2.imwrite(str(plain), stored[..., ::-1])
    loaded = load_image(plain)
    loaded.exif = exif_with(orientation)  # written into the TIFF as it is
    rotated = save_image(loaded, loaded.rgb, tmp_path / "rotated.tif")
    reloaded = load_image(rotated)
    upright = np.rot90(stored, 2) if orientation == 3 else np.rot90(stored, -1)
    assert reloaded.deep is not None
    np.testing.assert_array_equal(reloaded.deep, upright)


@pytest.mark.parametrize("extension", [".png", ".tif"])
def test_16bit_gray_untouched_pixels_bit_identical(tmp_path, extension):
    source16 = np.random.default_rng(9).integers(0, 65536, (48, 64), dtype=np.uint16)
    source = tmp_path / f"in{extension}"
    Image.fromarray(source16).save(source)
    loaded = load_image(source)
    result, changed = edit(loaded.rgb, colour=(90, 90, 90))
    with Image.open(save_image(loaded, result, tmp_path / f"out{extension}")) as out:
        assert out.mode == "I;16"
        pixels = np.asarray(out)
    np.testing.assert_array_equal(pixels[~changed], source16[~changed])
    assert (pixels[changed] == 90 * 257).all()


def test_16bit_into_jpeg_becomes_8bit(tmp_path):
    source16 = np.random.default_rng(10).integers(0, 65536, (16, 16, 3), dtype=np.uint16)
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), source16[..., ::-1])
    loaded = load_image(source)
    with Image.open(save_image(loaded, loaded.rgb, tmp_path / "out.jpg")) as out:
        assert (out.format, out.mode) == ("JPEG", "RGB")


def test_grayscale_stays_grayscale(tmp_path):
    gray = photo()[..., 0]
    for name in ("in.png", "in.jpg"):
        Image.fromarray(gray).save(tmp_path / name)
        loaded = load_image(tmp_path / name)
        result, changed = edit(loaded.rgb, colour=(200, 100, 0))
        with Image.open(save_image(loaded, result, tmp_path / f"out_{name}")) as out:
            assert out.mode == "L"
            if name.endswith(".png"):
                pixels = np.asarray(out)
                np.testing.assert_array_equal(pixels[~changed], gray[~changed])
                # Pillow's luma weights: (200*19595 + 100*38470 + 0*7471 + 32768) >> 16 = 118
                assert (pixels[changed] == 118).all()


def test_palette_requantised_to_original_palette(tmp_path):
    palette = [0, 0, 0, 20, 20, 20, 255, 0, 0, 0, 255, 0, 0, 0, 255, 250, 250, 250]
    indices = np.random.default_rng(4).integers(0, 6, (48, 64), dtype=np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette)
    source = tmp_path / "in.png"
    image.save(source, transparency=0)  # entry 0 (black) is fully transparent
    loaded = load_image(source)

    result = loaded.rgb.copy()
    result[0:10, 0:10] = (240, 10, 5)  # nearest: red, entry 2
    result[10:20, 0:10] = (0, 0, 0)  # black, but only transparent pixels may use entry 0
    out_path = save_image(loaded, result, tmp_path / "out.png")
    with Image.open(out_path) as out:
        assert out.mode == "P"
        assert out.getpalette()[:18] == palette
        out_indices = np.asarray(out)
    changed = np.any(result != loaded.rgb, axis=2)
    np.testing.assert_array_equal(out_indices[~changed], indices[~changed])
    block = out_indices[0:10, 0:10]
    assert ((block == 2) | (indices[0:10, 0:10] == 0)).all()  # transparent pixels keep entry 0
    block = out_indices[10:20, 0:10]
    expected = np.where(indices[10:20, 0:10] == 0, 0, 1)  # opaque ones take the nearest opaque gray
    np.testing.assert_array_equal(block, expected)
    np.testing.assert_array_equal(load_image(out_path).alpha, loaded.alpha)


def test_palette_into_jpeg_becomes_rgb(tmp_path):
    source = tmp_path / "in.gif"
    Image.fromarray(photo()).convert("P").save(source)
    loaded = load_image(source)
    with Image.open(save_image(loaded, loaded.rgb, tmp_path / "out.jpg")) as out:
        assert out.mode == "RGB"


def test_gif_stays_gif(tmp_path):
    source = tmp_path / "in.gif"
    Image.fromarray(photo()).convert("P").save(source)
    loaded = load_image(source)
    out_path = save_image(loaded, loaded.rgb, tmp_path / "out")  # no extension: the input's format
    with Image.open(out_path) as out:
        assert out.format == "GIF"
        np.testing.assert_array_equal(np.asarray(out.convert("RGB")), loaded.rgb)


def test_cmyk_jpeg_saves_as_cmyk_jpeg(tmp_path):
    cmyk = np.zeros((32, 32, 4), dtype=np.uint8)
    cmyk[..., 1] = 200  # magenta
    source = tmp_path / "print.jpg"
    Image.fromarray(cmyk, mode="CMYK").save(source, quality=95)
    loaded = load_image(source)
    result = loaded.rgb.copy()
    result[0:8, 0:8] = (255, 255, 255)  # paper white
    with Image.open(save_image(loaded, result, tmp_path / "out.jpg")) as out:
        assert (out.format, out.mode) == ("JPEG", "CMYK")
        pixels = np.asarray(out).astype(int)
    assert pixels[2:6, 2:6].max() < 20  # no ink where it was painted white
    assert abs(pixels[20, 20, 1] - 200) < 20  # magenta elsewhere


def test_cmyk_tiff_untouched_pixels_exact(tmp_path):
    cmyk = np.random.default_rng(5).integers(0, 256, (32, 32, 4), dtype=np.uint8)
    source = tmp_path / "print.tif"
    Image.fromarray(cmyk, mode="CMYK").save(source)
    loaded = load_image(source)
    result, changed = edit(loaded.rgb)
    with Image.open(save_image(loaded, result, tmp_path / "out.tif")) as out:
        assert out.mode == "CMYK"
        pixels = np.asarray(out)
    np.testing.assert_array_equal(pixels[~changed], cmyk[~changed])
    # Pillow's plain RGB -> CMYK (no profile): C = 255 - R, M = 255 - G, Y = 255 - B, K = 0.
    np.testing.assert_array_equal(pixels[changed][0], [245, 55, 225, 0])


def test_cmyk_with_profile_converts_both_ways_through_it(tmp_path):
    icc = toy_cmyk_profile()
    cmyk = np.zeros((16, 16, 4), dtype=np.uint8)
    cmyk[:, 8:, 0] = 255  # cyan on the right, paper on the left
    source = tmp_path / "print.tif"
    Image.fromarray(cmyk, mode="CMYK").save(source, icc_profile=icc)
    loaded = load_image(source)
    np.testing.assert_array_equal(loaded.rgb[0, 0], [255, 255, 255])
    cyan = loaded.rgb[0, 12].astype(int)
    assert cyan[0] > 60 and cyan[1] < 230  # the profile's muted teal, not plain (0, 255, 255)

    result = loaded.rgb.copy()
    result[0:4, 0:4] = (118, 118, 118)  # mid gray: this profile prints it with black ink only
    out_path = save_image(loaded, result, tmp_path / "out.tif")
    with Image.open(out_path) as out:
        assert out.info["icc_profile"] == icc
        pixels = np.asarray(out)
    changed = np.any(result != loaded.rgb, axis=2)
    np.testing.assert_array_equal(pixels[~changed], cmyk[~changed])
    assert (pixels[0:4, 0:4, :3] == 0).all()
    assert (np.abs(pixels[0:4, 0:4, 3].astype(int) - 128) < 12).all()

    with Image.open(save_image(loaded, result, tmp_path / "out.png")) as out:
        assert out.mode == "RGB"
        # The RGB view is sRGB, not CMYK.
        assert without_creation_date(out.info["icc_profile"]) == without_creation_date(srgb_icc())


def test_cmyk_with_unusable_profile_uses_plain_conversion(tmp_path):
    source = tmp_path / "print.tif"
    Image.new("CMYK", (4, 4), (255, 0, 0, 0)).save(source, icc_profile=srgb_icc())  # an RGB profile
    np.testing.assert_array_equal(load_image(source).rgb[0, 0], [0, 255, 255])


def test_cmyk_into_png_becomes_rgb(tmp_path):
    source = tmp_path / "print.tif"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(source)
    loaded = load_image(source)
    with Image.open(save_image(loaded, loaded.rgb, tmp_path / "out.png")) as out:
        assert out.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(out)[0, 0], [255, 0, 0])


# ---------------------------------------------------------------- metadata


def test_exif_orientation_reset_other_tags_kept(tmp_path):
    source = tmp_path / "in.jpg"
    Image.fromarray(np.rot90(photo(), 1).copy()).save(source, exif=exif_with(6))
    loaded = load_image(source)
    with Image.open(save_image(loaded, loaded.rgb, tmp_path / "out.jpg")) as out:
        exif = out.getexif()
        assert exif[ORIENTATION] == 1
        assert exif[MAKE] == "TestCam"
        assert exif.get_ifd(EXIF_IFD)[DATE_TIME_ORIGINAL] == "2024:05:06 07:08:09"
        assert out.size == (64, 48)  # the pixels themselves are upright


@pytest.mark.parametrize("extension", [".jpg", ".png", ".webp", ".tif"])
def test_icc_and_exif_kept(tmp_path, extension):
    source = tmp_path / f"in{extension}"
    Image.fromarray(photo()).save(source, icc_profile=srgb_icc(), exif=exif_with(1))
    loaded = load_image(source)
    with Image.open(save_image(loaded, edit(loaded.rgb)[0], tmp_path / f"out{extension}")) as out:
        assert without_creation_date(out.info["icc_profile"]) == without_creation_date(srgb_icc())
        assert out.getexif()[MAKE] == "TestCam"


@pytest.mark.parametrize("extension", [".jpg", ".png", ".tif", ".bmp"])
def test_dpi_kept(tmp_path, extension):
    source = tmp_path / f"in{extension}"
    Image.fromarray(photo()).save(source, dpi=(240, 240))
    loaded = load_image(source)
    with Image.open(save_image(loaded, loaded.rgb, tmp_path / f"out{extension}")) as out:
        assert [round(d) for d in out.info["dpi"]] == [240, 240]


# ---------------------------------------------------------------- formats and quality


@pytest.mark.parametrize("input_quality", [50, 75, 95])
def test_jpeg_keeps_quality_and_size(tmp_path, input_quality):
    source = tmp_path / "in.jpg"
    Image.fromarray(photo(192, 256)).save(source, quality=input_quality)
    loaded = load_image(source)
    result, _ = edit(loaded.rgb)
    out_path = save_image(loaded, result, tmp_path / "out.jpg")
    with Image.open(out_path) as out, Image.open(source) as original:
        assert out.format == "JPEG"
        assert out.quantization == original.quantization
    ratio = out_path.stat().st_size / source.stat().st_size
    assert 0.75 <= ratio <= 1.25, ratio


def test_jpeg_quality_override(tmp_path):
    source = tmp_path / "in.jpg"
    Image.fromarray(photo(192, 256)).save(source, quality=95)
    loaded = load_image(source)
    low = save_image(loaded, loaded.rgb, tmp_path / "low.jpg", quality=30)
    assert low.stat().st_size < 0.6 * source.stat().st_size


def test_webp_lossless_stays_lossless(tmp_path):
    source = tmp_path / "in.webp"
    alpha = np.full((48, 64), 255, dtype=np.uint8)
    alpha[:10] = 0
    Image.fromarray(np.dstack([photo(), alpha])).save(source, lossless=True)
    loaded = load_image(source)
    result, _ = edit(loaded.rgb)
    out_path = save_image(loaded, result, tmp_path / "out.webp")
    assert out_path.read_bytes()[12:16] == b"VP8X" or out_path.read_bytes()[12:16] == b"VP8L"
    assert b"VP8L" in out_path.read_bytes()[:64]
    with Image.open(out_path) as out:
        pixels = np.asarray(out)
    np.testing.assert_array_equal(pixels[..., :3], result)
    np.testing.assert_array_equal(pixels[..., 3], alpha)


def test_webp_lossy_stays_lossy(tmp_path):
    source = tmp_path / "in.webp"
    Image.fromarray(photo()).save(source, quality=80)
    loaded = load_image(source)
    out_path = save_image(loaded, edit(loaded.rgb)[0], tmp_path / "out.webp")
    assert out_path.read_bytes()[12:16] == b"VP8 "
    assert load_image(out_path).format == "WEBP"


def test_bmp_round_trip_exact(tmp_path):
    source = tmp_path / "in.bmp"
    Image.fromarray(photo()).save(source)
    loaded = load_image(source)
    result, _ = edit(loaded.rgb)
    out_path = save_image(loaded, result, tmp_path / "out.bmp")
    assert load_image(out_path).format == "BMP"
    np.testing.assert_array_equal(load_image(out_path).rgb, result)


def test_tiff_keeps_compression(tmp_path):
    source = tmp_path / "in.tif"
    Image.fromarray(photo()).save(source, compression="tiff_adobe_deflate")
    loaded = load_image(source)
    with Image.open(save_image(loaded, loaded.rgb, tmp_path / "out.tif")) as out:
        assert out.info["compression"] == "tiff_adobe_deflate"


def test_format_follows_extension_then_argument_then_input(tmp_path):
    source = tmp_path / "in.jpg"
    Image.fromarray(photo()).save(source)
    loaded = load_image(source)

    def written_format(name, **kwargs):
        with Image.open(save_image(loaded, loaded.rgb, tmp_path / name, **kwargs)) as out:
            return out.format

    assert written_format("a.jpg") == "JPEG"  # never silently a PNG
    assert written_format("b.png") == "PNG"
    assert written_format("c.png", file_format="JPEG") == "PNG"  # the extension wins
    assert written_format("d.out", file_format="webp") == "WEBP"
    assert written_format("e", file_format="TIF") == "TIFF"
    assert written_format("f") == "JPEG"
    with pytest.raises(ImageError, match=r"Cannot write '.*g\.txt': \.txt is not an image format; use \.jpg, \.png"):
        written_format("g.txt")  # a JPEG named .txt: refused unless a format was asked for (d.out above)
    assert not (tmp_path / "g.txt").exists()


def test_unwritable_format_refused(tmp_path):
    source = tmp_path / "in.png"
    Image.fromarray(photo()).save(source)
    loaded = load_image(source)
    with pytest.raises(ImageError, match=r"Cannot write '.*out\.psd': Inpaint Studio cannot write PSD files"):
        save_image(loaded, loaded.rgb, tmp_path / "out.psd")
    assert not (tmp_path / "out.psd").exists()


def test_wrong_rgb_shape_is_a_programming_error(tmp_path):
    source = tmp_path / "in.png"
    Image.fromarray(photo()).save(source)
    loaded = load_image(source)
    with pytest.raises(ValueError):
        save_image(loaded, loaded.rgb[:10], tmp_path / "out.png")


# ---------------------------------------------------------------- destination safety


def test_default_output_path(tmp_path):
    source = tmp_path / "photo.jpg"
    assert default_output_path(source) == tmp_path / "photo_inpainted.jpg"
    (tmp_path / "photo_inpainted.jpg").touch()
    assert default_output_path(source) == tmp_path / "photo_inpainted-2.jpg"
    (tmp_path / "photo_inpainted-2.jpg").touch()
    assert default_output_path(source) == tmp_path / "photo_inpainted-3.jpg"
    assert default_output_path(source, suffix="_clean") == tmp_path / "photo_clean.jpg"


def test_refuses_to_overwrite_input(tmp_path):
    source = tmp_path / "x.jpg"
    Image.fromarray(photo()).save(source)
    before = source.read_bytes()
    loaded = load_image(source)
    result, _ = edit(loaded.rgb)
    same_file = tmp_path / "." / "x.jpg"
    with pytest.raises(ImageError) as info:
        save_image(loaded, result, same_file)
    assert str(info.value) == (
        f"Refusing to overwrite the input file '{same_file}'; choose another output or pass --overwrite."
    )
    assert source.read_bytes() == before
    save_image(loaded, result, source, overwrite=True)
    assert source.read_bytes() != before


def test_missing_output_folder(tmp_path):
    source = tmp_path / "in.png"
    Image.fromarray(photo()).save(source)
    loaded = load_image(source)
    with pytest.raises(ImageError, match="folder .* does not exist"):
        save_image(loaded, loaded.rgb, tmp_path / "nowhere" / "out.png")
    assert not (tmp_path / "nowhere").exists()


def test_disk_full_mid_write_leaves_nothing(tmp_path, monkeypatch):
    source = tmp_path / "in.png"
    Image.fromarray(photo()).save(source)
    loaded = load_image(source)
    destination = tmp_path / "out.jpg"
    destination.write_bytes(b"previous result")

    def full_disk_save(self, fp, *args, **kwargs):
        fp.write(b"\xff\xd8 half a jpeg")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Image.Image, "save", full_disk_save)
    with pytest.raises(ImageError) as info:
        save_image(loaded, edit(loaded.rgb)[0], destination)
    assert str(info.value) == f"Cannot write '{destination}': No space left on device."
    assert destination.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "out.jpg"]


def test_disk_full_in_16bit_write_leaves_nothing(tmp_path, monkeypatch):
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), np.full((8, 8, 3), 40000, dtype=np.uint16))
    loaded = load_image(source)

    def failing_fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(ImageError, match="No space left on device"):
        save_image(loaded, loaded.rgb, tmp_path / "out.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_returns_written_path(tmp_path):
    source = tmp_path / "in.png"
    Image.fromarray(photo()).save(source)
    loaded = load_image(source)
    out = save_image(loaded, loaded.rgb, str(tmp_path / "out.png"))
    assert out == tmp_path / "out.png" and out.is_file()
    assert Image.open(io.BytesIO(out.read_bytes())).format == "PNG"


# ---------------------------------------------------------------- XMP and IPTC


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_xmp_keywords_and_rating_survive_an_edit_byte_for_byte(tmp_path, extension):
    source = tmp_path / f"in{extension}"
    save_with_metadata(Image.fromarray(photo()), source, xmp=xmp_packet())
    loaded = load_image(source)
    assert loaded.xmp == xmp_packet()
    warnings: list[str] = []
    with Image.open(save_image(loaded, edit(loaded.rgb)[0], tmp_path / f"out{extension}", warn=warnings.append)) as out:
        assert written_xmp(out) == xmp_packet()
    assert warnings == []


@pytest.mark.parametrize("extension", [".jpg", ".png", ".webp", ".tif", ".avif"])
def test_xmp_is_kept_in_every_format_that_holds_it(tmp_path, extension):
    if extension == ".avif" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    source = tmp_path / "in.jpg"
    save_with_metadata(Image.fromarray(photo()), source, xmp=xmp_packet())
    loaded = load_image(source)
    with Image.open(save_image(loaded, loaded.rgb, tmp_path / f"out{extension}")) as out:
        assert written_xmp(out) == xmp_packet()
    assert load_image(tmp_path / f"out{extension}").xmp == xmp_packet()


def test_xmp_orientation_is_reset_with_the_exif_one(tmp_path):
    source = tmp_path / "in.jpg"
    save_with_metadata(Image.fromarray(np.rot90(photo(), 1).copy()), source, xmp=xmp_packet(6), exif=exif_with(6))
    loaded = load_image(source)
    with Image.open(save_image(loaded, loaded.rgb, tmp_path / "out.jpg")) as out:
        assert out.size == (64, 48) and out.getexif()[ORIENTATION] == 1
        assert written_xmp(out) == xmp_packet(1)  # the same packet but for the orientation


@pytest.mark.parametrize("source_extension", [".jpg", ".tif"])
@pytest.mark.parametrize("extension", [".jpg", ".tif"])
def test_iptc_is_kept_in_jpeg_and_tiff(tmp_path, source_extension, extension):
    source = tmp_path / f"in{source_extension}"
    save_with_metadata(Image.fromarray(photo()), source, iptc=IPTC)
    loaded = load_image(source)
    assert loaded.iptc == IPTC
    with Image.open(save_image(loaded, edit(loaded.rgb)[0], tmp_path / f"out{extension}")) as out:
        assert IptcImagePlugin.getiptcinfo(out) == IPTC_FIELDS


@pytest.mark.parametrize(("extension", "lost"), [(".png", "IPTC"), (".bmp", "EXIF, XMP, IPTC and ICC profile")])
def test_metadata_a_format_cannot_hold_is_named(tmp_path, extension, lost):
    source = tmp_path / "in.jpg"
    save_with_metadata(Image.fromarray(photo()), source, xmp=xmp_packet(), iptc=IPTC, exif=exif_with(1), icc_profile=srgb_icc())
    loaded = load_image(source)
    warnings: list[str] = []
    save_image(loaded, loaded.rgb, tmp_path / f"out{extension}", warn=warnings.append)
    assert warnings == [f"{extension[1:].upper()} cannot hold the photo's {lost}: left out."]


# ---------------------------------------------------------------- what an output cannot keep


def test_exif_too_large_for_a_jpeg_loses_the_maker_notes_first(tmp_path):
    exif = Image.Exif()
    exif[MAKE] = "TestCam"
    exif[EXIF_IFD] = {DATE_TIME_ORIGINAL: "2024:05:06 07:08:09", 0x927C: bytes(70_000)}  # 0x927C: MakerNote
    source = tmp_path / "in.png"  # PNG holds EXIF of any size
    Image.fromarray(photo()).save(source, exif=exif.tobytes())
    loaded = load_image(source)
    warnings: list[str] = []
    with Image.open(save_image(loaded, loaded.rgb, tmp_path / "out.jpg", warn=warnings.append)) as out:
        kept = out.getexif()
        assert kept[MAKE] == "TestCam" and kept.get_ifd(EXIF_IFD) == {DATE_TIME_ORIGINAL: "2024:05:06 07:08:09"}
    assert warnings == [
        f"The EXIF ({len(loaded.exif):,} bytes) is more than a JPEG holds (65,533 bytes): "
        "the camera's maker notes were left out to make it fit."
    ]


def test_exif_too_large_for_a_jpeg_without_maker_notes_is_left_out(tmp_path):
    exif = Image.Exif()
    exif[0x010E] = "a very long description " * 3000  # ImageDescription
    source = tmp_path / "in.png"
    Image.fromarray(photo()).save(source, exif=exif.tobytes())
    loaded = load_image(source)
    warnings: list[str] = []
    with Image.open(save_image(loaded, loaded.rgb, tmp_path / "out.jpg", warn=warnings.append)) as out:
        assert not out.getexif()
    assert warnings == [f"The EXIF ({len(loaded.exif):,} bytes) is more than a JPEG holds (65,533 bytes): it was left out."]


def test_xmp_too_large_for_a_jpeg_is_left_out(tmp_path):
    huge = xmp_packet().replace(b" " * 200, b" " * 70_000)  # XMP padding
    source = tmp_path / "in.png"
    save_with_metadata(Image.fromarray(photo()), source, xmp=huge)
    loaded = load_image(source)
    warnings: list[str] = []
    with Image.open(save_image(loaded, loaded.rgb, tmp_path / "out.jpg", warn=warnings.append)) as out:
        assert "xmp" not in out.info
    assert warnings == [f"The XMP ({len(huge):,} bytes) is more than a JPEG holds (65,533 bytes): it was left out."]


def test_transparency_in_a_jpeg_is_flattened_onto_white_and_said(tmp_path):
    rgba = np.dstack([photo(), np.full((48, 64), 255, np.uint8)])
    rgba[:10, :10] = (0, 0, 0, 0)  # transparent, black underneath
    rgba[10:20, :10, 3] = 128  # half transparent
    source = tmp_path / "in.png"
    Image.fromarray(rgba).save(source)
    loaded = load_image(source)
    warnings: list[str] = []
    out = np.asarray(Image.open(save_image(loaded, loaded.rgb, tmp_path / "out.jpg", quality=100, warn=warnings.append)))
    assert out[:8, :8].min() >= 250  # white, not the black stored under the transparency
    expected = (rgba[10:20, :10, :3].astype(int) * 128 + 255 * 127) / 255
    assert np.abs(out[12:18, 2:8].astype(int) - expected[2:8, 2:8]).mean() < 4
    assert warnings == ["JPEG cannot hold transparency: the transparent parts were flattened onto white."]


def test_opaque_alpha_into_a_jpeg_changes_nothing_and_says_nothing(tmp_path):
    Image.fromarray(np.dstack([photo(), np.full((48, 64), 255, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(photo()).save(tmp_path / "rgb.png")
    warnings: list[str] = []
    for name in ("rgba.png", "rgb.png"):
        loaded = load_image(tmp_path / name)
        save_image(loaded, loaded.rgb, tmp_path / f"{name}.jpg", warn=warnings.append)
    assert (tmp_path / "rgba.png.jpg").read_bytes() == (tmp_path / "rgb.png.jpg").read_bytes() and warnings == []


@pytest.mark.parametrize(("name", "word"), [("anim.gif", "frames"), ("anim.webp", "frames"), ("pages.tif", "pages")])
def test_only_the_first_frame_is_written_and_that_is_said(tmp_path, name, word):
    frames = [Image.new("RGB", (64, 48), colour) for colour in [(200, 0, 0), (0, 0, 200), (0, 200, 0)]]
    source = tmp_path / name
    frames[0].save(source, save_all=True, append_images=frames[1:], lossless=True)
    loaded = load_image(source)
    warnings: list[str] = []
    result, changed = edit(loaded.rgb)
    with Image.open(save_image(loaded, result, tmp_path / f"out_{name}", warn=warnings.append)) as out:
        assert getattr(out, "n_frames", 1) == 1
        pixels = np.asarray(out.convert("RGB"))
        assert (pixels[~changed] == (200, 0, 0)).all()
        assert (pixels[changed] != (200, 0, 0)).any(axis=1).all()  # the edit (GIF: in the nearest colour of its palette)
    assert warnings == [f"This photo has 3 {word}; only the first, the one edited, is written."]


@pytest.mark.parametrize("name", ["out.ico", "out.icns", "out.tga", "out.pdf", "out.heic"])
def test_icons_and_other_non_photo_outputs_are_refused(tmp_path, name):
    source = tmp_path / "in.png"
    Image.fromarray(photo()).save(source)
    loaded = load_image(source)
    with pytest.raises(ImageError, match=r"Inpaint Studio cannot write \w+ files.*; use \.jpg, \.png, \.webp, \.tif"):
        save_image(loaded, loaded.rgb, tmp_path / name)
    assert not (tmp_path / name).exists()


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF codec")
def test_avif_round_trip_keeps_alpha_and_metadata(tmp_path):
    alpha = np.full((48, 64), 255, np.uint8)
    alpha[:10, :10] = 0
    source = tmp_path / "in.avif"
    Image.fromarray(np.dstack([photo(), alpha])).save(source, quality=95, exif=exif_with(1), icc_profile=srgb_icc())
    loaded = load_image(source)
    assert loaded.format == "AVIF" and loaded.alpha is not None
    result, changed = edit(loaded.rgb)
    with Image.open(save_image(loaded, result, tmp_path / "out.avif")) as out:
        assert out.format == "AVIF" and out.getexif()[MAKE] == "TestCam" and out.info.get("icc_profile")
        pixels = np.asarray(out)
    assert (pixels[:10, :10, 3] == 0).all() and (pixels[20:, 20:, 3] == 255).all()
    assert np.abs(pixels[7:13, 10:18, :3].astype(int) - (10, 200, 30)).mean() < 8  # inside the edit: AVIF is lossy


def test_warnings_go_to_the_log_when_nobody_listens(tmp_path, caplog):
    frames = [Image.new("RGB", (8, 8), colour) for colour in [(200, 0, 0), (0, 0, 200)]]
    source = tmp_path / "anim.gif"
    frames[0].save(source, save_all=True, append_images=frames[1:])
    loaded = load_image(source)
    with caplog.at_level("WARNING", logger="inpaint_studio.io.image_file"):
        save_image(loaded, loaded.rgb, tmp_path / "out.gif")
    assert "only the first" in caplog.text


def test_a_project_keeps_the_xmp_and_iptc_for_its_export(tmp_path):
    from inpaint_studio.core.document import Document
    from inpaint_studio.io.project_file import load_project, save_project

    source = tmp_path / "in.jpg"
    save_with_metadata(Image.fromarray(photo()), source, xmp=xmp_packet(), iptc=IPTC)
    save_project(Document(load_image(source)), tmp_path / "work.ora")
    reopened = load_project(tmp_path / "work.ora").photo
    assert (reopened.xmp, reopened.iptc) == (xmp_packet(), IPTC)
    with Image.open(save_image(reopened, reopened.rgb, tmp_path / "out.jpg")) as out:
        assert written_xmp(out) == xmp_packet() and IptcImagePlugin.getiptcinfo(out) == IPTC_FIELDS

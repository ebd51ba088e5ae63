"""OpenRaster projects: round trips, the spec's structure, other apps' files, and hostile files."""

from __future__ import annotations

import errno
import io
import json
import os
import struct
import tracemalloc
import xml.etree.ElementTree as ET
import zipfile
import zlib

import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image, ImageCms

from inpaint_studio.core.document import Document
from inpaint_studio.core.mask_edit import fill_rectangle
from inpaint_studio.core.patch import Patch
from inpaint_studio.engines.opencv_engines import TeleaEngine
from inpaint_studio.engines.pipeline import inpaint_patches
from inpaint_studio.io import load_image, project_file, save_image
from inpaint_studio.io.project_file import (
    PROJECT_SUFFIX,
    ProjectError,
    load_project,
    save_project,
)

WIDTH, HEIGHT = 80, 60


# ---------------------------------------------------------------- helpers


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _document(tmp_path, name="photo.png", **save_options) -> Document:
    path = tmp_path / name
    Image.fromarray(gradient_photo(HEIGHT, WIDTH)).save(path, **save_options)
    return Document(load_image(path))


def _edited_document(tmp_path) -> Document:
    """Three fills: a Telea fill at half opacity, a hidden hand-made one, and one on top; plus a mask."""
    document = _document(tmp_path)
    fill_rectangle(document.mask, (10, 10), (30, 25))
    patches = inpaint_patches(TeleaEngine(), document.composite, document.mask)
    document.add_fill(patches, document.mask.copy(), "OpenCV Telea", {"engine": "telea", "params": {"radius": 3}})
    rng = np.random.default_rng(1)
    hidden = Patch(40, 5, rng.integers(0, 256, (10, 12, 3), np.uint8), rng.integers(0, 256, (10, 12), np.uint8))
    document.add_fill([hidden], document.mask.copy(), "Hidden", {"engine": "hand"})
    # Two patches with a gap: the layer's PNG is their union box, transparent in between.
    top = [
        Patch(50, 30, np.full((8, 8, 3), 200, np.uint8), np.full((8, 8), 255, np.uint8)),
        Patch(66, 44, np.full((6, 6, 3), 10, np.uint8), np.full((6, 6), 128, np.uint8)),
    ]
    document.add_fill(top, document.mask.copy(), "Top", {"engine": "hand", "seed": 7})
    document.layers[0].opacity = 0.5
    document.layers[1].visible = False
    document.recomposite((0, 0, WIDTH, HEIGHT))
    fill_rectangle(document.mask, (60, 2), (75, 12))  # a mask still waiting for a fill
    return document


def _layer_pixels(layer, width=WIDTH, height=HEIGHT) -> np.ndarray:
    """The layer drawn on a transparent canvas: what must survive a round trip."""
    canvas = np.zeros((height, width, 4), np.uint8)
    for patch in layer.patches:
        region = canvas[patch.y : patch.y + patch.height, patch.x : patch.x + patch.width]
        covered = patch.alpha > 0
        region[..., :3][covered] = patch.rgb[covered]
        region[..., 3][covered] = patch.alpha[covered]
    return canvas


def _write_ora(path, stack_xml, members: dict, *, mimetype: bytes | None = b"image/openraster") -> None:
    with zipfile.ZipFile(path, "w") as archive:
        if mimetype is not None:
            archive.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        archive.writestr("stack.xml", stack_xml, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in members.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)


def _rewrite(source, target, replace: dict) -> None:
    """Copy a project, replacing members (None drops one) and adding new ones."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename not in replace:
                new.writestr(info, old.read(info.filename))
        for name, data in replace.items():
            if data is not None:
                new.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)


def _set_declared_size(data: bytes, name: str, size: int) -> bytes:
    """Overwrite a member's uncompressed size in the central directory (what a lying header does)."""
    start = data.index(b"PK\x01\x02")
    while True:
        name_length = struct.unpack("<H", data[start + 28 : start + 30])[0]
        if data[start + 46 : start + 46 + name_length] == name.encode():
            return data[: start + 24] + struct.pack("<I", size) + data[start + 28 :]
        start = data.index(b"PK\x01\x02", start + 4)


@pytest.fixture
def saved(tmp_path):
    document = _edited_document(tmp_path)
    return save_project(document, tmp_path / f"project{PROJECT_SUFFIX}")


def _refused(path, *words, **kwargs) -> str:
    with pytest.raises(ProjectError) as caught:
        load_project(path, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"Cannot open '{path}': ") and message.endswith(".")
    for word in words:
        assert word in message
    return message


# ---------------------------------------------------------------- round trips


def test_round_trip_keeps_pixels_layers_mask_and_composite(tmp_path):
    document = _edited_document(tmp_path)
    path = save_project(document, tmp_path / "project.ora")
    assert path == tmp_path / "project.ora"

    loaded = load_project(path)
    assert np.array_equal(loaded.original, document.original)
    assert loaded.photo.path == document.photo.path and loaded.photo.format == "PNG"
    assert [layer.name for layer in loaded.layers] == ["OpenCV Telea", "Hidden", "Top"]
    assert [layer.opacity for layer in loaded.layers] == [0.5, 1.0, 1.0]
    assert [layer.visible for layer in loaded.layers] == [True, False, True]
    assert [layer.provenance for layer in loaded.layers] == [layer.provenance for layer in document.layers]
    for before, after in zip(document.layers, loaded.layers, strict=True):
        assert np.array_equal(_layer_pixels(after), _layer_pixels(before))
        # The mask each fill was made from comes back as provenance (patches' crops as one image).
        expected = np.zeros((HEIGHT, WIDTH), np.uint8)
        for crop in before.fill_masks:
            expected[crop.y : crop.y + crop.pixels.shape[0], crop.x : crop.x + crop.pixels.shape[1]] = crop.pixels
        (crop,) = after.fill_masks
        restored = np.zeros((HEIGHT, WIDTH), np.uint8)
        restored[crop.y : crop.y + crop.pixels.shape[0], crop.x : crop.x + crop.pixels.shape[1]] = crop.pixels
        assert np.array_equal(restored, expected)
    assert loaded.layers[0].fill_masks[0].pixels.any()
    assert np.array_equal(loaded.mask, document.mask) and loaded.mask.any()
    assert np.array_equal(loaded.composite, document.composite)
    assert not np.array_equal(loaded.composite, loaded.original)
    assert not loaded.modified
    assert loaded.undo() is None  # nothing to undo in a freshly opened project


def test_loaded_layers_get_fresh_ids(tmp_path, saved):
    first, second = load_project(saved), load_project(saved)
    ids = [layer.id for layer in first.layers + second.layers]
    assert len(set(ids)) == len(ids)


def test_jpeg_photo_keeps_format_exif_icc_and_tables(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Test camera"  # Make
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    document = _document(tmp_path, "photo.jpg", exif=exif.tobytes(), icc_profile=icc, quality=70)
    document.add_fill(
        [Patch(5, 5, np.zeros((6, 6, 3), np.uint8), np.full((6, 6), 255, np.uint8))],
        document.mask.copy(), "Fill", {"engine": "hand"},
    )
    loaded = load_project(save_project(document, tmp_path / "p.ora"))

    photo = loaded.photo
    assert photo.format == "JPEG" and photo.path == tmp_path / "photo.jpg"
    assert photo.exif == document.photo.exif
    assert photo.icc_profile == icc
    tables = {k: list(v) for k, v in document.photo.save_options["qtables"].items()}
    assert photo.save_options["qtables"] == tables
    assert np.array_equal(loaded.original, document.original)

    # Exporting from the reopened project writes a JPEG with the photo's metadata and tables.
    out = save_image(photo, loaded.composite, tmp_path / "out.jpg")
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.getexif()[0x010F] == "Test camera"
        assert im.info["icc_profile"] == icc
        assert {k: list(v) for k, v in im.quantization.items()} == tables


def test_photo_with_alpha_keeps_it(tmp_path):
    rgba = np.dstack([gradient_photo(HEIGHT, WIDTH), np.tile(np.arange(WIDTH, dtype=np.uint8), (HEIGHT, 1))])
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    document = Document(load_image(tmp_path / "alpha.png"))
    loaded = load_project(save_project(document, tmp_path / "p.ora"))
    assert np.array_equal(loaded.photo.alpha, document.photo.alpha)
    assert np.array_equal(loaded.original, document.original)


# ---------------------------------------------------------------- the spec's structure


def test_written_file_follows_the_openraster_spec(saved):
    raw = saved.read_bytes()
    # The spec: "mimetype" first, stored, no extra field, so its content sits at offset 38.
    assert raw[30:38] == b"mimetype" and raw[38:54] == b"image/openraster"
    with zipfile.ZipFile(saved) as archive:
        first = archive.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert archive.read("mimetype") == b"image/openraster"
        # PNGs are stored (already compressed); the XML and metadata are deflated.
        for info in archive.infolist()[1:]:
            expected = zipfile.ZIP_STORED if info.filename.endswith(".png") else zipfile.ZIP_DEFLATED
            assert info.compress_type == expected, info.filename

        root = ET.fromstring(archive.read("stack.xml"))
        assert root.tag == "image" and (root.get("w"), root.get("h")) == (str(WIDTH), str(HEIGHT))
        layers = root.find("stack").findall("layer")
        assert [layer.get("name") for layer in layers] == ["Top", "Hidden", "OpenCV Telea", "photo.png"]
        assert [layer.get("visibility") for layer in layers] == ["visible", "hidden", "visible", "visible"]
        assert float(layers[2].get("opacity")) == 0.5
        for layer in layers:
            with Image.open(io.BytesIO(archive.read(layer.get("src")))) as im:
                x, y = int(layer.get("x")), int(layer.get("y"))
                assert 0 <= x and x + im.width <= WIDTH and 0 <= y and y + im.height <= HEIGHT
        top = layers[0]
        assert (top.get("x"), top.get("y")) == ("50", "30")  # the union box of its two patches
        with Image.open(io.BytesIO(archive.read(top.get("src")))) as im:
            assert im.mode == "RGBA" and im.size == (22, 20)
            assert np.asarray(im)[10, 10, 3] == 0  # the gap between the patches is transparent
        with Image.open(io.BytesIO(archive.read(layers[-1].get("src")))) as im:
            assert im.size == (WIDTH, HEIGHT)

        with Image.open(io.BytesIO(archive.read("mergedimage.png"))) as im:
            assert im.size == (WIDTH, HEIGHT) and im.mode in ("RGB", "RGBA")
        with Image.open(io.BytesIO(archive.read("Thumbnails/thumbnail.png"))) as im:
            assert max(im.size) <= 256
        with Image.open(io.BytesIO(archive.read("inpaint-studio/mask.png"))) as im:
            assert im.mode == "L" and im.size == (WIDTH, HEIGHT)


def test_thumbnail_fits_256_pixels(tmp_path):
    Image.fromarray(gradient_photo(300, 600)).save(tmp_path / "wide.png")
    path = save_project(Document(load_image(tmp_path / "wide.png")), tmp_path / "wide.ora")
    with zipfile.ZipFile(path) as archive, Image.open(io.BytesIO(archive.read("Thumbnails/thumbnail.png"))) as im:
        assert im.size == (256, 128)


# ---------------------------------------------------------------- other apps' files


def _gimp_stack(layers: str, w=WIDTH, h=HEIGHT) -> str:
    return f"<?xml version='1.0' encoding='UTF-8'?>\n<image version=\"0.0.3\" w=\"{w}\" h=\"{h}\"><stack>{layers}</stack></image>"


def test_a_file_written_the_way_gimp_does_loads(tmp_path):
    background = gradient_photo(HEIGHT, WIDTH)
    stroke = np.zeros((10, 20, 4), np.uint8)
    stroke[..., 0], stroke[..., 3] = 255, 255
    path = tmp_path / "gimp.ora"
    _write_ora(
        path,
        _gimp_stack(
            '<layer name="Stroke" src="data/stroke.png" x="70" y="-4" opacity="0.750" visibility="visible" '
            'composite-op="svg:src-over"/>'
            '<layer name="Background" src="data/background.png" x="0" y="0" opacity="1.000" visibility="visible"/>'
        ),
        {
            "data/stroke.png": _png(stroke),
            "data/background.png": _png(np.dstack([background, np.full((HEIGHT, WIDTH), 255, np.uint8)])),
            "mergedimage.png": _png(background),
        },
    )
    document = load_project(path)
    assert np.array_equal(document.original, background) and document.photo.alpha is None
    assert document.photo.path == path and document.photo.format == "PNG"
    [layer] = document.layers
    assert layer.name == "Stroke" and layer.opacity == 0.75 and layer.provenance == {}
    [patch] = layer.patches  # clipped to the canvas: 10 of 20 columns, 6 of 10 rows
    assert (patch.x, patch.y, patch.width, patch.height) == (70, 0, 10, 6)
    expected = background.copy()
    Patch(70, 0, stroke[4:, :10, :3], np.full((6, 10), round(255 * 0.75), np.uint8)).composite_onto(expected)
    assert np.array_equal(document.composite, expected) and not np.array_equal(expected, background)
    assert np.array_equal(document.composite[10:, :70], background[10:, :70])
    assert not document.mask.any() and not document.modified


def test_a_small_bottom_layer_is_shown_over_white(tmp_path):
    path = tmp_path / "small.ora"
    _write_ora(
        path,
        _gimp_stack('<stack><layer name="Bottom" src="data/b.png" x="10" y="20"/></stack>'),  # in a group
        {"data/b.png": _png(np.zeros((5, 5, 3), np.uint8))},
    )
    original = load_project(path).original
    assert (original[20:25, 10:15] == 0).all()
    assert (original[:20] == 255).all() and (original[25:] == 255).all()


def test_a_layer_entirely_off_the_canvas_is_dropped(tmp_path):
    path = tmp_path / "off.ora"
    _write_ora(
        path,
        _gimp_stack('<layer src="data/off.png" x="500" y="0"/><layer src="data/bg.png"/>'),
        {"data/off.png": _png(np.zeros((5, 5, 4), np.uint8)), "data/bg.png": _png(gradient_photo(HEIGHT, WIDTH))},
    )
    assert load_project(path).layers == []


def test_a_mask_of_the_wrong_size_is_ignored(tmp_path, saved):
    target = tmp_path / "bad-mask.ora"
    _rewrite(saved, target, {"inpaint-studio/mask.png": _png(np.full((5, 5), 255, np.uint8))})
    document = load_project(target)
    assert not document.mask.any() and len(document.layers) == 3


# ---------------------------------------------------------------- damaged and hostile files


def test_not_a_zip_empty_missing_and_truncated_files_are_refused(tmp_path, saved):
    text = tmp_path / "text.ora"
    text.write_text("hello")
    _refused(text, "not an OpenRaster")
    empty = tmp_path / "empty.ora"
    empty.write_bytes(b"")
    _refused(empty, "not an OpenRaster")
    _refused(tmp_path / "nowhere.ora", "file not found")
    _refused(tmp_path, "folder")
    cut = tmp_path / "cut.ora"
    cut.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    _refused(cut, "truncated or damaged")


@pytest.mark.parametrize("mimetype, words", [(None, "no 'mimetype'"), (b"image/png", "not 'image/openraster'")])
def test_missing_or_wrong_mimetype_is_refused(tmp_path, mimetype, words):
    path = tmp_path / "m.ora"
    _write_ora(
        path, _gimp_stack('<layer src="data/bg.png"/>'), {"data/bg.png": _png(gradient_photo(HEIGHT, WIDTH))}, mimetype=mimetype
    )
    _refused(path, words)


@pytest.mark.parametrize("name", ["../evil.png", "/abs.png", "data\\..\\x.png", "C:/x.png", "data/../../x.png"])
def test_unsafe_member_names_are_refused(tmp_path, saved, name):
    target = tmp_path / "slip.ora"
    _rewrite(saved, target, {name: b"x"})
    _refused(target, "unsafe file name", name)


@pytest.mark.parametrize("src", ["../evil.png", "/etc/passwd", "data\\x.png"])
def test_unsafe_layer_sources_are_refused(tmp_path, src):
    path = tmp_path / "src.ora"
    _write_ora(
        path, _gimp_stack(f'<layer src="{src}"/><layer src="data/bg.png"/>'), {"data/bg.png": _png(gradient_photo(HEIGHT, WIDTH))}
    )
    _refused(path, "unsafe file name")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE image [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<image w="80" h="60"><stack><layer name="&lol3;" src="data/bg.png"/></stack></image>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?><!DOCTYPE image SYSTEM "file:///etc/passwd">
<image w="80" h="60"><stack><layer src="data/bg.png"/></stack></image>"""


@pytest.mark.parametrize(
    "stack",
    [
        BILLION_LAUGHS.encode(),
        EXTERNAL_ENTITY.encode(),
        EXTERNAL_ENTITY.replace('"1.0"', '"1.0" encoding="UTF-16"').encode("utf-16"),
    ],
    ids=["billion-laughs", "external", "utf-16"],
)
def test_doctype_and_entities_in_stack_xml_are_refused(tmp_path, stack):
    path = tmp_path / "dtd.ora"
    _write_ora(path, stack, {"data/bg.png": _png(gradient_photo(HEIGHT, WIDTH))})
    _refused(path, "DOCTYPE")


@pytest.mark.parametrize(
    "stack, words",
    [
        ("<image", "not well-formed"),
        ("<image w='80' h='60'><nothing/></image>", "no <image> with a <stack>"),
        ("<image w='80' h='60'><stack/></image>", "lists no layers"),
        ("<image w='0' h='60'><stack><layer src='data/bg.png'/></stack></image>", "no valid image size"),
        ("<image w='80' h='60'><stack><layer src='data/bg.png' x='nan'/></stack></image>", "invalid x"),
    ],
)
def test_malformed_stack_xml_is_refused(tmp_path, stack, words):
    path = tmp_path / "bad.ora"
    _write_ora(path, stack, {"data/bg.png": _png(gradient_photo(HEIGHT, WIDTH))})
    _refused(path, words)


def test_missing_stack_xml_and_missing_or_broken_layers_are_refused(tmp_path, saved):
    for replace, words in [
        ({"stack.xml": None}, "no 'stack.xml'"),
        ({"data/layer-002.png": None}, "'data/layer-002.png' listed in 'stack.xml' is missing"),
        ({"data/layer-002.png": b"\x89PNG\r\n\x1a\n broken"}, "'data/layer-002.png' is not a readable PNG"),
        ({"data/original.png": b"GIF89a"}, "'data/original.png' is not a readable PNG"),
        ({"inpaint-studio/document.json": b"{nope"}, "document.json' is damaged"),
    ]:
        target = tmp_path / "broken.ora"
        _rewrite(saved, target, replace)
        _refused(target, words)


def test_images_above_the_pixel_limit_are_refused(saved):
    _refused(saved, "80x60 pixels", "safety limit", max_pixels=WIDTH * HEIGHT - 1)
    assert len(load_project(saved, max_pixels=WIDTH * HEIGHT).layers) == 3


def test_a_layer_above_the_pixel_limit_is_refused(tmp_path):
    path = tmp_path / "big-layer.ora"
    _write_ora(
        path,
        _gimp_stack('<layer src="data/big.png"/><layer src="data/bg.png"/>', w=8, h=8),
        {"data/big.png": _png(np.zeros((100, 100, 4), np.uint8)), "data/bg.png": _png(np.zeros((8, 8, 3), np.uint8))},
    )
    _refused(path, "'data/big.png' is 100x100 pixels", max_pixels=1000)


def test_a_highly_compressed_member_is_refused_as_a_zip_bomb(tmp_path, saved):
    target = tmp_path / "bomb.ora"
    _rewrite(saved, target, {"data/zeros.bin": bytes(4 << 20)})  # 4 MiB deflates ~1000:1
    _refused(target, "'data/zeros.bin' is compressed suspiciously well")


def test_a_declared_2_gib_member_is_refused_before_reading(tmp_path, saved):
    target = tmp_path / "declared.ora"
    target.write_bytes(_set_declared_size(saved.read_bytes(), "data/layer-001.png", 2 << 30))
    _refused(target, "zip bomb")


def test_the_total_unpacked_size_is_limited(saved, monkeypatch):
    monkeypatch.setattr(project_file, "MAX_UNCOMPRESSED_BYTES", 1000)
    _refused(saved, "more than the 1,000-byte limit")


def test_metadata_reads_stop_at_their_cap(saved, monkeypatch):
    monkeypatch.setattr(project_file, "MAX_METADATA_BYTES", 100)
    _refused(saved, "'stack.xml' is larger than the 100-byte limit")


def test_a_member_whose_header_understates_its_size_is_refused_without_unpacking_it(tmp_path, saved):
    target = tmp_path / "liar.ora"
    _rewrite(saved, target, {"data/layer-001.png": bytes(64 << 20)})  # 64 MiB of zeros
    data = _set_declared_size(target.read_bytes(), "data/layer-001.png", 1000)
    target.write_bytes(data)
    tracemalloc.start()
    try:
        _refused(target, "truncated or damaged")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # nowhere near the 64 MiB the member really holds


# ---------------------------------------------------------------- atomic saving


def test_a_failed_save_leaves_the_existing_project_and_no_temp_file(tmp_path, monkeypatch):
    document = _edited_document(tmp_path)
    path = save_project(document, tmp_path / "project.ora")
    before = path.read_bytes()
    document.layers.pop()
    document.recomposite((0, 0, WIDTH, HEIGHT))

    encode = project_file._png_bytes
    calls = []

    def disk_full_on_third_png(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return encode(*args, **kwargs)

    monkeypatch.setattr(project_file, "_png_bytes", disk_full_on_third_png)
    with pytest.raises(ProjectError, match=f"Cannot write '.*project.ora': {os.strerror(errno.ENOSPC)}"):
        save_project(document, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "project.ora"]
    assert len(load_project(path).layers) == 3


def test_saving_into_a_missing_folder_is_a_project_error(tmp_path):
    with pytest.raises(ProjectError, match="Cannot write"):
        save_project(_document(tmp_path), tmp_path / "missing" / "p.ora")


# ---------------------------------------------------------------- memory, checked before decoding


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` RGBA pixels but holds no image data: decoding it would fail,
    so a refusal that names the size proves it came from the header alone."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def test_many_blank_huge_layers_are_refused_from_their_headers(tmp_path):
    # Three 15000x15000 layers over a canvas of that size: 225 megapixels each, under the pixel limit
    # and the pixel budget, but about 8 GB in memory once decoded.
    side = 15000
    layers = "".join(f'<layer src="data/l{i}.png"/>' for i in range(3))
    members = {f"data/l{i}.png": _png_header_only(side, side) for i in range(3)}
    members["data/bg.png"] = _png_header_only(side, side)
    path = tmp_path / "blank-layers.ora"
    _write_ora(path, _gimp_stack(layers + '<layer src="data/bg.png"/>', w=side, h=side), members)
    message = _refused(path, "4 layers would take about 7.7 GB of memory", "more than the 6 GB allowed", "--max-pixels")
    assert "not a readable PNG" not in message


def test_layers_together_above_the_pixel_budget_are_refused(tmp_path):
    # Five layers at the pixel limit, placed off the canvas: little memory kept, but all of it decoded.
    layers = "".join(f'<layer src="data/l{i}.png" x="100000"/>' for i in range(5))
    members = {f"data/l{i}.png": _png_header_only(100, 100) for i in range(5)}
    members["data/bg.png"] = _png(gradient_photo(8, 8))
    path = tmp_path / "pixels.ora"
    _write_ora(path, _gimp_stack(layers + '<layer src="data/bg.png"/>', w=8, h=8), members)
    _refused(path, "layers together are 50,064 pixels", "4x the 10,000-pixel safety limit", max_pixels=10_000)


def test_too_many_layer_entries_are_refused_at_once(tmp_path):
    # Thousands of entries, all pointing at one tiny PNG: a few kilobytes that would block for a long time.
    entries = '<layer src="data/bg.png"/>' * (project_file.MAX_LAYERS + 1)
    path = tmp_path / "many.ora"
    _write_ora(path, _gimp_stack(entries, w=8, h=8), {"data/bg.png": _png(gradient_photo(8, 8))})
    _refused(path, f"lists {project_file.MAX_LAYERS + 1:,} layers", f"more than the {project_file.MAX_LAYERS:,}")


def test_too_many_files_in_the_archive_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(project_file, "MAX_MEMBERS", 10)
    members = {f"data/x{i}.png": b"x" for i in range(10)}
    members["data/bg.png"] = _png(gradient_photo(8, 8))
    path = tmp_path / "members.ora"
    _write_ora(path, _gimp_stack('<layer src="data/bg.png"/>', w=8, h=8), members)
    _refused(path, "it holds 13 files")


def test_a_member_larger_than_a_png_of_its_size_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(project_file, "MAX_METADATA_BYTES", 1000)
    padding = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()  # does not compress
    path = tmp_path / "padded.ora"
    _write_ora(
        path,
        _gimp_stack('<layer src="data/one.png"/><layer src="data/bg.png"/>', w=8, h=8),
        {"data/one.png": _png_header_only(1, 1) + padding, "data/bg.png": _png(gradient_photo(8, 8))},
    )
    _refused(path, "'data/one.png' is larger than a 1x1 PNG can be")


# ---------------------------------------------------------------- document.json is untrusted


def _with_document_json(tmp_path, saved, **original) -> str:
    with zipfile.ZipFile(saved) as archive:
        data = json.loads(archive.read("inpaint-studio/document.json"))
    data["original"].update(original)
    target = tmp_path / "crafted" / "crafted.ora"
    target.parent.mkdir()
    _rewrite(saved, target, {"inpaint-studio/document.json": json.dumps(data).encode()})
    return target


def test_the_photo_path_in_a_project_keeps_only_its_name_in_the_projects_folder(tmp_path, saved):
    for stored, expected in [
        ("/etc/cron.d/photo.jpg", "photo.jpg"),
        ("C:\\Windows\\System32\\photo.jpg", "photo.jpg"),
        ("../../outside.png", "outside.png"),
    ]:
        target = _with_document_json(tmp_path, saved, path=stored)
        assert load_project(target).photo.path == target.parent / expected
        target.unlink()
        target.parent.rmdir()
    for stored in ["/etc/..", "bad\nname.jpg", 5, ""]:
        target = _with_document_json(tmp_path, saved, path=stored)
        assert load_project(target).photo.path == target  # nothing usable: the project itself
        target.unlink()
        target.parent.rmdir()


def test_an_autosave_keeps_the_photo_path_it_was_saved_with(tmp_path, saved):
    target = _with_document_json(tmp_path, saved, path=str(tmp_path / "elsewhere" / "photo.png"))
    assert load_project(target, keep_photo_path=True).photo.path == tmp_path / "elsewhere" / "photo.png"


def test_save_options_of_the_wrong_type_or_range_are_dropped_and_export_works(tmp_path):
    document = _document(tmp_path, "photo.jpg", quality=80)
    saved = save_project(document, tmp_path / "p.ora")
    bad_tables = {"0": [0] * 64, "1": list(range(1, 65))}  # a zero entry is not a quantisation step
    target = _with_document_json(
        tmp_path, saved, format="EPS", save_options={"dpi": 5, "subsampling": "x", "progressive": 1, "qtables": bad_tables}
    )
    assert load_project(target).photo.format == "PNG"  # not a format a photo comes in

    target.unlink()
    target.parent.rmdir()
    target = _with_document_json(
        tmp_path, saved, save_options={"dpi": 5, "subsampling": 2, "progressive": True, "qtables": {"0": "nope"}, "x": 1}
    )
    photo = load_project(target).photo
    assert photo.format == "JPEG" and photo.save_options == {"subsampling": 2, "progressive": True}
    out = save_image(photo, photo.rgb, tmp_path / "out.jpg")  # the crafted "dpi" used to fail here with a TypeError
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.size == (WIDTH, HEIGHT)


def test_deeply_nested_provenance_and_long_names_are_cut_down(tmp_path, saved):
    with zipfile.ZipFile(saved) as archive:
        data = json.loads(archive.read("inpaint-studio/document.json"))
        stack = archive.read("stack.xml").decode()
    nested: object = "deep"
    for _ in range(200):
        nested = [nested]
    data["layers"][0]["provenance"] = {"engine": "hand", "nested": nested}
    target = tmp_path / "nested.ora"
    stack = stack.replace('name="OpenCV Telea"', f'name="{"n" * 5000}"')
    _rewrite(saved, target, {"inpaint-studio/document.json": json.dumps(data).encode(), "stack.xml": stack.encode()})
    document = load_project(target)
    assert len(document.layers[0].name) == 255
    provenance = document.layers[0].provenance
    assert provenance["engine"] == "hand"
    depth, value = 0, provenance["nested"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0]
    assert depth < 40 and value is None


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_saving_a_project_again_keeps_its_permissions(tmp_path):
    document = _edited_document(tmp_path)
    path = save_project(document, tmp_path / "private.ora")
    os.chmod(path, 0o600)
    save_project(document, path)
    assert path.stat().st_mode & 0o777 == 0o600

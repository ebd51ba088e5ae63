"""Save and reopen a whole editing session as an OpenRaster (.ora) project.

OpenRaster is a zip that GIMP, Krita and MyPaint open as a layered image: the
untouched photo is the bottom layer and each fill is a layer above it, so the
work stays editable elsewhere too. What only Inpaint Studio needs (the photo's
format and save settings, EXIF, ICC, each fill's provenance, the current mask)
goes under `inpaint-studio/`, which the spec allows and other apps ignore.

A project is untrusted input: nothing is extracted to disk, member names and
sizes are checked before anything is read, every read is capped, and stack.xml
may not declare a DOCTYPE or entities. The layers' count, pixels and memory are
budgeted from stack.xml and the PNG headers before any layer is decoded, PNGs
are decoded straight from the archive, and every field of document.json is
checked (types, ranges; the photo's path keeps only its file name).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.parsers import expat

import numpy as np
from PIL import Image

from inpaint_studio.core.boxes import Box
from inpaint_studio.core.document import Document, MaskCrop, ResultLayer
from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.core.patch import Patch
from inpaint_studio.core.photo import Photo
from inpaint_studio.io.atomic import atomic_write
from inpaint_studio.io.formats import PHOTO_FORMATS
from inpaint_studio.io.image_file import (
    MAX_PIXELS_ENV,
    format_bytes,
    memory_limit,
    pillow_bomb_check_off,
    resolve_max_pixels,
)

__all__ = ["PROJECT_SUFFIX", "ProjectError", "encode_original", "load_project", "save_project"]

PROJECT_SUFFIX = ".ora"
FORMAT_VERSION = 1  # of inpaint-studio/document.json
MIMETYPE = b"image/openraster"
ORA_VERSION = "0.0.5"

ORIGINAL_SRC = "data/original.png"
DOCUMENT_JSON = "inpaint-studio/document.json"
MASK_PNG = "inpaint-studio/mask.png"
EXIF_BIN = "inpaint-studio/exif.bin"
ICC_FILE = "inpaint-studio/icc.icc"
XMP_FILE = "inpaint-studio/xmp.xml"
IPTC_BIN = "inpaint-studio/iptc.bin"
THUMBNAIL_SIZE = 256
# Photos barely compress better at higher levels: a 24 MP photo is 42 MB at level 1
# in 2.0 s and 37 MB at level 6 in 5.0 s. A project holds two full-size images.
PNG_COMPRESS_LEVEL = 1

# Zip-bomb limits, checked against the central directory before reading anything.
MAX_UNCOMPRESSED_BYTES = 4 << 30
MAX_COMPRESSION_RATIO = 200
RATIO_CHECK_MIN_BYTES = 1 << 20
MAX_METADATA_BYTES = 16 << 20  # stack.xml, document.json, EXIF, ICC, XMP, IPTC
# A project is checked before any layer is decoded, from stack.xml and the PNG headers: layers
# of huge blank PNGs take kilobytes in the file and gigabytes in memory.
MAX_LAYERS = 1000
MAX_MEMBERS = 2 * MAX_LAYERS + 64  # each layer and its fill mask, plus the project's own files
# All layers together may decode to this many times the pixel limit.
MAX_LAYER_PIXELS_FACTOR = 4
# Memory while opening, in bytes per pixel (measured on a 16-megapixel project): the canvas (the
# photo's RGB, its Pillow copy, the composite, the mask); each layer's RGB + alpha on the canvas
# and its share of compositing; and, on top, the one PNG being decoded (Pillow's pixels, RGBA).
_CANVAS_BYTES_PER_PIXEL = 8
_LAYER_BYTES_PER_PIXEL = 6
_DECODE_BYTES_PER_PIXEL = 8
_READ_CHUNK = 1 << 20
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_HEADER_BYTES = 33  # signature and the IHDR chunk
_MAX_COORDINATE = 1 << 30  # layer offsets and sizes in stack.xml
_MAX_NAME_CHARS = 255
_MAX_JSON_DEPTH = 32

_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


class ProjectError(InpaintStudioError):
    """A project file could not be read or written."""


# ---------------------------------------------------------------- saving


def save_project(document: Document, path: str | os.PathLike, *, original_png: bytes | None = None) -> Path:
    """Write `document` to `path` as OpenRaster, atomically; return `path`.

    `original_png` is `encode_original(document)` computed earlier: the photo
    never changes, so repeated saves (autosave) need not encode it again.
    Does not call `document.mark_saved()`: that is the caller's decision.
    """
    path = Path(path)

    def write(file) -> None:
        with zipfile.ZipFile(file, "w") as archive:
            for name, data in _project_entries(document, original_png):
                # The spec wants mimetype first and stored, so `file` can sniff it at offset 38.
                # PNGs are compressed already: deflating them again costs seconds and saves nothing.
                stored = name == "mimetype" or name.endswith(".png")
                method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                archive.writestr(name, data, compress_type=method)

    try:
        atomic_write(path, write)
    except OSError as e:
        reason = (e.strerror or str(e) or type(e).__name__).rstrip(".")
        raise ProjectError(f"Cannot write '{path}': {reason}.") from e
    return path


def encode_original(document: Document) -> bytes:
    """The bottom layer's PNG: the untouched photo with its alpha and RGB profile."""
    photo = document.photo
    return _png_bytes(_with_alpha(document.original, photo.alpha), _rgb_icc(photo.icc_profile))


def _project_entries(document: Document, original_png: bytes | None) -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) in writing order; PNGs are encoded one at a time to bound memory."""
    photo = document.photo
    layer_srcs = [f"data/layer-{i:03d}.png" for i in range(1, len(document.layers) + 1)]

    yield "mimetype", MIMETYPE
    yield "stack.xml", _stack_xml(document, layer_srcs)
    rgb_icc = _rgb_icc(photo.icc_profile)
    yield ORIGINAL_SRC, original_png if original_png is not None else encode_original(document)
    for layer, src in zip(document.layers, layer_srcs, strict=True):
        yield src, _png_bytes(_layer_rgba(layer)[2])
        if layer.fill_masks:
            yield _fill_mask_src(src), _png_bytes(Image.fromarray(_fill_mask(layer).pixels, "L"))
    merged = Image.fromarray(_with_alpha(document.composite, document.output_alpha()))
    yield "mergedimage.png", _png_bytes(merged, rgb_icc)
    merged.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    yield "Thumbnails/thumbnail.png", _png_bytes(merged)

    yield DOCUMENT_JSON, _document_json(document, layer_srcs)
    yield MASK_PNG, _png_bytes(Image.fromarray(document.mask, "L"))
    if photo.exif:
        yield EXIF_BIN, photo.exif
    if photo.icc_profile:
        yield ICC_FILE, photo.icc_profile
    if photo.xmp:
        yield XMP_FILE, photo.xmp
    if photo.iptc:
        yield IPTC_BIN, photo.iptc


def _stack_xml(document: Document, layer_srcs: list[str]) -> bytes:
    height, width = document.original.shape[:2]
    image = ET.Element("image", version=ORA_VERSION, w=str(width), h=str(height))
    stack = ET.SubElement(image, "stack")
    # OpenRaster lists the topmost layer first.
    for layer, src in reversed(list(zip(document.layers, layer_srcs, strict=True))):
        x, y = _layer_origin(layer)
        ET.SubElement(
            stack,
            "layer",
            name=layer.name,
            src=src,
            x=str(x),
            y=str(y),
            opacity=f"{min(max(layer.opacity, 0.0), 1.0):.6f}",
            visibility="visible" if layer.visible else "hidden",
        )
    ET.SubElement(
        stack, "layer", name=document.photo.path.name or "Original photo", src=ORIGINAL_SRC,
        x="0", y="0", opacity="1.000000", visibility="visible",
    )
    return ET.tostring(image, encoding="utf-8", xml_declaration=True)


def _layer_origin(layer: ResultLayer) -> tuple[int, int]:
    return layer.box[:2] if layer.patches else (0, 0)


def _layer_rgba(layer: ResultLayer) -> tuple[int, int, np.ndarray]:
    """The layer as one RGBA image over the union box of its patches (later patches win)."""
    if not layer.patches:
        return 0, 0, np.zeros((1, 1, 4), np.uint8)  # every OpenRaster layer needs a PNG
    x0, y0, x1, y1 = layer.box
    rgba = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
    for patch in layer.patches:
        region = rgba[patch.y - y0 : patch.y - y0 + patch.height, patch.x - x0 : patch.x - x0 + patch.width]
        covered = patch.alpha > 0
        region[..., :3][covered] = patch.rgb[covered]
        region[..., 3][covered] = patch.alpha[covered]
    return x0, y0, rgba


def _with_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    return rgb if alpha is None else np.dstack([rgb, alpha])


def _rgb_icc(icc: bytes | None) -> bytes | None:
    """The profile, if it describes RGB: a CMYK or gray profile would be wrong on RGB pixels."""
    return icc if icc and len(icc) >= 20 and icc[16:20] == b"RGB " else None


def _png_bytes(image: Image.Image | np.ndarray, icc: bytes | None = None) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    options = {"icc_profile": icc} if icc else {}
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, **options)
    return buffer.getvalue()


def _document_json(document: Document, layer_srcs: list[str]) -> bytes:
    photo = document.photo
    data = {
        "format_version": FORMAT_VERSION,
        "original": {
            "src": ORIGINAL_SRC,
            "path": str(photo.path),
            "format": photo.format,
            "save_options": _json_save_options(photo.save_options),
            "has_alpha": photo.alpha is not None,
        },
        # Bottom to top, like document.layers; matched to stack.xml by src.
        "layers": [_layer_json(layer, src) for layer, src in zip(document.layers, layer_srcs, strict=True)],
    }
    # default=str: a provenance value JSON cannot hold is kept as its text rather than failing the save.
    return json.dumps(data, indent=1, default=str).encode("utf-8")


def _fill_mask_src(layer_src: str) -> str:
    """Where a layer's fill mask is stored: beside document.json, which other apps ignore."""
    return "inpaint-studio/" + layer_src.rsplit("/", 1)[-1].replace(".png", "-mask.png")


def _fill_mask_origin(layer: ResultLayer) -> tuple[int, int]:
    return min(c.x for c in layer.fill_masks), min(c.y for c in layer.fill_masks)


def _fill_mask(layer: ResultLayer) -> MaskCrop:
    """A layer's fill masks as one image over their union box (the rest compresses to nothing)."""
    crops = layer.fill_masks
    x0, y0 = _fill_mask_origin(layer)
    x1 = max(c.x + c.pixels.shape[1] for c in crops)
    y1 = max(c.y + c.pixels.shape[0] for c in crops)
    pixels = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for c in crops:
        region = pixels[c.y - y0 : c.y - y0 + c.pixels.shape[0], c.x - x0 : c.x - x0 + c.pixels.shape[1]]
        np.maximum(region, c.pixels, out=region)
    return MaskCrop(x0, y0, pixels)


def _layer_json(layer: ResultLayer, src: str) -> dict:
    item = {"src": src, "id": layer.id, "provenance": layer.provenance}
    if layer.fill_masks:
        x, y = _fill_mask_origin(layer)
        item["fill_mask"] = {"src": _fill_mask_src(src), "x": x, "y": y}
    return item


def _json_save_options(options: dict) -> dict:
    """The save options JSON can hold; JPEG quantisation tables get string keys."""
    kept = {}
    for key, value in options.items():
        if key == "qtables" and isinstance(value, dict):
            kept[key] = {str(k): [int(v) for v in table] for k, table in value.items()}
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[key] = value
    return kept


def _restore_save_options(options: Any, photo_format: str) -> dict:
    """The save options a project gives, each checked: they become keyword arguments of Pillow's
    save, so a value of the wrong type or range (e.g. "dpi": 5) would fail every export."""
    if not isinstance(options, dict):
        return {}
    kept: dict[str, Any] = {}
    for key, check in _SAVE_OPTION_CHECKS.get(photo_format, {}).items():
        if key in options:
            value = check(options[key])
            if value is not None:
                kept[key] = value
    return kept


def _qtables(value: Any) -> dict[int, list[int]] | None:
    """JPEG quantisation tables: up to four tables of 64 entries, 1..255 (baseline) or up to 65535."""
    if not isinstance(value, dict) or not 1 <= len(value) <= 4:
        return None
    tables = {}
    for key, table in value.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            return None
        if not 0 <= index <= 3 or not isinstance(table, list) or len(table) != 64:
            return None
        if not all(_is_int(v) and 1 <= v <= 65535 for v in table):
            return None
        tables[index] = list(table)
    return tables


def _one_of(*allowed: Any) -> Any:
    return lambda value: value if any(value == a and type(value) is type(a) for a in allowed) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


_TIFF_COMPRESSIONS = ("tiff_lzw", "tiff_adobe_deflate", "tiff_deflate", "packbits", "jpeg", "tiff_jpeg", "webp")
_SAVE_OPTION_CHECKS: dict[str, dict[str, Any]] = {
    "JPEG": {"qtables": _qtables, "subsampling": _one_of(0, 1, 2), "progressive": _flag},
    "WEBP": {"lossless": _flag, "exact": _flag},
    "TIFF": {"compression": _one_of(*_TIFF_COMPRESSIONS)},
}
# The formats a photo in a project may say it came from (what Export writes by default).
_PHOTO_FORMATS = tuple(fmt.pillow for fmt in PHOTO_FORMATS)


# ---------------------------------------------------------------- loading


def load_project(path: str | os.PathLike, *, max_pixels: int | None = None, keep_photo_path: bool = False) -> Document:
    """Open an OpenRaster file (ours, or GIMP's/Krita's) as a Document with empty history.

    Raises ProjectError with a one-sentence reason for damaged or unsafe files.
    The photo's path stored in the file is untrusted: only its file name is kept,
    placed in the project's own folder (Save and Export suggest names from it).
    `keep_photo_path`: the file is the app's own autosave, whose stored path is kept.
    """
    path = Path(path)
    limit = resolve_max_pixels(max_pixels)
    with _reading(path), pillow_bomb_check_off(), zipfile.ZipFile(path) as archive:
        return _Project(path, archive, limit, keep_photo_path=keep_photo_path).document()


def _cannot_open(path: Path, reason: str) -> ProjectError:
    return ProjectError(f"Cannot open '{path}': {reason}.")


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn what zipfile and the file system raise into one sentence for the user."""
    try:
        yield
    except FileNotFoundError as e:
        raise _cannot_open(path, "file not found") from e
    except IsADirectoryError as e:
        raise _cannot_open(path, "it is a folder") from e
    except PermissionError as e:
        raise _cannot_open(path, "permission denied") from e
    except zipfile.BadZipFile as e:
        reason = "the file is truncated or damaged" if _starts_like_zip(path) else "not an OpenRaster (.ora) file"
        raise _cannot_open(path, reason) from e
    except (OSError, EOFError, RuntimeError, NotImplementedError, ValueError, zlib.error, struct.error) as e:
        # zipfile reports damage, encryption and unknown compression methods with these.
        raise _cannot_open(path, "the file is truncated or damaged") from e


def _starts_like_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _is_safe_name(name: str) -> bool:
    """A relative path inside the zip that cannot escape it on any platform."""
    return (
        bool(name)
        and not name.startswith("/")
        and "\\" not in name
        and "\0" not in name
        and not _DRIVE_LETTER.match(name)
        and ".." not in name.split("/")
    )


def _png_size_bound(width: int, height: int) -> int:
    """The most bytes a PNG of this size can sensibly take: 16-bit RGBA stored uncompressed,
    with room for small IDAT chunks and for metadata chunks."""
    raw = height * (1 + width * 8)
    return raw + raw // 8 + MAX_METADATA_BYTES


@dataclass(frozen=True)
class _PngHeader:
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


class _Project:
    """One open .ora: checked reads of its members, and the Document they make."""

    def __init__(self, path: Path, archive: zipfile.ZipFile, limit: int, *, keep_photo_path: bool = False) -> None:
        self.path = path
        self.archive = archive
        self.limit = limit
        self.keep_photo_path = keep_photo_path
        self._headers: dict[str, _PngHeader | None] = {}
        self._check_members()

    def refuse(self, reason: str) -> ProjectError:
        return _cannot_open(self.path, reason)

    def _check_members(self) -> None:
        members = self.archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise self.refuse(f"it holds {len(members):,} files, more than a project of {MAX_LAYERS:,} layers can need")
        total = 0
        for info in members:
            if not _is_safe_name(info.filename):
                raise self.refuse(f"it contains an unsafe file name '{info.filename}'")
            total += info.file_size
            if info.file_size > RATIO_CHECK_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
                raise self.refuse(f"'{info.filename}' is compressed suspiciously well (a zip bomb?)")
        if total > MAX_UNCOMPRESSED_BYTES:
            raise self.refuse(
                f"its contents would unpack to {total:,} bytes, more than the {MAX_UNCOMPRESSED_BYTES:,}-byte limit"
            )

    # ------------------------------------------------------------ reading members

    def has(self, name: str) -> bool:
        return name in self.archive.NameToInfo

    def read(self, name: str, cap: int = MAX_METADATA_BYTES) -> bytes:
        """The member's bytes, stopping as soon as they pass `cap` or its declared size."""
        info = self.archive.getinfo(name)
        allowed = min(cap, info.file_size)
        if info.file_size > cap:
            raise self.refuse(f"'{name}' is larger than the {cap:,}-byte limit")
        chunks, size = [], 0
        with self.archive.open(info) as member:
            while chunk := member.read(_READ_CHUNK):
                size += len(chunk)
                if size > allowed:  # the header lied about the size
                    raise self.refuse(f"'{name}' is larger than its header says")
                chunks.append(chunk)
        return b"".join(chunks)

    def png_header(self, name: str) -> _PngHeader | None:
        """The size a PNG member declares (read from its first bytes only), or None if it is no PNG.

        Refuses a PNG above the pixel limit, or a member larger than a PNG of its size can be.
        """
        if name in self._headers:
            return self._headers[name]
        info = self.archive.getinfo(name)
        with self.archive.open(info) as member:
            head = member.read(_PNG_HEADER_BYTES)
        header = None
        if len(head) == _PNG_HEADER_BYTES and head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            if width > 0 and height > 0:
                header = _PngHeader(width, height)
        if header is not None:
            if header.pixels > self.limit:
                raise self.refuse(
                    f"'{name}' is {header.width}x{header.height} pixels, above the {self.limit:,}-pixel safety limit"
                )
            if info.file_size > _png_size_bound(header.width, header.height):
                raise self.refuse(f"'{name}' is larger than a {header.width}x{header.height} PNG can be (a zip bomb?)")
        self._headers[name] = header
        return header

    def layer_header(self, name: str) -> _PngHeader:
        header = self.png_header(name)
        if header is None:
            raise self.refuse(f"'{name}' is not a readable PNG image")
        return header

    @contextmanager
    def png(self, name: str) -> Iterator[Image.Image]:
        """The PNG decoded straight from the archive, without a copy of its bytes in memory.

        Only members whose header `check_budget` accepted are opened.
        """
        header = self.layer_header(name)
        with self.archive.open(self.archive.getinfo(name)) as member, self.decoding(name):
            image = Image.open(member, formats=["PNG"])
            if image.size != (header.width, header.height):
                raise self.refuse(f"'{name}' is not a readable PNG image")
            image.load()
            yield image

    def layer_rgba(self, name: str) -> tuple[np.ndarray, dict]:
        """A layer's pixels as RGBA, and its PNG's info (which may hold an ICC profile)."""
        with self.png(name) as image:
            rgba = image if image.mode == "RGBA" else image.convert("RGBA")
            return np.asarray(rgba), dict(image.info)

    @contextmanager
    def decoding(self, name: str) -> Iterator[None]:
        try:
            yield
        except (OSError, SyntaxError, EOFError, ValueError, zlib.error, struct.error, Image.DecompressionBombError) as e:
            raise self.refuse(f"'{name}' is not a readable PNG image") from e

    # ------------------------------------------------------------ structure

    def check_mimetype(self) -> None:
        if not self.has("mimetype"):
            raise self.refuse("it has no 'mimetype' entry, so it is not an OpenRaster file")
        if self.read("mimetype", 256).strip() != MIMETYPE:
            raise self.refuse("its 'mimetype' entry is not 'image/openraster'")

    def stack_xml(self) -> ET.Element:
        if not self.has("stack.xml"):
            raise self.refuse("it has no 'stack.xml' layer list")
        data = self.read("stack.xml", MAX_METADATA_BYTES)
        try:
            _refuse_declarations(data)
            root = ET.fromstring(data)
        except _DeclarationFound:
            raise self.refuse("'stack.xml' declares a DOCTYPE or entities, which projects never need") from None
        except (ET.ParseError, expat.ExpatError) as e:
            raise self.refuse(f"'stack.xml' is not well-formed XML ({e})") from e
        except RecursionError:
            raise self.refuse("'stack.xml' is nested too deeply") from None
        if root.tag != "image" or root.find("stack") is None:
            raise self.refuse("'stack.xml' has no <image> with a <stack>")
        return root

    def document_json(self) -> dict:
        if not self.has(DOCUMENT_JSON):
            return {}
        try:
            data = json.loads(self.read(DOCUMENT_JSON, MAX_METADATA_BYTES))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise self.refuse(f"'{DOCUMENT_JSON}' is damaged") from e
        if not isinstance(data, dict):
            raise self.refuse(f"'{DOCUMENT_JSON}' is damaged")
        version = data.get("format_version")
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            raise self.refuse("it was saved by a newer version of Inpaint Studio")
        return data

    def blob(self, name: str) -> bytes | None:
        if not self.has(name):
            return None
        return self.read(name, MAX_METADATA_BYTES) or None

    def number(self, element: ET.Element, attribute: str, default: float) -> float:
        text = element.get(attribute)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or abs(value) > _MAX_COORDINATE:
            raise self.refuse(f"'stack.xml' has an invalid {attribute}=\"{text[:40]}\"")
        return value

    def origin(self, entry: ET.Element) -> tuple[int, int]:
        return int(self.number(entry, "x", 0)), int(self.number(entry, "y", 0))

    # ------------------------------------------------------------ the memory it takes

    def check_budget(
        self, entries: list[ET.Element], original: ET.Element, fill_masks: list[tuple[str, int, int]], width: int, height: int
    ) -> None:
        """Refuse, from stack.xml and the PNG headers alone, a project whose layers together would
        decode to too many pixels or take more memory than the pixel limit allows."""
        canvas = width * height
        total = 0  # pixels decoded, all layers together
        kept = canvas * _CANVAS_BYTES_PER_PIXEL  # what stays in memory
        decoding = 0  # the largest single decode, on top of what is kept
        for entry in entries:
            header = self.layer_header(entry.get("src", ""))
            total += header.pixels
            decoding = max(decoding, header.pixels * _DECODE_BYTES_PER_PIXEL)
            if entry is not original:
                kept += _LAYER_BYTES_PER_PIXEL * _area_on_canvas(*self.origin(entry), header, width, height)
        for src, x, y in fill_masks:
            crop = self.png_header(src)
            if crop is not None:
                total += crop.pixels
                decoding = max(decoding, crop.pixels * _DECODE_BYTES_PER_PIXEL)
                kept += _area_on_canvas(x, y, crop, width, height)
        mask = self.png_header(MASK_PNG) if self.has(MASK_PNG) else None
        if mask is not None:
            total += mask.pixels
            decoding = max(decoding, mask.pixels * _DECODE_BYTES_PER_PIXEL)
        if total > self.limit * MAX_LAYER_PIXELS_FACTOR:
            raise self.refuse(
                f"its {len(entries):,} layers together are {total:,} pixels, above {MAX_LAYER_PIXELS_FACTOR}x "
                f"the {self.limit:,}-pixel safety limit"
            )
        needed, allowed = kept + decoding, memory_limit(self.limit)
        if needed > allowed:
            raise self.refuse(
                f"opening its {len(entries):,} layers would take about {format_bytes(needed)} of memory, more than the "
                f"{format_bytes(allowed)} allowed with the {self.limit:,}-pixel limit; raise it with --max-pixels or "
                f"{MAX_PIXELS_ENV} if you trust the file"
            )

    # ------------------------------------------------------------ the document

    def document(self) -> Document:
        self.check_mimetype()
        root = self.stack_xml()
        meta = self.document_json()
        width, height = int(self.number(root, "w", 0)), int(self.number(root, "h", 0))
        if width <= 0 or height <= 0:
            raise self.refuse("'stack.xml' gives no valid image size")
        if width * height > self.limit:
            raise self.refuse(f"the image is {width}x{height} pixels, above the {self.limit:,}-pixel safety limit")

        # Nested stacks (layer groups) are flattened; iter() keeps the top-first order.
        stack = root.find("stack")
        assert stack is not None  # stack_xml() refused a file without one
        entries = list(stack.iter("layer"))
        if not entries:
            raise self.refuse("'stack.xml' lists no layers")
        if len(entries) > MAX_LAYERS:
            raise self.refuse(f"'stack.xml' lists {len(entries):,} layers, more than the {MAX_LAYERS:,} a project may have")
        for entry in entries:
            src = entry.get("src", "")
            if not _is_safe_name(src):
                raise self.refuse(f"'stack.xml' refers to an unsafe file name '{src}'")
            if not self.has(src):
                raise self.refuse(f"the layer file '{src}' listed in 'stack.xml' is missing")

        original = meta.get("original")
        original_meta = original if isinstance(original, dict) else {}
        original_entry = next((e for e in entries if e.get("src") == original_meta.get("src")), entries[-1])
        listed = meta.get("layers")
        layers_meta = listed if isinstance(listed, list) else []
        meta_by_src = {
            item["src"]: item for item in layers_meta if isinstance(item, dict) and isinstance(item.get("src"), str)
        }
        fill_masks = {}
        for entry in entries:
            if entry is not original_entry:
                found = self.fill_mask_place(meta_by_src.get(entry.get("src", ""), {}).get("fill_mask"))
                if found is not None:
                    fill_masks[id(entry)] = found
        self.check_budget(entries, original_entry, list(fill_masks.values()), width, height)

        photo = self.photo(original_entry, original_meta, width, height)
        document = Document(photo)
        for entry in reversed(entries):  # bottom to top, as Document keeps them
            if entry is original_entry:
                continue
            layer_meta = meta_by_src.get(entry.get("src", ""), {})
            layer = self.result_layer(entry, layer_meta.get("provenance"), width, height)
            if layer is not None:
                place = fill_masks.get(id(entry))
                crop = self.fill_mask(*place, width, height) if place is not None else None
                layer.fill_masks = [crop] if crop is not None else []
                document.layers.append(layer)
        self.restore_mask(document)
        document.recomposite(Box(0, 0, width, height))
        return document

    def photo(self, entry: ET.Element, meta: dict, width: int, height: int) -> Photo:
        rgba, info = self.layer_rgba(entry.get("src", ""))
        x, y = self.origin(entry)
        alpha = None
        if (x, y) == (0, 0) and rgba.shape[:2] == (height, width):
            rgb = np.ascontiguousarray(rgba[..., :3])
            has_alpha = meta["has_alpha"] if isinstance(meta.get("has_alpha"), bool) else not (rgba[..., 3] == 255).all()
            if has_alpha:
                alpha = np.ascontiguousarray(rgba[..., 3])
        else:
            # A bottom layer that does not fill the canvas shows over white, as in GIMP's export.
            rgb = np.full((height, width, 3), 255, np.uint8)
            clipped = _clip_to_canvas(x, y, rgba, width, height)
            if clipped is not None:
                cx, cy, part = clipped
                Patch(cx, cy, part[..., :3], part[..., 3]).composite_onto(rgb)
        del rgba

        icc = self.blob(ICC_FILE)
        if icc is None and not meta:  # another app's file: its PNG may carry the profile
            icc = info.get("icc_profile") or None
        photo_format = meta.get("format")
        photo_format = photo_format if isinstance(photo_format, str) and photo_format in _PHOTO_FORMATS else "PNG"
        native = Image.fromarray(rgb if alpha is None else np.dstack([rgb, alpha]))
        return Photo(
            path=self.photo_path(meta.get("path")),
            format=photo_format,
            rgb=rgb,
            alpha=alpha,
            native=native,
            exif=self.blob(EXIF_BIN),
            xmp=self.blob(XMP_FILE),
            iptc=self.blob(IPTC_BIN),
            icc_profile=icc if isinstance(icc, bytes) else None,
            save_options=_restore_save_options(meta.get("save_options"), photo_format),
        )

    def photo_path(self, stored: Any) -> Path:
        """Where the photo is said to be: its file name in the project's folder, never a path the file chose."""
        if not isinstance(stored, str) or not stored:
            return self.path
        if self.keep_photo_path:
            return Path(stored)
        name = re.split(r"[/\\]", stored)[-1].strip()
        if name in ("", ".", "..") or any(ord(c) < 32 or c == "\x7f" for c in name) or len(name) > _MAX_NAME_CHARS:
            return self.path
        return self.path.parent / name

    def result_layer(self, entry: ET.Element, provenance: Any, width: int, height: int) -> ResultLayer | None:
        """The layer as one patch clipped to the canvas, or None if none of it is on the canvas."""
        header = self.layer_header(entry.get("src", ""))
        x, y = self.origin(entry)
        if _area_on_canvas(x, y, header, width, height) == 0:
            return None  # not decoded at all
        rgba, _ = self.layer_rgba(entry.get("src", ""))
        clipped = _clip_to_canvas(x, y, rgba, width, height)
        if clipped is None:
            return None
        cx, cy, part = clipped
        patch = Patch(cx, cy, np.ascontiguousarray(part[..., :3]), np.ascontiguousarray(part[..., 3]))
        return ResultLayer(
            name=(entry.get("name") or "Layer")[:_MAX_NAME_CHARS],
            patches=[patch],
            provenance=_plain_json(provenance) if isinstance(provenance, dict) else {},
            visible=entry.get("visibility", "visible") != "hidden",
            opacity=min(max(self.number(entry, "opacity", 1.0), 0.0), 1.0),
        )

    def fill_mask_place(self, meta: Any) -> tuple[str, int, int] | None:
        """(src, x, y) of a layer's fill mask as document.json gives them, or None if unusable."""
        if not isinstance(meta, dict) or not isinstance(meta.get("src"), str):
            return None
        src, x, y = meta["src"], meta.get("x"), meta.get("y")
        if not (_is_safe_name(src) and self.has(src) and isinstance(x, int) and isinstance(y, int)):
            return None
        if isinstance(x, bool) or isinstance(y, bool):
            return None
        return src, x, y

    def fill_mask(self, src: str, x: int, y: int, width: int, height: int) -> MaskCrop | None:
        """A layer's fill mask; None if absent, damaged or off the canvas (it is provenance only)."""
        header = self.png_header(src)
        if header is None or x < 0 or y < 0 or x + header.width > width or y + header.height > height:
            return None
        try:
            with self.png(src) as image:
                pixels = np.asarray(image.convert("L"))
        except ProjectError:
            return None
        return MaskCrop(x, y, np.ascontiguousarray(pixels))

    def restore_mask(self, document: Document) -> None:
        """Set the saved mask directly (not as an edit): a freshly opened project has no history."""
        if not self.has(MASK_PNG):
            return
        header = self.png_header(MASK_PNG)
        height, width = document.mask.shape[:2]
        if header is None or (header.width, header.height) != (width, height):
            return  # a mask for another size is useless; start with an empty one
        try:
            with self.png(MASK_PNG) as image:
                document.mask[...] = np.asarray(image.convert("L"))
        except ProjectError:
            pass  # the mask is a convenience; a damaged one should not cost the project


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _area_on_canvas(x: int, y: int, header: _PngHeader, width: int, height: int) -> int:
    """Pixels of a layer at (x, y) that fall on the canvas."""
    columns = min(x + header.width, width) - max(x, 0)
    rows = min(y + header.height, height) - max(y, 0)
    return max(columns, 0) * max(rows, 0)


def _plain_json(value: Any, depth: int = 0) -> Any:
    """`value` (parsed JSON) if it is nested at most _MAX_JSON_DEPTH deep, else None in its place:
    provenance is copied and saved again, which must not run out of stack."""
    if depth > _MAX_JSON_DEPTH:
        return None
    if isinstance(value, dict):
        return {str(k): _plain_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v, depth + 1) for v in value]
    return value


def _clip_to_canvas(x: int, y: int, rgba: np.ndarray, width: int, height: int) -> tuple[int, int, np.ndarray] | None:
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + rgba.shape[1], width), min(y + rgba.shape[0], height)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, rgba[y0 - y : y1 - y, x0 - x : x1 - x]


class _DeclarationFound(Exception):
    pass


def _refuse_declarations(data: bytes) -> None:
    """Raise _DeclarationFound if the XML declares a DOCTYPE or entity (billion laughs, XXE).

    A scan with expat stops at the declaration itself, before any entity is
    defined or expanded, and sees through encodings a byte search would miss.
    """

    def found(*_args) -> None:
        raise _DeclarationFound

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = found
    parser.EntityDeclHandler = found
    parser.Parse(data, True)

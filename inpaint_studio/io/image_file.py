"""Load and save photos without losing what the engines never touched.

Engines work on an 8-bit RGB view of the photo (`Photo.rgb`). Saving
compares the result with that view: pixels the engine left alone are copied
from the source image in its own mode and depth (16-bit, CMYK, grayscale,
palette ...), and only the changed pixels are converted back from 8 bits.
Metadata (EXIF and XMP with the orientation reset, IPTC, ICC profile, DPI) and
the input's format settings (JPEG tables, WebP lossless, TIFF compression) carry
over, and the file is written atomically. What the output cannot keep (the other
frames of an animation, transparency in a JPEG, metadata a format has no room
for) is left out with a warning, given to the caller's `warn`.

16-bit RGB(A): Pillow has no 16-bit colour mode. It opens 48/64-bit PNG and
TIFF files as 8-bit "RGB"/"RGBA", keeping only the high byte of each sample.
For those files the full-depth pixels are read with OpenCV
(`Photo.deep`) and written back with OpenCV, adding the metadata
OpenCV cannot write itself.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import mmap
import os
import re
import stat
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import (
    Image,
    ImageCms,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    TiffTags,
    UnidentifiedImageError,
)

from inpaint_studio.core.errors import ImageError
from inpaint_studio.core.photo import DEEP_MODES, Photo
from inpaint_studio.io import formats
from inpaint_studio.io.atomic import atomic_write, name_length_problem

DEFAULT_MAX_PIXELS = 250_000_000
MAX_PIXELS_ENV = "INPAINT_STUDIO_MAX_PIXELS"

# The memory one file may take to open: this many bytes for each pixel of the pixel limit
# (6 GB at the default 250 megapixels), so that --max-pixels raises both together.
MEMORY_BYTES_PER_LIMIT_PIXEL = 24
# Peak bytes per pixel that load_image needs (measured on 16-megapixel files), by the mode
# Pillow opens a file in: Pillow's pixels, the upright copy, the 8-bit view, conversions.
_PEAK_BYTES_PER_PIXEL = {
    "1": 14, "L": 14, "P": 14, "RGB": 14, "YCbCr": 14, "RGBX": 14,
    "LA": 20, "La": 20, "PA": 20, "RGBA": 20, "RGBa": 20, "CMYK": 18,
    "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16, "I": 20, "F": 20,
}
_PEAK_BYTES_16BIT_RGB = 40  # also OpenCV's 16-bit decode and its reordered, upright copies
_PEAK_BYTES_OTHER = 24
_PEAK_BYTES_WEBP_EXTRA = 8  # libwebp decodes into a buffer of its own first
# A progressive JPEG decodes every scan over the whole image: tens of thousands of tiny
# scans take minutes. Encoders write about 10; anything near this is hostile.
MAX_JPEG_SCANS = 200

# Used when the input gives nothing better to reproduce (e.g. a PNG saved as JPEG).
DEFAULT_QUALITY = 90
PNG_COMPRESS_LEVEL = 6

ORIENTATION_TAG = 0x0112
ICC_PROFILE_TAG = 34675
XMP_TAG = 700
IPTC_TAG = 33723
EXIF_IFD = 0x8769
EXIF_IFD_TAGS = (EXIF_IFD, 0x8825)  # Exif and GPS sub-directories
MAKER_NOTE_TAG = 0x927C  # in the Exif sub-directory: the camera maker's own data, often the bulk of the EXIF
PHOTOSHOP_IPTC_RESOURCE = 0x0404  # the IPTC-IIM records inside a JPEG's Photoshop (APP13) block
# The most data one JPEG marker segment holds; EXIF, standard XMP and IPTC each get one.
JPEG_SEGMENT_BYTES = 65533
_JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\0"
_JPEG_PHOTOSHOP_HEADER = b"Photoshop 3.0\0"
# XMP's copy of the orientation, attribute or element form; reset with the EXIF's when the pixels are turned upright.
_XMP_ORIENTATION = re.compile(rb"(tiff:Orientation\s*=\s*[\"']|<tiff:Orientation>\s*)[1-8]")

log = logging.getLogger(__name__)
Warn = Callable[[str], None]  # receives each warning of a save, one sentence each

# Modes kept as they are; the dict below lists modes turned into one of these on load.
SUPPORTED_MODES = {"L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"}
_LOAD_CONVERSIONS = {"1": "L", "RGBX": "RGB", "YCbCr": "RGB", "RGBa": "RGBA", "La": "LA", "PA": "RGBA"}
_GRAY_MODES = {"L", "LA", "I;16", "I", "F"}

# Which source modes each output format stores as they are; anything else is
# written as the 8-bit view the engine worked on.
_FORMAT_MODES = {
    "JPEG": {"L", "RGB", "CMYK"},
    "PNG": {"L", "LA", "P", "RGB", "RGBA", "I;16"},
    "WEBP": {"RGB", "RGBA"},
    "TIFF": {"L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"},
    "BMP": {"L", "P", "RGB", "RGBA"},
    "GIF": {"L", "P", "RGB", "RGBA"},  # Pillow quantises RGB(A) itself
    "AVIF": {"RGB", "RGBA"},
}
# The metadata each output format keeps (Pillow writes nothing of the kind into BMP or GIF).
_FORMAT_METADATA = {
    "JPEG": {"EXIF", "XMP", "IPTC", "ICC profile"},
    "TIFF": {"EXIF", "XMP", "IPTC", "ICC profile"},
    "PNG": {"EXIF", "XMP", "ICC profile"},
    "WEBP": {"EXIF", "XMP", "ICC profile"},
    "AVIF": {"EXIF", "XMP", "ICC profile"},
}
# What one of a file's frames is called, by format; "frames" for the others.
_FRAME_WORDS = {"TIFF": "pages", "JPEG": "pictures"}
# Formats that keep a palette or gray image's "transparency" entry.
_COLOUR_KEY_FORMATS = {"PNG", "GIF"}
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "MPO": "JPEG", "HEIC": "HEIF"}

# Tags in a TIFF's first directory that describe that file's own pixel layout
# or hold whole other metadata blocks (ICC, XMP, IPTC, Photoshop): meaningless
# or harmful once copied into another file's EXIF.
_TIFF_LAYOUT_TAGS = {
    254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 282, 283,
    284, 296, 317, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 347, 512, 513, 514,
    529, 530, 531, 532, 700, 33723, 34377, 34675, 37724,
}
# Pillow's TIFF compression names -> OpenCV's, for 16-bit RGB TIFFs.
_CV2_TIFF_COMPRESSION = {
    "raw": cv2.IMWRITE_TIFF_COMPRESSION_NONE,
    "tiff_lzw": cv2.IMWRITE_TIFF_COMPRESSION_LZW,
    "tiff_adobe_deflate": cv2.IMWRITE_TIFF_COMPRESSION_ADOBE_DEFLATE,
    "tiff_deflate": cv2.IMWRITE_TIFF_COMPRESSION_ADOBE_DEFLATE,
    "packbits": cv2.IMWRITE_TIFF_COMPRESSION_PACKBITS,
}
_PALETTE_CHUNK = 4096  # changed pixels matched against the palette per step (bounds memory)


# ---------------------------------------------------------------- loading


def load_image(path: str | os.PathLike, *, max_pixels: int | None = None) -> Photo:
    """Read a photo; raise ImageError with a one-sentence reason if it cannot be used."""
    path = Path(path)
    limit = resolve_max_pixels(max_pixels)
    check_is_readable_file(path)
    with explained_read_errors(path), pillow_bomb_check_off(), open_image(path) as im:
        check_decodable(path, im, limit)
        sixteen_bit_rgb = _is_16bit_rgb(im)  # before anything decodes: decoding empties im.tile
        orientation = _orientation(im)
        iptc = _source_iptc(im)
        frames = _frame_count(im)
        im.load()
        upright = ImageOps.exif_transpose(im)  # a no-op for TIFF, which Pillow 13 turns upright in load()
        deep = _read_16bit_rgb(path, orientation, upright) if sixteen_bit_rgb else None
        icc = im.info.get("icc_profile") or None
        options = _source_save_options(path, im)
        fmt = _FORMAT_ALIASES.get(im.format or "", im.format or "")
        exif = _upright_exif(im)
        xmp = _upright_xmp(im.info.get("xmp"), orientation)
        dpi = _upright_dpi(_source_dpi(im), orientation)

    if deep is not None:
        rgb = _to_8bit(deep[..., :3])
        alpha = _to_8bit(deep[..., 3]) if deep.shape[2] == 4 else None
        native = Image.fromarray(rgb if alpha is None else np.dstack([rgb, alpha]))
    else:
        native = supported_native(path, upright)
        rgb, alpha = eight_bit_view(native, icc)
    if dpi:
        native.info["dpi"] = dpi
    return Photo(
        path=path,
        format=fmt,
        rgb=np.ascontiguousarray(rgb),
        alpha=None if alpha is None else np.ascontiguousarray(alpha),
        native=native,
        exif=exif,
        icc_profile=icc,
        save_options=options,
        deep=deep,
        xmp=xmp,
        iptc=iptc,
        frames=frames,
    )


def resolve_max_pixels(max_pixels: int | None) -> int:
    """The pixel limit: the caller's, else INPAINT_STUDIO_MAX_PIXELS, else DEFAULT_MAX_PIXELS."""
    if max_pixels is None:
        text = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if not text:
            return DEFAULT_MAX_PIXELS
        try:
            max_pixels = int(text)
        except ValueError:
            raise ImageError(f"{MAX_PIXELS_ENV} must be a whole number of pixels, not '{text}'.") from None
    if max_pixels <= 0:
        raise ImageError(f"The pixel limit must be a positive number, not {max_pixels}.")
    return max_pixels


def _cannot_open(path: Path, reason: str) -> ImageError:
    return ImageError(f"Cannot open '{path}': {reason}.")


def open_image(path: Path) -> ImageFile.ImageFile:
    """`Image.open` limited to the formats Inpaint Studio reads (io.formats): only the header is parsed."""
    return Image.open(path, formats=formats.read_formats())


# The brands in an ISO media file's "ftyp" box that say HEIC (HEVC in HEIF) or AVIF (AV1 in HEIF).
_HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx")
_AVIF_BRANDS = (b"avif", b"avis")


def _unsupported_reason(path: Path) -> str:
    """Why Pillow found no supported format in `path`, from its first bytes."""
    try:
        with open(path, "rb") as file:
            head = file.read(64)
    except OSError:
        head = b""
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):  # PostScript / EPS, plain or with a DOS EPS header
        return "it is a PostScript file, not a photo"
    if head.startswith(b"%PDF"):
        return "it is a PDF document, not a photo"
    if head[4:8] == b"ftyp":  # an ISO media file: HEIC or AVIF are readable only with their decoder
        fmt = _heif_family_format(head[8:])
        if fmt is not None and fmt.missing_decoder:
            return fmt.missing_decoder
    return f"it is not a photo in a supported format ({formats.read_format_names()})"


def _heif_family_format(brands: bytes) -> formats.PhotoFormat | None:
    """AVIF or HEIC, by the brands of a file's "ftyp" box; None for other ISO media (a video, say)."""
    if any(brand in brands for brand in _AVIF_BRANDS):
        return formats.by_pillow_name("AVIF")
    if any(brand in brands for brand in _HEIC_BRANDS):
        return formats.by_pillow_name("HEIF")
    return None


def check_is_readable_file(path: Path) -> None:
    """Name the common problems before Pillow turns them into vaguer errors."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise _cannot_open(path, "file not found") from None
    except PermissionError:
        raise _cannot_open(path, "permission denied") from None
    except OSError as e:
        raise _cannot_open(path, (e.strerror or str(e)).lower()) from None
    if stat.S_ISDIR(info.st_mode):
        raise _cannot_open(path, "it is a folder")
    if info.st_size == 0:
        raise _cannot_open(path, "the file is empty (0 bytes)")


@contextmanager
def explained_read_errors(path: Path) -> Iterator[None]:
    """Turn what Pillow raises for a bad file into one sentence for the user."""
    try:
        yield
    except UnidentifiedImageError as e:
        raise _cannot_open(path, _unsupported_reason(path)) from e
    except FileNotFoundError as e:
        raise _cannot_open(path, "file not found") from e
    except PermissionError as e:
        raise _cannot_open(path, "permission denied") from e
    except IsADirectoryError as e:
        raise _cannot_open(path, "it is a folder") from e
    except (OSError, SyntaxError, EOFError, ValueError, IndexError, struct.error, zlib.error) as e:
        # Pillow's decoders report damage with any of these.
        raise _cannot_open(path, "the file is truncated or damaged") from e


# Pillow's own bomb check is process-wide (Image.MAX_IMAGE_PIXELS) and runs
# inside Image.open and some decoders with its own limit and message, so it
# would refuse images our (configurable) limit allows. While at least one of
# our reads runs it is switched off, and restored when the last one ends.
# That is safe because check_size, with the user's limit, runs right after
# Image.open has parsed only the header and before any pixel is decoded. The
# one cost: code that calls Pillow directly in another thread at that moment
# runs unchecked; Inpaint Studio itself reads every file through this module.
_bomb_check_lock = threading.Lock()
_bomb_check_users = 0
_saved_max_image_pixels: int | None = None


@contextmanager
def pillow_bomb_check_off() -> Iterator[None]:
    """Pillow's own pixel limit off while this block runs (see above)."""
    global _bomb_check_users, _saved_max_image_pixels
    with _bomb_check_lock:
        if _bomb_check_users == 0:
            _saved_max_image_pixels = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _bomb_check_users += 1
    try:
        yield
    finally:
        with _bomb_check_lock:
            _bomb_check_users -= 1
            if _bomb_check_users == 0:
                Image.MAX_IMAGE_PIXELS = _saved_max_image_pixels


def check_size(path: Path, size: tuple[int, int], limit: int) -> None:
    """Refuse an image of more than `limit` pixels, from its header, before any pixel is decoded."""
    width, height = size
    if width * height > limit:
        raise _cannot_open(
            path,
            f"the image is {width}x{height} pixels ({_pixel_count(width * height)}), "
            f"above the {_pixel_count(limit, adjective=True)} safety limit; raise it with "
            f"--max-pixels or {MAX_PIXELS_ENV} if you trust the file",
        )


def check_decodable(path: Path, im: ImageFile.ImageFile, limit: int) -> None:
    """Everything to refuse from the header, before any pixel is decoded: size, memory, JPEG scans."""
    check_size(path, im.size, limit)
    check_memory(path, im, limit)
    if im.format in ("JPEG", "MPO"):
        check_jpeg_scans(path)


def memory_limit(limit: int) -> int:
    """Bytes one file may take to open under the pixel limit `limit`."""
    return limit * MEMORY_BYTES_PER_LIMIT_PIXEL


def peak_bytes_per_pixel(im: ImageFile.ImageFile) -> int:
    """About how many bytes per pixel load_image needs at its peak for `im` (header only)."""
    if _is_16bit_rgb(im):
        per_pixel = _PEAK_BYTES_16BIT_RGB
    else:
        per_pixel = _PEAK_BYTES_PER_PIXEL.get(im.mode, _PEAK_BYTES_OTHER)
    return per_pixel + (_PEAK_BYTES_WEBP_EXTRA if im.format == "WEBP" else 0)


def check_memory(path: Path, im: ImageFile.ImageFile, limit: int) -> None:
    """Refuse a file whose pixels, at their depth, would take more memory than the limit allows."""
    width, height = im.size
    needed = width * height * peak_bytes_per_pixel(im)
    allowed = memory_limit(limit)
    if needed > allowed:
        depth = "16-bit colour" if _is_16bit_rgb(im) else f"mode {im.mode}"
        raise _cannot_open(
            path,
            f"opening this {width}x{height} image ({depth}) would take about {format_bytes(needed)} of memory, "
            f"more than the {format_bytes(allowed)} allowed with the {_pixel_count(limit, adjective=True)} limit; "
            f"raise it with --max-pixels or {MAX_PIXELS_ENV} if you trust the file",
        )


def check_jpeg_scans(path: Path) -> None:
    """Refuse a JPEG with an absurd number of scans, counted from its markers without decoding."""
    try:
        with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            count = jpeg_scan_count(data, MAX_JPEG_SCANS)
    except (OSError, ValueError):
        return  # the decoder reports an unreadable file in its own words
    if count > MAX_JPEG_SCANS:
        raise _cannot_open(
            path,
            f"the JPEG has more than {MAX_JPEG_SCANS} scans (photos have about 10), "
            "which would take minutes to decode; it is damaged or made to stall programs",
        )


# A marker: FF followed by anything but 00 (a stuffed FF in entropy-coded data), a restart
# marker (inside a scan) or another FF (fill before the marker).
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def jpeg_scan_count(data: bytes | mmap.mmap, stop: int) -> int:
    """Start-of-scan markers of the first image in `data` (up to its end-of-image), counting up to
    `stop` + 1. Segments are skipped by their length, so bytes inside metadata, or after the image
    (a motion photo's video, the second picture of an MPO), are never mistaken for markers."""
    if data[:2] != b"\xff\xd8":
        return 0
    count, position = 0, 2
    while count <= stop:
        found = _JPEG_MARKER.search(data, position)
        if found is None:
            break
        marker, position = data[found.start() + 1], found.end()
        if marker == 0xD9:  # end of image
            break
        if marker == 0x01:  # TEM: no length
            continue
        if marker == 0xDA:
            count += 1  # its entropy-coded data follows the header; the next search steps over it
        position += int.from_bytes(data[position : position + 2], "big")
    return count


def format_bytes(count: int) -> str:
    """'6 GB', '1.5 GB', '300 MB', '4,096 bytes': decimal units, as file managers show them."""
    if count >= 1e9:
        return f"{count / 1e9:.1f}".removesuffix(".0") + " GB"
    if count >= 1e6:
        return f"{count / 1e6:.0f} MB"
    return f"{count:,} bytes"


def _pixel_count(pixels: int, adjective: bool = False) -> str:
    """'900 megapixels' / '250-megapixel'; small counts (test limits) in plain pixels."""
    if pixels < 100_000:
        number, unit = f"{pixels:,}", "pixel"
    else:
        number, unit = f"{pixels / 1e6:.1f}".removesuffix(".0"), "megapixel"
    return f"{number}-{unit}" if adjective else f"{number} {unit}s"


def _orientation(im: Image.Image) -> int:
    value = im.getexif().get(ORIENTATION_TAG, 1)
    return value if value in range(1, 9) else 1


def _is_16bit_rgb(im: ImageFile.ImageFile) -> bool:
    """True if Pillow is about to squeeze 16-bit RGB(A) samples into its 8-bit mode."""
    if im.mode not in ("RGB", "RGBA") or not im.tile:
        return False
    args = im.tile[0].args
    rawmode = args[0] if isinstance(args, tuple) else args
    return isinstance(rawmode, str) and ";16" in rawmode


def _read_16bit_rgb(path: Path, orientation: int, upright: Image.Image) -> np.ndarray | None:
    """Full-depth RGB(A) via OpenCV, or None (keep Pillow's 8 bits) if OpenCV cannot read it."""
    # imdecode on the bytes, because cv2.imread cannot open non-ASCII paths on Windows.
    pixels: np.ndarray | None = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        return None
    pixels = pixels[..., [2, 1, 0, 3][: pixels.shape[2]]]  # BGR(A) -> RGB(A)
    # OpenCV turns some files upright itself (TIFF, in OpenCV 5) but not others
    # (PNG), so take the candidate whose high bytes are exactly Pillow's upright
    # 8-bit pixels. That also proves both libraries decoded the same image.
    expected = np.asarray(upright)
    for candidate in (_orient_array(pixels, orientation), pixels):
        if candidate.shape == expected.shape and np.array_equal(candidate >> 8, expected):
            return np.ascontiguousarray(candidate)
    return None


def _orient_array(a: np.ndarray, orientation: int) -> np.ndarray:
    """Numpy version of ImageOps.exif_transpose, for arrays Pillow cannot hold."""
    if orientation == 2:
        return a[:, ::-1]
    if orientation == 3:
        return a[::-1, ::-1]
    if orientation == 4:
        return a[::-1]
    if orientation == 5:
        return a.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(a, -1)
    if orientation == 7:
        return a.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(a, 1)
    return a


def _to_8bit(values: np.ndarray) -> np.ndarray:
    """16-bit -> 8-bit, rounded to nearest (v / 257).

    Rounding rather than Pillow's and libpng's `v >> 8` halves the worst error,
    and still maps every v * 257 (an 8-bit value stored in 16 bits) back exactly.
    """
    return ((values.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def supported_native(path: Path, image: Image.Image) -> Image.Image:
    """`image` in one of SUPPORTED_MODES (odd byte orders and variants converted); ImageError if it has none."""
    if image.mode in ("I;16B", "I;16L", "I;16N"):
        # Pillow's convert("I;16") clips these to 0..255, so reinterpret via numpy.
        converted = Image.fromarray(np.asarray(image).astype(np.uint16))
        converted.info = dict(image.info)
        return converted
    if image.mode in _LOAD_CONVERSIONS:
        return image.convert(_LOAD_CONVERSIONS[image.mode])
    if image.mode not in SUPPORTED_MODES:
        raise _cannot_open(path, f"image mode '{image.mode}' is not supported")
    return image


def eight_bit_view(native: Image.Image, icc: bytes | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The uint8 RGB (and alpha) an engine sees for `native`."""
    mode = native.mode
    if mode == "CMYK":
        return np.asarray(_cmyk_to_rgb(native, icc)), None
    if mode in DEEP_MODES:
        gray = _deep_gray_to_8bit(np.asarray(native), mode)
        return np.repeat(gray[..., None], 3, axis=2), None
    if mode == "RGB" and not native.has_transparency_data:
        return np.array(native), None  # skips a needless RGBA copy for the common case
    rgba = np.asarray(native.convert("RGBA"))
    alpha = rgba[..., 3] if native.has_transparency_data else None
    return rgba[..., :3], alpha


def _deep_gray_to_8bit(values: np.ndarray, mode: str) -> np.ndarray:
    if mode == "F":  # float images: 0.0 = black, 1.0 = white
        return np.round(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)
    # "I" (32-bit) is read as 16-bit data, the range PNG and most TIFFs use.
    return _to_8bit(np.clip(values, 0, 65535))


@cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Through the embedded profile if there is one: plain conversion gives dull, wrong colours."""
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, profile, _srgb_profile(), outputMode="RGB")
            assert converted is not None  # a new image, since not converted in place
            return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # unusable profile: fall back to Pillow's conversion
    return image.convert("RGB")


def _rgb_to_cmyk(pixels: np.ndarray, icc: bytes | None) -> np.ndarray:
    """(N, 3) RGB -> (N, 4) CMYK, the inverse of how `_cmyk_to_rgb` read them."""
    image = Image.fromarray(pixels.reshape(1, -1, 3))
    converted = None
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, _srgb_profile(), profile, outputMode="CMYK")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    if converted is None:
        converted = image.convert("CMYK")
    return np.asarray(converted).reshape(-1, 4)


def _upright_exif(im: Image.Image) -> bytes | None:
    try:
        exif = im.getexif()
        if im.format == "TIFF":
            # A TIFF's EXIF is its own first directory; keep only the descriptive tags.
            for tag in _TIFF_LAYOUT_TAGS & set(exif):
                del exif[tag]
        if not len(exif):
            return None
        exif[ORIENTATION_TAG] = 1
        return exif.tobytes()
    except (ValueError, TypeError, KeyError, struct.error, OSError, SyntaxError):
        # Metadata Pillow cannot re-encode is dropped rather than losing the photo;
        # keeping the old bytes would keep the old orientation and rotate twice.
        return None


def _upright_xmp(xmp: bytes | str | None, orientation: int) -> bytes | None:
    """The XMP packet as it came, byte for byte, but for its orientation reset when the pixels were turned."""
    if isinstance(xmp, str):  # PNG's iTXt chunk arrives decoded
        xmp = xmp.encode("utf-8")
    if not isinstance(xmp, bytes) or not xmp:
        return None
    return xmp if orientation == 1 else _XMP_ORIENTATION.sub(rb"\g<1>1", xmp)


def _source_iptc(im: Image.Image) -> bytes | None:
    """The IPTC-IIM records a JPEG (Photoshop APP13 block) or a TIFF (tag 33723) carries."""
    value: object = None
    if isinstance(im, JpegImagePlugin.JpegImageFile):  # MPO too
        photoshop = im.info.get("photoshop")
        value = photoshop.get(PHOTOSHOP_IPTC_RESOURCE) if isinstance(photoshop, dict) else None
    elif isinstance(im, TiffImagePlugin.TiffImageFile):
        value = im.tag_v2.get(IPTC_TAG)
        if isinstance(value, int):
            value = (value,)
        if isinstance(value, tuple) and all(isinstance(v, int) for v in value):  # Photoshop tags it as LONGs
            value = struct.pack(f"{'<' if im.tag_v2.prefix == b'II' else '>'}{len(value)}L", *value)
    return value if isinstance(value, bytes) and value else None


def _frame_count(im: Image.Image) -> int:
    """Frames of an animation, pages of a TIFF, pictures of an MPO: 1 for a plain photo."""
    try:
        return max(1, int(getattr(im, "n_frames", 1)))
    except (OSError, ValueError, EOFError, SyntaxError, struct.error):
        return 1  # later frames damaged: the first, which is all that is read, may still be fine


def _source_dpi(im: Image.Image):
    if isinstance(im, TiffImagePlugin.TiffImageFile) and 282 not in im.tag_v2:
        return None  # Pillow reports (1, 1) for a TIFF without resolution tags
    return im.info.get("dpi")


def _upright_dpi(dpi, orientation: int):
    if not dpi or len(dpi) != 2 or not all(dpi):
        return None
    return (dpi[1], dpi[0]) if orientation >= 5 else tuple(dpi)


def _source_save_options(path: Path, im: Image.Image) -> dict:
    if isinstance(im, JpegImagePlugin.JpegImageFile):  # MPO too
        options: dict = {"qtables": im.quantization}
        sampling = JpegImagePlugin.get_sampling(im)
        if sampling != -1:
            options["subsampling"] = sampling
        if im.info.get("progressive"):
            options["progressive"] = True
        return options
    if im.format == "WEBP":
        # exact: keep the colour under fully transparent pixels, as lossless promises.
        return {"lossless": True, "exact": True} if _webp_is_lossless(path) else {"lossless": False}
    if im.format == "TIFF":
        compression = im.info.get("compression")
        if compression in ("tiff_ccitt", "group3", "group4"):
            compression = "tiff_lzw"  # fax codecs only hold 1-bit images; 1-bit loads as "L"
        return {"compression": compression} if compression and compression != "raw" else {}
    return {}


def _webp_is_lossless(path: Path) -> bool:
    """Pillow does not say; the first VP8L (lossless) or 'VP8 ' (lossy) chunk does."""
    with open(path, "rb") as f:
        if f.read(12)[8:12] != b"WEBP":
            return False
        while header := f.read(8):
            if len(header) < 8:
                return False
            kind, size = header[:4], struct.unpack("<I", header[4:])[0]
            if kind in (b"VP8L", b"VP8 "):
                return kind == b"VP8L"
            if kind == b"ANMF":
                f.seek(16, os.SEEK_CUR)  # animation frame: its image chunks follow a 16-byte header
            else:
                f.seek(size + (size & 1), os.SEEK_CUR)
    return False


# ---------------------------------------------------------------- saving


def save_image(
    loaded: Photo,
    rgb: np.ndarray,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    file_format: str | None = None,
    quality: int | None = None,
    alpha: np.ndarray | None = None,
    warn: Warn | None = None,
) -> Path:
    """Write `rgb` (the edited `loaded.rgb`) to `path` atomically; return `path`.

    The output format follows the file extension, else `file_format`, else the input's
    (JPEG for a photo in a format that cannot be written: HEIC). `alpha`, for a photo with
    transparency, is the result's (`Document.output_alpha`: filled transparent areas made
    opaque); by default the photo's own. Once the file is written, `warn` (by default the
    log) receives one sentence for each thing the output could not keep.
    """
    path = Path(path)
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.shape != loaded.rgb.shape:
        raise ValueError(f"rgb must be uint8 with shape {loaded.rgb.shape}, got {getattr(rgb, 'shape', rgb)}")
    loaded = _with_alpha(loaded, alpha)
    fmt = _output_format(path, file_format, loaded.format)
    _check_destination(loaded, path, overwrite, file_format)
    changed = _changed_pixels(rgb, loaded.rgb)
    warnings = _losses(loaded, fmt)

    if loaded.deep is not None and fmt in ("PNG", "TIFF"):
        data = _encode_16bit_rgb(loaded, rgb, changed, fmt, path)

        def write(file):
            file.write(data)

    else:
        image = _image_to_write(loaded, rgb, changed, fmt)
        options = _save_kwargs(loaded, image.mode, fmt, quality, warnings)

        def write(file):
            image.save(file, format=fmt, **options)

    try:
        atomic_write(path, write)
    except (OSError, ValueError, KeyError) as e:
        # OSError: disk full, permissions ...; all three: Pillow refusing the data.
        reason = (getattr(e, "strerror", None) or str(e) or type(e).__name__).rstrip(".")
        raise ImageError(f"Cannot write '{path}': {reason}.") from e
    for warning in warnings:
        (warn or _log_warning)(warning)
    return path


def _log_warning(message: str) -> None:
    log.warning("%s", message)


def _losses(loaded: Photo, fmt: str) -> list[str]:
    """What writing `loaded` as `fmt` leaves out, one sentence each. (Metadata too large for a
    JPEG is found while the save options are put together.)"""
    losses = []
    name = _format_name(fmt)
    source = formats.by_pillow_name(loaded.format)
    if source is not None and not source.writable:
        losses.append(f"{source.name} cannot be written, so the result is a {name} file.")
    if loaded.frames > 1:
        # Writing the other frames back unchanged would need each format's animation and page
        # settings carried over; for now the edit, and the file written, is the first frame.
        word = _FRAME_WORDS.get(loaded.format, "frames")
        losses.append(f"This photo has {loaded.frames} {word}; only the first, the one edited, is written.")
    if loaded.alpha is not None and not _holds_alpha(fmt) and bool((loaded.alpha < 255).any()):
        losses.append(f"{name} cannot hold transparency: the transparent parts were flattened onto white.")
    present = {"EXIF": loaded.exif, "XMP": loaded.xmp, "IPTC": loaded.iptc, "ICC profile": loaded.icc_profile}
    dropped = [kind for kind, value in present.items() if value and kind not in _FORMAT_METADATA.get(fmt, ())]
    if dropped:
        listed = ", ".join(dropped[:-1]) + " and " + dropped[-1] if len(dropped) > 1 else dropped[0]
        losses.append(f"{name} cannot hold the photo's {listed}: left out.")
    return losses


def _format_name(fmt: str) -> str:
    known = formats.by_pillow_name(fmt)
    return known.name if known is not None else fmt


def _holds_alpha(fmt: str) -> bool:
    return bool({"LA", "RGBA"} & _FORMAT_MODES.get(fmt, set()))


def default_output_path(input_path: str | os.PathLike, suffix: str = "_inpainted") -> Path:
    """photo.jpg -> photo_inpainted.jpg beside it, or photo_inpainted-2.jpg, -3 ... if taken
    (photo.heic -> photo_inpainted.jpg: HEIC cannot be written)."""
    source = Path(input_path)
    extension = formats.output_suffix(source)
    candidate = source.with_name(f"{source.stem}{suffix}{extension}")
    number = 2
    while os.path.lexists(candidate):
        candidate = source.with_name(f"{source.stem}{suffix}-{number}{extension}")
        number += 1
    return candidate


def _output_format(path: Path, requested: str | None, source: str) -> str:
    """Pillow's name of the format to write: the extension's, else `requested`, else the photo's own
    (JPEG when that cannot be written); ImageError if it is not one Inpaint Studio writes here."""
    source = _FORMAT_ALIASES.get(source.upper(), source.upper())
    if source not in {fmt.pillow for fmt in formats.writable_formats()}:
        source = formats.FALLBACK_OUTPUT
    fmt = formats.registered_format(path.suffix) or requested or source
    fmt = _FORMAT_ALIASES.get(fmt.upper(), fmt.upper())
    known = formats.by_pillow_name(fmt)
    if known is None or not known.writable:
        # Icons (ICO, ICNS) would be resized, PDF and EPS are not photos: only the photo formats.
        reason = f"Inpaint Studio cannot write {known.name if known else fmt} files"
        if known is not None and known.decoder == formats.PI_HEIF:
            reason += " (pi-heif, which reads them, cannot write them)"
        raise ImageError(f"Cannot write '{path}': {reason}; use {formats.writable_suffixes_text()}.")
    if not known.available:
        raise ImageError(f"Cannot write '{path}': {known.missing_decoder}; use {formats.writable_suffixes_text()}.")
    return fmt


def check_output_path(path: str | os.PathLike, requested: str | None = None) -> None:
    """Refuse an output that cannot be written, before any work: a folder, a missing folder,
    a name too long for the file system, or an extension of a format that cannot be written or,
    unless a format is `requested`, of no image format (a name without one takes the photo's)."""
    path = Path(path)
    problem = name_length_problem(path)  # first: Path.is_dir raises for a name that long
    if problem:
        raise ImageError(f"Cannot write '{path}': {problem}.")
    if path.is_dir():
        raise ImageError(f"Cannot write '{path}': it is a folder.")
    if not path.parent.is_dir():
        raise ImageError(f"Cannot write '{path}': the folder '{path.parent}' does not exist.")
    by_extension = formats.registered_format(path.suffix)
    if by_extension:
        _output_format(path, None, by_extension)
    elif path.suffix and requested is None:  # out.txt holding a JPEG: a name that says another format
        raise ImageError(
            f"Cannot write '{path}': {path.suffix} is not an image format; use {formats.writable_suffixes_text()}."
        )


def _check_destination(loaded: Photo, path: Path, overwrite: bool, requested: str | None) -> None:
    check_output_path(path, requested)
    if not overwrite and path.exists() and loaded.path.exists() and os.path.samefile(path, loaded.path):
        raise ImageError(
            f"Refusing to overwrite the input file '{path}'; choose another output or pass --overwrite."
        )


def _with_alpha(loaded: Photo, alpha: np.ndarray | None) -> Photo:
    """`loaded` with `alpha` as its transparency (native image and 16-bit pixels included), when it differs."""
    if alpha is None or loaded.alpha is None or np.array_equal(alpha, loaded.alpha):
        return loaded
    if alpha.shape != loaded.alpha.shape or alpha.dtype != np.uint8:
        raise ValueError(f"alpha must be uint8 with shape {loaded.alpha.shape}, got {alpha.dtype} {alpha.shape}")
    native = loaded.native
    if native.mode not in ("RGBA", "LA"):
        # A palette or colour-key transparency cannot hold partial alpha: real alpha from here on.
        native = native.convert("LA" if native.mode == "L" else "RGBA")
        native.info.pop("transparency", None)
    else:
        native = native.copy()
    native.putalpha(Image.fromarray(alpha, "L"))
    deep = loaded.deep
    if deep is not None and deep.shape[2] == 4:
        deep = deep.copy()
        differs = alpha != loaded.alpha
        deep[..., 3][differs] = alpha[differs].astype(np.uint16) * 257
    return dataclasses.replace(loaded, native=native, alpha=alpha, deep=deep)


def _image_to_write(loaded: Photo, rgb: np.ndarray, changed: np.ndarray, fmt: str) -> Image.Image:
    native = loaded.native
    keeps_mode = native.mode in _FORMAT_MODES.get(fmt, ())
    if "transparency" in native.info and fmt not in _COLOUR_KEY_FORMATS:
        keeps_mode = False  # the format would drop the colour key; write real alpha instead
    if keeps_mode:
        return _write_back(loaded, rgb, changed)
    return _eight_bit_image(loaded, rgb, fmt)


def _changed_pixels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bool (H, W): True where any channel differs (per-channel ORs beat np.any(axis=2) ~5x)."""
    differs = a != b
    return differs[..., 0] | differs[..., 1] | differs[..., 2]


def _write_back(loaded: Photo, rgb: np.ndarray, changed: np.ndarray) -> Image.Image:
    """`loaded.native` with only the changed pixels replaced, converted to its mode."""
    native = loaded.native
    if native.mode == "RGB":
        # The 8-bit view is the native image itself: the new pixels are the result.
        result = Image.fromarray(rgb)
        result.info = dict(native.info)
        return result
    if not changed.any():
        return native.copy()
    pixels = np.array(native)  # same layout as native.tobytes()
    new = rgb[changed]  # (N, 3)
    mode = native.mode
    if mode in ("RGB", "RGBA"):
        pixels[..., :3][changed] = new
    elif mode == "CMYK":
        pixels[changed] = _rgb_to_cmyk(new, loaded.icc_profile)
    elif mode == "P":
        pixels[changed] = _nearest_palette_indices(native, new, pixels[changed])
    else:
        gray = _luminance(new)
        if mode == "L":
            pixels[changed] = gray
        elif mode == "LA":
            pixels[..., 0][changed] = gray
        elif mode == "F":
            pixels[changed] = gray / 255.0
        else:  # I;16, I: the 8-bit value spread over the 16-bit range
            pixels[changed] = gray.astype(pixels.dtype) * 257
    result = native.copy()  # keeps mode, palette and info (dpi, transparency)
    result.frombytes(pixels.tobytes())
    return result


def _luminance(pixels: np.ndarray) -> np.ndarray:
    """(N, 3) RGB -> (N,) gray, by Pillow's own rule so unchanged grays map to themselves."""
    return np.asarray(Image.fromarray(pixels.reshape(1, -1, 3)).convert("L")).reshape(-1)


def _nearest_palette_indices(native: Image.Image, pixels: np.ndarray, old_indices: np.ndarray) -> np.ndarray:
    """Closest entry of the ORIGINAL palette for each changed pixel, without dithering.

    Only entries with the same opacity as the pixel's old entry qualify, so a
    pixel never turns transparent (or opaque) by matching a colour.
    """
    palette = _palette_rgba(native)
    old_alpha = palette[old_indices, 3]
    result = old_indices.copy()
    for alpha in np.unique(old_alpha):
        candidates = np.flatnonzero(palette[:, 3] == alpha)
        colours = palette[candidates, :3]
        rows = np.flatnonzero(old_alpha == alpha)
        for start in range(0, len(rows), _PALETTE_CHUNK):
            part = rows[start : start + _PALETTE_CHUNK]
            distance = ((pixels[part, None, :].astype(np.int32) - colours[None]) ** 2).sum(axis=2)
            result[part] = candidates[distance.argmin(axis=1)]
    return result


def _palette_rgba(native: Image.Image) -> np.ndarray:
    """(entries, 4) int32 RGBA of the palette, transparency applied."""
    entries = len(native.getpalette() or []) // 3 or 256
    strip = native.crop((0, 0, 256, 1))  # same palette and transparency, 256 pixels wide
    strip.putdata(range(256))
    return np.asarray(strip.convert("RGBA"))[0, :entries].astype(np.int32)


def _eight_bit_image(loaded: Photo, rgb: np.ndarray, fmt: str) -> Image.Image:
    """The engine's 8-bit view, for formats that cannot hold the source mode."""
    modes = _FORMAT_MODES.get(fmt, {"L", "RGB"})  # other formats: the modes nearly all can store
    if loaded.alpha is not None and not _holds_alpha(fmt):
        rgb = _flattened_onto_white(rgb, loaded.alpha)
    image = Image.fromarray(rgb)
    if loaded.native.mode in _GRAY_MODES and "L" in modes:
        image = image.convert("L")  # grayscale stays grayscale
    if loaded.alpha is not None:
        if image.mode == "L" and "LA" not in modes and "RGBA" in modes:
            image = image.convert("RGB")  # keeping the alpha matters more than staying gray
        if ("LA" if image.mode == "L" else "RGBA") in modes:
            image.putalpha(Image.fromarray(loaded.alpha))
    return image


def _flattened_onto_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`rgb` composited over white by `alpha`, as a viewer shows a transparent image on a page."""
    a = alpha[..., None].astype(np.uint16)
    return ((rgb.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def _save_kwargs(loaded: Photo, mode: str, fmt: str, quality: int | None, warnings: list[str]) -> dict:
    options = dict(loaded.save_options) if fmt == loaded.format else {}
    if fmt == "JPEG":
        if quality is not None:
            options.pop("qtables", None)
            options["quality"] = quality
        elif "qtables" not in options:
            options["quality"] = DEFAULT_QUALITY
    elif fmt == "WEBP":
        if quality is not None:  # a quality only means something for lossy WebP
            options.pop("exact", None)
            options.update(lossless=False, quality=quality)
        elif not options.get("lossless"):
            options["quality"] = DEFAULT_QUALITY
    elif fmt == "AVIF":
        options["quality"] = DEFAULT_QUALITY if quality is None else quality  # AVIF files do not say theirs
    elif fmt == "PNG":
        options.update(optimize=False, compress_level=PNG_COMPRESS_LEVEL)  # optimize is slow
    elif quality is not None:
        options["quality"] = quality  # e.g. JPEG-compressed TIFF

    # Pillow ignores the metadata a format cannot store (e.g. EXIF in BMP); _losses has said so.
    options.update(_metadata_kwargs(loaded, fmt, warnings))
    icc = _icc_for_mode(loaded, mode)
    if icc:
        options["icc_profile"] = icc
    dpi = loaded.native.info.get("dpi")
    if dpi:
        options["dpi"] = dpi
    if "transparency" in loaded.native.info and mode == loaded.native.mode and fmt in _COLOUR_KEY_FORMATS:
        options["transparency"] = loaded.native.info["transparency"]
    return options


def _metadata_kwargs(loaded: Photo, fmt: str, warnings: list[str]) -> dict:
    """Pillow save options carrying the photo's EXIF, XMP and IPTC in `fmt`'s own way."""
    exif, xmp, iptc = loaded.exif, loaded.xmp, loaded.iptc
    if fmt == "JPEG":
        exif, xmp, iptc = _fit_jpeg_segments(exif, xmp, iptc, warnings)
    options: dict = {"exif": exif} if exif else {}
    if fmt == "TIFF" and (xmp or iptc):
        tags = Image.Exif()
        tags.load(exif or b"")
        if xmp:
            tags[XMP_TAG] = xmp
        if iptc:
            tags[IPTC_TAG] = iptc
        options["exif"] = tags
    elif fmt == "PNG" and xmp:
        text = PngImagePlugin.PngInfo()
        text.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace"))
        options["pnginfo"] = text
    elif fmt in ("JPEG", "WEBP", "AVIF") and xmp:
        options["xmp"] = xmp
    if fmt == "JPEG" and iptc:
        options["extra"] = _jpeg_segment(0xED, _photoshop_iptc_block(iptc))
    return options


def _fit_jpeg_segments(
    exif: bytes | None, xmp: bytes | None, iptc: bytes | None, warnings: list[str]
) -> tuple[bytes | None, bytes | None, bytes | None]:
    """EXIF, XMP and IPTC trimmed or left out so that each fits the one JPEG segment it gets."""
    limit = format_bytes(JPEG_SEGMENT_BYTES)
    if exif and len(exif) > JPEG_SEGMENT_BYTES:
        smaller = _without_maker_notes(exif)
        if smaller is not None and len(smaller) <= JPEG_SEGMENT_BYTES:
            warnings.append(
                f"The EXIF ({format_bytes(len(exif))}) is more than a JPEG holds ({limit}): "
                "the camera's maker notes were left out to make it fit."
            )
            exif = smaller
        else:
            warnings.append(f"The EXIF ({format_bytes(len(exif))}) is more than a JPEG holds ({limit}): it was left out.")
            exif = None
    if xmp and len(xmp) > JPEG_SEGMENT_BYTES - len(_JPEG_XMP_HEADER):
        warnings.append(f"The XMP ({format_bytes(len(xmp))}) is more than a JPEG holds ({limit}): it was left out.")
        xmp = None
    if iptc and len(_photoshop_iptc_block(iptc)) > JPEG_SEGMENT_BYTES:
        warnings.append(f"The IPTC ({format_bytes(len(iptc))}) is more than a JPEG holds ({limit}): it was left out.")
        iptc = None
    return exif, xmp, iptc


def _without_maker_notes(exif: bytes) -> bytes | None:
    """`exif` without the maker's notes, or None if there are none or the EXIF cannot be re-encoded."""
    try:
        tags = Image.Exif()
        tags.load(exif)
        details = tags.get_ifd(EXIF_IFD)
        if MAKER_NOTE_TAG not in details:
            return None
        del details[MAKER_NOTE_TAG]
        return tags.tobytes()
    except (ValueError, TypeError, KeyError, struct.error, OSError, SyntaxError):
        return None


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _photoshop_iptc_block(iptc: bytes) -> bytes:
    """A Photoshop APP13 payload holding one resource, the IPTC-IIM records (how JPEGs carry IPTC)."""
    resource = b"8BIM" + struct.pack(">H", PHOTOSHOP_IPTC_RESOURCE) + b"\0\0" + struct.pack(">I", len(iptc)) + iptc
    return _JPEG_PHOTOSHOP_HEADER + resource + b"\0" * (len(iptc) % 2)  # resource data is padded to even


def _icc_for_mode(loaded: Photo, mode: str) -> bytes | None:
    """The input's profile if it fits the colour space being written, else the right substitute."""
    icc = loaded.icc_profile
    if not icc or len(icc) < 20:
        return None
    space = icc[16:20]  # ICC header: the profile's data colour space
    wanted = b"CMYK" if mode == "CMYK" else b"GRAY" if mode in _GRAY_MODES else b"RGB "
    if space == wanted:
        return icc
    if space == b"CMYK" and wanted == b"RGB ":
        return _srgb_profile().tobytes()  # the RGB view of a CMYK image was made in sRGB
    return None


def _encode_16bit_rgb(
    loaded: Photo, rgb: np.ndarray, changed: np.ndarray, fmt: str, path: Path
) -> bytes:
    """PNG or TIFF bytes at full depth: untouched samples as loaded, changed ones as v * 257."""
    assert loaded.deep is not None  # only 16-bit RGB photos are written this way
    deep = loaded.deep.copy()
    deep[..., :3][changed] = rgb[changed].astype(np.uint16) * 257
    bgr = np.ascontiguousarray(deep[..., [2, 1, 0, 3][: deep.shape[2]]])
    if fmt == "PNG":
        ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESS_LEVEL])
    else:
        source = loaded.save_options.get("compression", "raw") if loaded.format == "TIFF" else "tiff_lzw"
        compression = _CV2_TIFF_COMPRESSION.get(source, cv2.IMWRITE_TIFF_COMPRESSION_LZW)
        ok, encoded = cv2.imencode(".tif", bgr, [cv2.IMWRITE_TIFF_COMPRESSION, compression])
    if not ok:
        raise ImageError(f"Cannot write '{path}': OpenCV could not encode the 16-bit image.")
    icc, dpi = _icc_for_mode(loaded, "RGB"), loaded.native.info.get("dpi")
    if fmt == "PNG":
        return _png_with_metadata(encoded.tobytes(), loaded.exif, icc, dpi, loaded.xmp)
    return _tiff_with_metadata(encoded.tobytes(), loaded.exif, icc, dpi, loaded.xmp, loaded.iptc)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_with_metadata(png: bytes, exif: bytes | None, icc: bytes | None, dpi, xmp: bytes | None = None) -> bytes:
    """OpenCV's PNG with iCCP, eXIf, pHYs and XMP (iTXt) chunks inserted right after IHDR."""
    chunks = []
    if icc:
        chunks.append(_png_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc)))
    if exif:
        chunks.append(_png_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0")))
    if dpi:
        per_metre = [round(d / 0.0254) for d in dpi]
        chunks.append(_png_chunk(b"pHYs", struct.pack(">IIB", *per_metre, 1)))
    if xmp:  # keyword, no compression, no language or translated keyword, then the packet
        chunks.append(_png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp))
    header_end = 8 + 4 + 4 + 13 + 4  # signature, then IHDR: length, type, 13 bytes, CRC
    assert png[12:16] == b"IHDR"
    return png[:header_end] + b"".join(chunks) + png[header_end:]


def _tiff_with_metadata(
    tiff: bytes, exif: bytes | None, icc: bytes | None, dpi, xmp: bytes | None = None, iptc: bytes | None = None
) -> bytes:
    """OpenCV's TIFF rebuilt by Pillow's directory writer with ICC, EXIF, DPI, XMP and IPTC added.

    OpenCV compresses the 16-bit strips; it cannot store these tags. Pillow's
    writer lays out a directory followed by the strip data, as in its own TIFFs.
    """
    with Image.open(io.BytesIO(tiff), formats=["TIFF"]) as im:
        assert isinstance(im, TiffImagePlugin.TiffImageFile)
        old = im.tag_v2
        directory = TiffImagePlugin.ImageFileDirectory_v2(ifh=tiff[:8])
        for tag in old:
            directory[tag] = old[tag]
            directory.tagtype[tag] = old.tagtype[tag]
    strips = [tiff[o : o + n] for o, n in zip(directory[273], directory[279], strict=True)]
    # Offsets relative to the end of the directory, where Pillow's writer places the data.
    directory[273] = tuple(int(x) for x in np.cumsum([0] + [len(s) for s in strips[:-1]]))
    directory.tagtype[273] = TiffTags.LONG
    if exif:
        tags = Image.Exif()
        tags.load(exif)
        for tag in tags:
            if tag not in _TIFF_LAYOUT_TAGS:
                directory[tag] = tags.get_ifd(tag) if tag in EXIF_IFD_TAGS else tags[tag]
    if icc:
        directory[ICC_PROFILE_TAG] = icc
    if dpi:
        directory[282], directory[283], directory[296] = dpi[0], dpi[1], 2
    if xmp:
        directory[XMP_TAG] = xmp
    if iptc:
        directory[IPTC_TAG] = iptc
        directory.tagtype[IPTC_TAG] = TiffTags.UNDEFINED
    header = tiff[:4] + struct.pack("<I" if tiff[:2] == b"II" else ">I", 8)
    return header + directory.tobytes(8) + b"".join(strips)

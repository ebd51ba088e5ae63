"""The photo formats Inpaint Studio reads and writes: one table, and everything derived from it.

The table is the single source of truth. From it come the decoder allow-list every
`Image.open` passes, the file extensions a folder or a batch lists, the file dialogs'
filters, the desktop entry's MIME types and the macOS bundle's document types.

Two formats depend on a decoder that may be missing: AVIF needs a Pillow built with
libavif (the wheels of Pillow 11.3 and later are), HEIC the optional pi-heif package
(BSD-3-Clause, bundling the LGPL libheif and libde265; it only decodes). Their files
are still listed everywhere, so that a missing decoder is explained ("HEIC photos need
the pi-heif package") instead of the files being skipped without a word.

Deliberately absent: TGA (no signature, so Pillow would try every unknown file as one),
ICO and ICNS (icon containers that resize what they store), and EPS, PS and PDF (Pillow
hands those to Ghostscript, where a crafted file can loop forever).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, features

PILLOW_AVIF = "pillow-avif"  # `decoder` of a format Pillow reads only when built with libavif
PI_HEIF = "pi-heif"  # `decoder` of a format read through the optional pi-heif package


@dataclass(frozen=True)
class PhotoFormat:
    name: str  # what the user reads: "JPEG", "HEIC"
    pillow: str  # Pillow's format name: "JPEG", "HEIF"
    suffixes: tuple[str, ...]  # lower case; the first is the one written
    mime_types: tuple[str, ...]  # for the desktop entry (freedesktop shared-mime-info names)
    utis: tuple[str, ...]  # macOS uniform type identifiers, for the bundle's document types
    writable: bool
    decoder: str = ""  # "" (Pillow itself), PILLOW_AVIF or PI_HEIF

    @property
    def available(self) -> bool:
        """True when this process can decode the format (and encode it, if `writable`)."""
        if self.decoder == PILLOW_AVIF:
            return _pillow_has_avif()
        if self.decoder == PI_HEIF:
            return _pi_heif_registered()
        return True

    @property
    def missing_decoder(self) -> str:
        """Why the format cannot be used here, as a phrase; "" when it can."""
        if self.available:
            return ""
        if self.decoder == PI_HEIF:
            return f"{self.name} photos need the pi-heif package (pip install pi-heif)"
        return f"{self.name} needs a Pillow with AVIF support (Pillow 11.3 or later)"


PHOTO_FORMATS = (
    PhotoFormat("JPEG", "JPEG", (".jpg", ".jpeg"), ("image/jpeg",), ("public.jpeg",), writable=True),
    PhotoFormat("PNG", "PNG", (".png",), ("image/png",), ("public.png",), writable=True),
    PhotoFormat("WebP", "WEBP", (".webp",), ("image/webp",), ("org.webmproject.webp",), writable=True),
    PhotoFormat("TIFF", "TIFF", (".tif", ".tiff"), ("image/tiff",), ("public.tiff",), writable=True),
    PhotoFormat("BMP", "BMP", (".bmp",), ("image/bmp",), ("com.microsoft.bmp",), writable=True),
    PhotoFormat("GIF", "GIF", (".gif",), ("image/gif",), ("com.compuserve.gif",), writable=True),
    PhotoFormat("AVIF", "AVIF", (".avif",), ("image/avif",), ("public.avif",), writable=True, decoder=PILLOW_AVIF),
    PhotoFormat(
        "HEIC", "HEIF", (".heic", ".heif"), ("image/heic", "image/heif"), ("public.heic", "public.heif"),
        writable=False, decoder=PI_HEIF,
    ),
)
FALLBACK_OUTPUT = "JPEG"  # what a photo in a format that cannot be written is saved as
SAME_FORMAT = "Same format as the photo"  # the Export dialog's first choice

# Every extension of a photo format, whether or not its decoder is installed here.
PHOTO_SUFFIXES = frozenset(suffix for fmt in PHOTO_FORMATS for suffix in fmt.suffixes)


@cache
def _pillow_has_avif() -> bool:
    return bool(features.check("avif"))


@cache
def _pi_heif_registered() -> bool:
    """Register pi-heif's decoder with Pillow once, on first need; False when it is not installed."""
    try:
        pi_heif = importlib.import_module("pi_heif")  # by name: optional, and without type information
    except ImportError:
        return False
    pi_heif.register_heif_opener()
    return True


def by_pillow_name(name: str) -> PhotoFormat | None:
    """The format Pillow calls `name` ("MPO", a multi-picture JPEG, is JPEG); None if not one of ours."""
    name = {"MPO": "JPEG"}.get(name.upper(), name.upper())
    return next((fmt for fmt in PHOTO_FORMATS if fmt.pillow == name), None)


def by_suffix(suffix: str) -> PhotoFormat | None:
    """The format a file extension (".JPG", ".heic") stands for; None if not one of ours."""
    return next((fmt for fmt in PHOTO_FORMATS if suffix.lower() in fmt.suffixes), None)


def read_formats() -> tuple[str, ...]:
    """Pillow names to pass to `Image.open(formats=...)`: the formats this process can decode now."""
    return tuple(fmt.pillow for fmt in PHOTO_FORMATS if fmt.available)


def writable_formats() -> tuple[PhotoFormat, ...]:
    """The formats this process can write now."""
    return tuple(fmt for fmt in PHOTO_FORMATS if fmt.writable and fmt.available)


def _listed(words: list[str]) -> str:
    return ", ".join(words[:-1]) + f" or {words[-1]}" if len(words) > 1 else "".join(words)


def read_format_names() -> str:
    """'JPEG, PNG, ... or HEIC': every photo format, for messages."""
    return _listed([fmt.name for fmt in PHOTO_FORMATS])


def writable_suffixes_text() -> str:
    """'.jpg, .png, ... or .avif': the extensions to suggest when an output cannot be written."""
    return _listed([fmt.suffixes[0] for fmt in writable_formats()])


def output_suffix(photo: Path) -> str:
    """The extension an edited copy of `photo` gets by default: its own, or .jpg for a format
    that cannot be written (HEIC)."""
    fmt = by_suffix(photo.suffix)
    if fmt is None or fmt.writable:
        return photo.suffix
    return _format(FALLBACK_OUTPUT).suffixes[0]


def _format(pillow: str) -> PhotoFormat:
    found = by_pillow_name(pillow)
    assert found is not None, pillow
    return found


def _patterns(suffixes: list[str] | tuple[str, ...]) -> str:
    return " ".join(f"*{suffix}" for suffix in suffixes)


def open_dialog_filter(project_suffix: str) -> str:
    """The Open dialog's filter (Qt's syntax): every photo format, and projects."""
    suffixes = [suffix for fmt in PHOTO_FORMATS for suffix in fmt.suffixes] + [project_suffix]
    return f"Photos and projects ({_patterns(suffixes)});;All files (*)"


def chosen_suffix(dialog_choice: str) -> str | None:
    """The extension a choice of `save_dialog_filter` stands for: '.png' for "PNG (*.png)"; None for
    "Same format as the photo" (or no choice)."""
    if dialog_choice.startswith(SAME_FORMAT) or "(*" not in dialog_choice:
        return None
    return dialog_choice.split("(*", 1)[1].split()[0].rstrip(")")


def save_dialog_filter() -> str:
    """The Export dialog's filter (Qt's syntax): the formats that can be written here, one by one."""
    writable = writable_formats()
    every = [suffix for fmt in writable for suffix in fmt.suffixes]
    choices = [f"{SAME_FORMAT} ({_patterns(every)})"]
    choices += [f"{fmt.name} ({_patterns(fmt.suffixes)})" for fmt in writable]
    return ";;".join(choices)


def desktop_mime_types() -> list[str]:
    """MIME types of every photo format, as the desktop entry lists them (projects added there)."""
    return [mime for fmt in PHOTO_FORMATS for mime in fmt.mime_types]


def macos_document_types() -> list[dict[str, object]]:
    """The bundle's CFBundleDocumentTypes: the photos it opens (and, but for HEIC, writes back)."""
    return [
        {
            "CFBundleTypeName": "Image",
            "CFBundleTypeRole": "Editor",
            "LSItemContentTypes": [uti for fmt in PHOTO_FORMATS for uti in fmt.utis],
        }
    ]


def registered_format(suffix: str) -> str | None:
    """The Pillow format an extension names, ours first (HEIC even without pi-heif), else Pillow's."""
    fmt = by_suffix(suffix)
    if fmt is not None:
        return fmt.pillow
    return Image.registered_extensions().get(suffix.lower())

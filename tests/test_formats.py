"""The one list of photo formats (io.formats) and everything derived from it: the decoder
allow-list, the files a folder lists, the file dialogs' filters, the macOS document types."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO
from PIL import Image

from inpaint_studio.io import formats
from inpaint_studio.io.formats import PHOTO_FORMATS, PHOTO_SUFFIXES
from inpaint_studio.io.photo_files import find_images
from inpaint_studio.io.project_file import PROJECT_SUFFIX


def test_each_format_has_its_own_extensions_and_names():
    suffixes = [suffix for fmt in PHOTO_FORMATS for suffix in fmt.suffixes]
    assert len(suffixes) == len(set(suffixes))
    assert all(suffix.startswith(".") and suffix == suffix.lower() for suffix in suffixes)
    assert len({fmt.pillow for fmt in PHOTO_FORMATS}) == len(PHOTO_FORMATS)
    assert all(fmt.mime_types and fmt.utis for fmt in PHOTO_FORMATS)


def test_gif_avif_and_heic_are_photos_and_tga_icons_and_documents_are_not():
    assert {".gif", ".avif", ".heic", ".heif"} <= PHOTO_SUFFIXES
    assert not {".tga", ".ico", ".icns", ".pdf", ".eps", ".ps", ".psd"} & PHOTO_SUFFIXES
    assert not {"TGA", "ICO", "ICNS", "PDF", "EPS"} & set(formats.read_formats())


def test_the_decoders_allowed_are_the_ones_installed():
    Image.init()
    assert set(formats.read_formats()) <= set(Image.OPEN)
    assert {"JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF"} <= set(formats.read_formats())


def test_a_missing_decoder_is_named_and_its_format_left_out(monkeypatch):
    monkeypatch.setattr(formats, "_pi_heif_registered", lambda: False)
    monkeypatch.setattr(formats, "_pillow_has_avif", lambda: False)
    assert not {"HEIF", "AVIF"} & set(formats.read_formats())
    assert formats.by_suffix(".HEIC").missing_decoder == "HEIC photos need the pi-heif package (pip install pi-heif)"
    assert "AVIF support" in formats.by_suffix(".avif").missing_decoder
    assert formats.by_suffix(".jpg").missing_decoder == ""
    assert ".avif" not in formats.writable_suffixes_text() and "*.avif" not in formats.save_dialog_filter()


def test_folders_list_every_photo_format_whatever_its_case(tmp_path):
    names = ["a.jpg", "b.JPEG", "c.png", "d.webp", "e.tif", "f.tiff", "g.bmp", "h.gif", "i.avif", "j.HEIC", "k.heif"]
    for name in [*names, "l.tga", "m.ico", "n.txt", ".hidden.jpg"]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in find_images(tmp_path)] == names


def test_a_photo_that_cannot_be_written_is_saved_as_jpeg():
    assert formats.output_suffix(Path("IMG_0001.HEIC")) == ".jpg"
    assert formats.output_suffix(Path("scan.TIF")) == ".TIF"
    assert formats.output_suffix(Path("anim.gif")) == ".gif"
    assert not formats.by_suffix(".heic").writable


def test_the_open_dialog_offers_every_photo_and_projects():
    text = formats.open_dialog_filter(PROJECT_SUFFIX)
    offered = text.split("(", 1)[1].split(")", 1)[0].split()
    assert offered == [f"*{suffix}" for fmt in PHOTO_FORMATS for suffix in fmt.suffixes] + ["*.ora"]
    assert text.endswith(";;All files (*)")


def test_the_save_dialog_offers_only_what_can_be_written():
    choices = formats.save_dialog_filter().split(";;")
    assert choices[0].startswith("Same format as the photo (*.jpg *.jpeg *.png")
    assert [choice.split(" (")[0] for choice in choices[1:]] == [fmt.name for fmt in formats.writable_formats()]
    assert "heic" not in formats.save_dialog_filter().lower()


def test_the_macos_bundle_declares_the_same_formats():
    (document_types,) = formats.macos_document_types()
    assert document_types["LSItemContentTypes"] == [uti for fmt in PHOTO_FORMATS for uti in fmt.utis]
    assert {"public.jpeg", "public.avif", "public.heic", "com.compuserve.gif"} <= set(document_types["LSItemContentTypes"])
    spec = (REPO / "packaging" / "inpaint-studio.spec").read_text()
    assert '"CFBundleDocumentTypes": macos_document_types()' in spec


@pytest.mark.parametrize(("suffix", "expected"), [(".jpg", "JPEG"), (".HEIC", "HEIF"), (".ico", "ICO"), (".xyz", None)])
def test_an_extension_names_its_format(suffix, expected):
    assert formats.registered_format(suffix) == expected

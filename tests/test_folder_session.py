"""The folder session: order, next/previous, one document per photo, what is kept, the marks."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image

from inpaint_studio.core.document import Document
from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.core.mask_edit import edit_between
from inpaint_studio.core.patch import Patch
from inpaint_studio.session.folder import FolderSession, load_document


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "shoot"
    folder.mkdir()
    for i, name in enumerate(["b.jpg", "A.png", "c.webp", "d.tif"]):
        Image.fromarray(gradient_photo(40, 60, seed=i)).save(folder / name)
    (folder / "notes.txt").write_text("not a photo")
    (folder / ".hidden.jpg").write_bytes(b"x")
    (folder / "sub").mkdir()
    Image.fromarray(gradient_photo(40, 60)).save(folder / "sub" / "e.jpg")
    return folder


class CountingLoader:
    def __init__(self):
        self.loaded = []

    def __call__(self, path):
        self.loaded.append(path.name)
        return load_document(path)


def paint(document: Document, box=(5, 5, 20, 20)) -> None:
    x0, y0, x1, y1 = box
    new = document.mask.copy()
    new[y0:y1, x0:x1] = 255
    edit = edit_between(document.mask, new)
    edit.redo(document.mask)
    document.record_mask_edit(edit, "Brush")


def test_lists_the_photos_as_a_batch_would_in_name_order(folder):
    session = FolderSession.open(folder, prefetch=False)
    assert [p.name for p in session.photos] == ["A.png", "b.jpg", "c.webp", "d.tif"]
    assert session.index is None and session.current is None and len(session) == 4
    assert session.index_of(folder / "c.webp") == 2 and session.index_of(folder / "notes.txt") is None


def test_an_empty_folder_or_a_file_is_refused_with_a_reason(tmp_path):
    with pytest.raises(InpaintStudioError, match="no photos"):
        FolderSession.open(tmp_path)
    (tmp_path / "x.jpg").write_bytes(b"x")
    with pytest.raises(InpaintStudioError, match="not a folder"):
        FolderSession.open(tmp_path / "x.jpg")


def test_next_and_previous_stop_at_the_ends(folder):
    session = FolderSession.open(folder, prefetch=False)
    assert session.step(1) == 0 and session.step(-1) == 3  # nothing shown yet: first or last
    session.show(0)
    assert session.step(-1) is None and session.step(1) == 1
    session.show(3)
    assert session.step(1) is None and session.step(-1) == 2
    assert session.position_text() == "d.tif — 4 / 4"


def test_each_photo_keeps_its_own_document_mask_and_history(folder):
    loader = CountingLoader()
    session = FolderSession.open(folder, load=loader, prefetch=False)
    first = session.show(0)
    paint(first)
    second = session.show(1)
    assert second is not first and not second.mask.any()
    paint(second, (30, 10, 50, 30))
    again = session.show(0)
    assert again is first and first.mask[10, 10] == 255 and first.mask[15, 40] == 0
    assert first.undo() == "Brush" and not first.mask.any()
    assert loader.loaded == ["A.png", "b.jpg"]  # never reloaded


def test_only_looked_at_documents_are_dropped_beyond_a_few_and_edited_ones_never(folder):
    loader = CountingLoader()
    session = FolderSession.open(folder, load=loader, keep_viewed=1, prefetch=False)
    paint(session.show(0))
    for i in (1, 2, 3):
        session.show(i)
    held = [p.document is not None for p in session.photos]
    assert held == [True, False, True, True]  # edited 0, current 3, and the one most recently viewed
    session.show(1)
    assert loader.loaded == ["A.png", "b.jpg", "c.webp", "d.tif", "b.jpg"]  # reloaded after being dropped
    # Edited then undone, or exported: still history worth keeping.
    doc = session.show(2)
    paint(doc)
    doc.undo()
    session.show(3)
    session.show(0)
    session.show(1)
    assert session.photos[2].document is doc


def test_edited_and_exported_marks_are_reported_when_they_change(folder):
    changes = []
    session = FolderSession.open(folder, prefetch=False, on_change=changes.append)
    document = session.show(1)
    assert not session.photos[1].edited and changes == []
    paint(document)
    paint(document, (30, 10, 40, 20))
    assert session.photos[1].edited and changes == [1]  # once, not per stroke
    assert [p.name for p in session.edited()] == ["b.jpg"]
    document.mark_saved()
    session.mark_exported(1, folder / "b_inpainted.jpg")
    photo = session.photos[1]
    assert not photo.edited and photo.exported and photo.export_path == folder / "b_inpainted.jpg"
    assert changes == [1, 1, 1] and session.edited() == []
    paint(document, (40, 20, 50, 30))
    assert photo.edited and photo.exported  # changed again since the export


def test_a_fill_landing_on_a_photo_not_shown_is_reported_for_that_photo(folder):
    changes = []
    session = FolderSession.open(folder, prefetch=False, on_change=changes.append)
    first = session.show(0)
    session.show(1)
    patch = Patch(0, 0, np.zeros((4, 4, 3), np.uint8), np.full((4, 4), 255, np.uint8))
    first.add_fill([patch], np.zeros_like(first.mask), "Test", {})
    assert set(changes) == {0} and session.photos[0].edited and not session.photos[1].edited
    changes.clear()
    first.undo()  # its pixels change back: reported so a preview of it can be redrawn
    assert changes and set(changes) == {0}


def test_a_photo_that_cannot_be_opened_leaves_the_current_one(folder):
    (folder / "B2.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    session = FolderSession.open(folder, prefetch=False)
    assert [p.name for p in session.photos][2] == "B2.jpg"
    document = session.show(1)
    with pytest.raises(InpaintStudioError, match="B2.jpg"):
        session.show(2)
    assert session.index == 1 and session.current.document is document
    assert "B2.jpg" in session.photos[2].error


def test_the_next_photo_is_loaded_ahead_in_the_direction_of_travel(folder):
    started = []
    gate = threading.Event()

    def loader(path):
        started.append((path.name, threading.current_thread().name))
        if path.name == "c.webp":
            gate.wait(10)
        return load_document(path)

    session = FolderSession.open(folder, load=loader)
    try:
        session.show(0)
        session.show(1)  # moving forwards: c.webp is loaded on the prefetch thread
        gate.set()
        third = session.show(2)
        assert third.photo.path.name == "c.webp"
        names = [name for name, _ in started]
        assert names.count("c.webp") == 1
        assert dict(started)["c.webp"].startswith("folder-prefetch")
        session.show(1)  # backwards: A.png is next, and still held (only two steps ago)
        assert session.show(0) is session.photos[0].document
        assert [name for name, _ in started].count("A.png") == 1
    finally:
        session.close()
    assert all(p.document is None for p in session.photos)


def test_a_prefetched_photo_that_fails_reports_the_error_when_shown(folder):
    (folder / "B2.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    session = FolderSession.open(folder)
    try:
        session.show(1)  # prefetches B2.jpg, which fails in the background
        with pytest.raises(InpaintStudioError, match="B2.jpg"):
            session.show(2)
        assert session.index == 1
    finally:
        session.close()

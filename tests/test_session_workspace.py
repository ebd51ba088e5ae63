"""The workspace's rules without a window: opening, folders, saving, what counts as unsaved, autosave."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image
from test_session_fills import RecordingRunner, finished

from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.engines.base import EngineKind
from inpaint_studio.engines.fake import FakeEngine
from inpaint_studio.engines.registry import register_engine, unregister_engine
from inpaint_studio.io.autosave import AutosaveSession
from inpaint_studio.session.fills import FillAsk
from inpaint_studio.session.settings import Settings
from inpaint_studio.session.workspace import Workspace, WorkspaceEvent


@pytest.fixture
def workspace(private_autosave_folder):
    space = Workspace(Settings(), RecordingRunner(), autosave_folder=private_autosave_folder)
    events = []
    space.listeners.append(lambda event, index: events.append((event, index)))
    space.events = events
    yield space
    space.close()


def photo(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gradient_photo(40, 60, seed=seed)).save(path)
    return path


def test_opening_a_photo_shows_it_and_remembers_it(workspace, tmp_path):
    path = photo(tmp_path / "a.png")
    document = workspace.open(path)
    assert workspace.document is document and (WorkspaceEvent.DOCUMENT, None) in workspace.events
    assert workspace.settings.recent_files == [str(path.resolve())]
    assert workspace.settings.last_folder == str(tmp_path.resolve())
    assert workspace.export_target() is None and workspace.export_suggestion() == tmp_path / "a_inpainted.png"


def test_a_file_that_cannot_be_read_changes_nothing(workspace, tmp_path):
    good = workspace.open(photo(tmp_path / "a.png"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(InpaintStudioError, match="broken.jpg"):
        workspace.open(broken)
    assert workspace.document is good


def test_export_writes_beside_the_photo_then_save_writes_there_again(workspace, tmp_path):
    path = photo(tmp_path / "a.png")
    before = path.read_bytes()
    document = workspace.open(path)
    mask = document.mask.copy()
    mask[5:10, 5:10] = 255
    document.replace_mask(mask, "mask")
    assert workspace.unsaved() == ["a.png"]
    written = workspace.export(workspace.export_suggestion(), overwrite=False)
    assert written == tmp_path / "a_inpainted.png" and path.read_bytes() == before
    assert workspace.unsaved() == [] and workspace.export_target() == written


def test_an_export_name_without_an_image_extension_gets_one(workspace, tmp_path):
    workspace.open(photo(tmp_path / "a.png"))
    assert workspace.export_name(tmp_path / "out") == tmp_path / "out.png"  # the photo's format
    assert workspace.export_name(tmp_path / "notes.txt") == tmp_path / "notes.txt.png"  # never a PNG named .txt
    assert workspace.export_name(tmp_path / "out", ".webp") == tmp_path / "out.webp"  # the dialog's chosen format
    assert workspace.export_name(tmp_path / "out.JPG", ".webp") == tmp_path / "out.JPG"  # a typed extension wins
    with pytest.raises(InpaintStudioError, match=r"out\.txt': \.txt is not an image format; use \.jpg"):
        workspace.export(tmp_path / "out.txt", overwrite=False)  # asked directly: refused, not disguised
    assert not (tmp_path / "out.txt").exists()


def test_a_project_is_saved_with_its_suffix_and_reopens_as_one(workspace, tmp_path):
    document = workspace.open(photo(tmp_path / "a.png"))
    mask = document.mask.copy()
    mask[5:10, 5:10] = 255
    document.replace_mask(mask, "mask")
    saved = workspace.save_project(tmp_path / "work")
    assert saved == tmp_path / "work.ora" and not document.modified
    reopened = workspace.open(saved)
    assert workspace.project_path == saved and reopened.mask[7, 7] == 255


def test_a_folder_keeps_each_photos_document_and_where_it_was_saved(workspace, tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        photo(tmp_path / "shoot" / name)
    assert workspace.open_folder(tmp_path / "shoot") == []
    first = workspace.document
    first.replace_mask(np.full_like(first.mask, 255), "all")
    written = workspace.export(tmp_path / "elsewhere.png", overwrite=False)
    assert workspace.step(1).moved and workspace.document is not first
    assert workspace.export_target() is None  # b.png was never saved
    assert workspace.step(-1).moved and workspace.document is first
    assert workspace.export_target() == written
    assert workspace.step(-1).at_end


def test_unreadable_photos_of_a_folder_are_stepped_over_and_reported(workspace, tmp_path):
    photo(tmp_path / "shoot" / "a.png")
    (tmp_path / "shoot" / "b.png").write_bytes(b"not a png")
    photo(tmp_path / "shoot" / "c.png")
    workspace.open_folder(tmp_path / "shoot")
    move = workspace.step(1)
    assert move.moved and move.skipped == ["b.png"] and workspace.folder.current.name == "c.png"
    assert (WorkspaceEvent.FOLDER_PHOTO, 1) in workspace.events  # its row shows it cannot be read
    with pytest.raises(InpaintStudioError):
        workspace.show_folder_photo(1)
    assert workspace.folder.current.name == "c.png"


def test_save_all_exports_every_edited_photo_of_the_folder(workspace, tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        photo(tmp_path / "shoot" / name)
    workspace.open_folder(tmp_path / "shoot")
    workspace.document.replace_mask(np.full_like(workspace.document.mask, 255), "all")
    workspace.step(1)
    workspace.step(1)
    workspace.document.replace_mask(np.full_like(workspace.document.mask, 255), "all")
    assert workspace.unsaved() == ["a.png", "c.png"]
    assert workspace.save_all() == []
    assert workspace.unsaved() == []
    assert sorted(p.name for p in (tmp_path / "shoot").glob("*_inpainted.png")) == ["a_inpainted.png", "c_inpainted.png"]


def test_opening_a_photo_closes_the_folder(workspace, tmp_path):
    photo(tmp_path / "shoot" / "a.png")
    workspace.open_folder(tmp_path / "shoot")
    workspace.open(photo(tmp_path / "single.png"))
    assert workspace.folder is None and workspace.events.count((WorkspaceEvent.FOLDER, None)) == 2


def test_a_learned_engine_run_autosaves_first_and_the_fill_lands_with_provenance(workspace, tmp_path, monkeypatch):
    from dataclasses import replace

    register_engine(FakeEngine)
    try:
        monkeypatch.setattr(FakeEngine, "info", replace(FakeEngine.info, kind=EngineKind.LEARNED))
        document = workspace.open(photo(tmp_path / "a.png"))
        mask = document.mask.copy()
        mask[10:20, 10:30] = 255
        document.replace_mask(mask, "mask")
        assert workspace.ask_fill() == FillAsk.NOW
        job = workspace.start_fill("fake", "cpu", {})
        workspace.autosave.wait(30)
        assert workspace.autosave.autosaver.session.project.is_file()
        workspace.fills.handle(finished(job, document))
        assert document.layers[0].provenance["engine"] == "fake"
    finally:
        unregister_engine("fake")


def test_recovering_a_crashed_session_shows_its_work_unsaved(workspace, tmp_path, private_autosave_folder):
    document = workspace.open(photo(tmp_path / "a.png"))
    document.replace_mask(np.full_like(document.mask, 255), "all")
    crashed = AutosaveSession(private_autosave_folder)
    crashed.save(document.snapshot(), str(tmp_path / "a.png"))
    crashed._lock_file.close()  # the process that held it is gone
    [session] = workspace.autosave.recoverable()
    recovered = workspace.recover(session)
    assert workspace.document is recovered and recovered.modified and recovered.mask.all()
    assert workspace.autosave.autosaver.session.project.is_file() and not crashed.project.exists()

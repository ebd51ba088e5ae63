"""Autosave and crash recovery: the previous file survives a killed save, the autosave brings work back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, gradient_photo
from PIL import Image

from inpaint_studio.core.document import Document
from inpaint_studio.core.patch import Patch
from inpaint_studio.io import load_image, project_file
from inpaint_studio.io.autosave import (
    AutosaveSession,
    BackgroundAutosaver,
    discard_recoverable,
    find_recoverable,
)
from inpaint_studio.io.project_file import load_project


def _document(tmp_path) -> Document:
    path = tmp_path / "photo.png"
    Image.fromarray(gradient_photo(60, 80)).save(path)
    document = Document(load_image(path))
    patch = Patch(5, 5, np.full((10, 10, 3), 200, np.uint8), np.full((10, 10), 255, np.uint8))
    document.add_fill([patch], np.zeros(document.mask.shape, np.uint8), "Fill", {"engine": "hand"})
    return document


@pytest.mark.parametrize("interrupted", ["project", "autosave"])
def test_a_process_killed_while_saving_leaves_the_previous_files_whole_and_recoverable(tmp_path, interrupted):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "save_then_die.py"), str(tmp_path), interrupted],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.strip() == "MIDDLE", process.stderr.read()
        # Half a file is on disk, under a temporary name, when the process dies.
        written = tmp_path if interrupted == "project" else tmp_path / "autosave"
        partial = list(written.glob(".*.tmp"))
        assert partial and partial[0].stat().st_size > 0
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    # The project saved before is intact: state A, one fill.
    assert [layer.name for layer in load_project(tmp_path / "project.ora").layers] == ["Fill 1"]
    # The dead session's autosave is found and holds state B, two fills.
    sessions = find_recoverable(tmp_path / "autosave")
    assert len(sessions) == 1 and sessions[0].source == str(tmp_path / "photo.png")
    recovered = sessions[0].load()
    assert [layer.name for layer in recovered.layers] == ["Fill 1", "Fill 2"]
    assert recovered.modified  # recovered work is unsaved until the user saves it
    assert (recovered.composite[20, 60] == 60).all() and (recovered.composite[20, 100] == 120).all()
    discard_recoverable(sessions[0])
    assert find_recoverable(tmp_path / "autosave") == []


def test_a_running_session_is_not_offered_for_recovery_and_a_clean_close_leaves_nothing(tmp_path):
    folder = tmp_path / "autosave"
    session = AutosaveSession(folder)
    session.save(_document(tmp_path), "photo.png")
    assert session.project.is_file()
    assert find_recoverable(folder) == []  # its lock is held: this process is alive
    session.close()
    assert list(folder.iterdir()) == []


def test_a_session_that_never_autosaved_leaves_nothing_to_recover(tmp_path):
    folder = tmp_path / "autosave"
    session = AutosaveSession(folder)
    session._lock_file.close()  # as if the process died
    assert find_recoverable(folder) == []
    assert list(folder.iterdir()) == []  # its leftovers are cleaned up


def test_background_autosave_writes_a_snapshot_and_discard_removes_it(tmp_path):
    document = _document(tmp_path)
    autosaver = BackgroundAutosaver(AutosaveSession(tmp_path / "autosave"))
    autosaver.request(document, "photo.png")
    document.undo()  # editing goes on while it saves: the snapshot is what gets written
    autosaver.wait(30)
    assert [layer.name for layer in load_project(autosaver.session.project).layers] == ["Fill"]
    autosaver.discard()
    autosaver.wait(30)
    assert not autosaver.session.project.exists()
    autosaver.session.close()


def test_an_autosave_failure_is_reported_and_later_autosaves_still_run(tmp_path, monkeypatch):
    errors = []
    autosaver = BackgroundAutosaver(AutosaveSession(tmp_path / "autosave"), on_error=errors.append)
    real_save = project_file.save_project

    def full_disk(*args, **kwargs):
        raise project_file.ProjectError("Cannot write 'x.ora': No space left on device.")

    monkeypatch.setattr("inpaint_studio.io.autosave.save_project", full_disk)
    autosaver.request(_document(tmp_path), "photo.png")
    autosaver.wait(30)
    assert errors and "No space left" in errors[0]
    monkeypatch.setattr("inpaint_studio.io.autosave.save_project", real_save)
    autosaver.request(_document(tmp_path), "photo.png")
    autosaver.wait(30)
    assert autosaver.session.project.is_file()
    autosaver.session.close()


def test_a_snapshot_does_not_change_when_the_document_does(tmp_path):
    document = _document(tmp_path)
    snapshot = document.snapshot()
    document.mask[0:5, 0:5] = 255
    document.layers[0].opacity = 0.3
    document.undo()
    assert not snapshot.mask.any() and len(snapshot.layers) == 1 and snapshot.layers[0].opacity == 1.0
    assert snapshot.layers[0].id != 0 and not np.array_equal(snapshot.composite, snapshot.original)


def test_stale_temp_files_in_the_autosave_folder_are_removed_at_start(tmp_path):
    import time

    from inpaint_studio.io.atomic import STALE_TEMP_SECONDS

    folder = tmp_path / "autosave"
    folder.mkdir()
    stale = folder / ".20240101-000000-1234-abcd.ora.0123456789abcdef.tmp"  # an autosave killed mid-write
    fresh = folder / ".20240101-000000-5678-abcd.ora.fedcba9876543210.tmp"  # another window saving now
    stale.write_bytes(b"half a project")
    fresh.write_bytes(b"half a project")
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    assert find_recoverable(folder) == []
    assert not stale.exists() and fresh.exists()


def test_a_recovered_autosave_keeps_the_photos_own_path(tmp_path):
    folder = tmp_path / "autosave"
    session = AutosaveSession(folder)
    document = _document(tmp_path)
    session.save(document, str(document.photo.path))
    session._lock_file.close()  # as if the process died
    [recovered] = find_recoverable(folder)
    assert recovered.load().photo.path == tmp_path / "photo.png"  # not the autosave folder

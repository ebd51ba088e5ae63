"""atomic_write: the destination is the old file or the whole new one, and no temp file survives."""

from __future__ import annotations

import errno
import os

import pytest

from inpaint_studio.io import atomic_write


def test_writes_new_file(tmp_path):
    path = tmp_path / "out.bin"
    atomic_write(path, lambda f: f.write(b"hello"))
    assert path.read_bytes() == b"hello"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_replaces_existing_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    atomic_write(str(path), lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new"


def test_writes_through_hidden_temp_file_in_same_folder(tmp_path):
    seen = []

    def write(f):
        f.write(b"data")
        seen.extend(p.name for p in tmp_path.iterdir())

    atomic_write(tmp_path / "out.bin", write)
    assert len(seen) == 1
    assert seen[0].startswith(".out.bin.") and seen[0].endswith(".tmp")


def test_failure_in_writer_leaves_destination_and_no_temp(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def write(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError) as info:
        atomic_write(path, write)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_failure_in_fsync_leaves_nothing(tmp_path, monkeypatch):
    def failing_fsync(fd):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        atomic_write(tmp_path / "out.bin", lambda f: f.write(b"data"))
    assert list(tmp_path.iterdir()) == []


def test_non_os_error_also_cleans_up(tmp_path):
    def write(f):
        f.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "out.bin", write)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "nowhere" / "out.bin", lambda f: f.write(b"x"))


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "out.bin", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o644

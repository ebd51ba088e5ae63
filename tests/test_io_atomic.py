"""atomic_write: the destination is the old file or the whole new one, and no temp file survives."""

from __future__ import annotations

import errno
import os
import stat
import time

import pytest

from inpaint_studio.io import atomic, atomic_write


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


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "private.jpg"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_stale_temp_files_of_our_naming_are_removed_once_per_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_swept_folders", set())
    stale = tmp_path / ".photo.jpg.0123456789abcdef.tmp"  # what a write killed with -9 leaves
    fresh = tmp_path / ".other.png.fedcba9876543210.tmp"  # perhaps another process writing right now
    foreign = tmp_path / ".somebody-elses.tmp"  # not our naming: never touched
    for path in (stale, fresh, foreign):
        path.write_bytes(b"x")
    old = time.time() - atomic.STALE_TEMP_SECONDS - 60
    for path in (stale, foreign):
        os.utime(path, (old, old))

    atomic_write(tmp_path / "out.bin", lambda f: f.write(b"data"))
    assert not stale.exists() and fresh.exists() and foreign.exists()

    stale.write_bytes(b"x")
    os.utime(stale, (old, old))
    atomic_write(tmp_path / "out.bin", lambda f: f.write(b"again"))  # the folder was swept already
    assert stale.exists()
    assert atomic.remove_stale_temp_files(tmp_path) == 1 and not stale.exists()


def test_a_name_too_long_for_the_file_system_is_named(tmp_path):
    assert atomic.name_length_problem(tmp_path / "short.jpg") is None
    problem = atomic.name_length_problem(tmp_path / ("x" * 300 + ".jpg"))
    assert problem is not None and "304 bytes long" in problem

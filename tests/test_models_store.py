"""The model store: downloads (resume, cancel, damage, offline), mirrors, imports, verify, remove.

Everything runs against a small HTTP server on 127.0.0.1 serving bytes the
test generates; no test touches the network or the real model folder.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from model_server import FILE_PATH

from inpaint_studio.core.errors import (
    EngineNotReadyError,
    JobCancelled,
    ModelError,
    ModelMissingError,
)
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.core.paths import models_dir
from inpaint_studio.models import (
    CATALOGUE,
    DEFAULT_MIRROR_ENV,
    ModelFile,
    ModelInfo,
    ModelStore,
    model_info,
)
from inpaint_studio.models import download as download_module
from inpaint_studio.models.store import MANIFEST_NAME, mirrored_url

DATA = random.Random(7).randbytes(300_000)


@pytest.fixture
def server(model_server):
    """The shared local server (conftest), serving this module's bytes."""
    model_server.files[FILE_PATH] = DATA
    return model_server


def tiny_catalogue(url: str, data: bytes = DATA, size: bool = True, md5: bool = True, sha256: bool = True):
    """A one-entry catalogue ("tiny", file tiny.pt) describing `data` at `url`."""
    file = ModelFile(
        name="tiny.pt",
        url=url,
        size=len(data) if size else None,
        md5=hashlib.md5(data).hexdigest() if md5 else None,
        sha256=hashlib.sha256(data).hexdigest() if sha256 else None,
    )
    info = ModelInfo("tiny", "Tiny", "fake", "MIT", "A test model.", (file,), "torchscript")
    return {"tiny": info}


@pytest.fixture
def store(tmp_path, server, monkeypatch):
    monkeypatch.delenv(DEFAULT_MIRROR_ENV, raising=False)
    return ModelStore(tmp_path / "models", catalogue=tiny_catalogue(server.url()))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- catalogue -------------------------------------------------------------------------------


def test_catalogue_lists_big_lama_and_migan_with_their_published_checksums():
    lama, migan = model_info("big-lama"), model_info("migan")
    assert (lama.engine, lama.licence, lama.format) == ("lama", "Apache-2.0", "torchscript")
    assert lama.files[0].name == "big-lama.pt"
    assert lama.files[0].url == "https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt"
    assert lama.files[0].md5 == "e3aa4aaa15225a33ec84f9f4bc47e500"
    assert (migan.engine, migan.licence) == ("migan", "MIT")
    assert migan.files[0].name == "migan_traced.pt"
    assert migan.files[0].url == "https://github.com/Sanster/models/releases/download/migan/migan_traced.pt"
    assert migan.files[0].md5 == "76eb3b1a71c400ee3290524f7a11b89c"
    assert all(info.id == key for key, info in CATALOGUE.items())


def test_an_unknown_model_id_names_the_known_ones():
    with pytest.raises(ModelError, match="Unknown model 'nope'.*big-lama, migan"):
        model_info("nope")


def test_the_default_folder_is_in_the_user_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert models_dir() == tmp_path / "inpaint-studio" / "models"
    assert models_dir().name == "models"
    # (conftest points the store's default at a private folder, as it does for every test)
    monkeypatch.setattr("inpaint_studio.core.paths.models_dir", models_dir)
    assert ModelStore().root == models_dir()


# -- downloading -----------------------------------------------------------------------------


def test_download_installs_a_verified_file_and_reports_progress(store, server):
    calls = []
    path = store.download("tiny", progress=lambda done, total: calls.append((done, total)))
    assert path == store.root / "tiny" / "tiny.pt" == store.require("tiny")
    assert path.read_bytes() == DATA
    assert calls[0] == (0, len(DATA)) and calls[-1] == (len(DATA), len(DATA))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert store.is_installed("tiny") and store.is_trusted("tiny") and store.trust("tiny") == "catalogue"
    assert leftovers(store.folder("tiny")) == [MANIFEST_NAME, "tiny.pt"]
    assert server.requests == [(FILE_PATH, None)]


def test_a_connection_cut_half_way_is_resumed_with_a_range_request(store, server):
    server.cut_after, server.cuts = 100_000, 1
    store.download("tiny")
    assert store.file_path("tiny").read_bytes() == DATA
    assert server.requests == [(FILE_PATH, None), (FILE_PATH, "bytes=100000-")]
    assert store.is_trusted("tiny")


def test_a_connection_that_keeps_breaking_keeps_the_part_for_a_later_resume(store, server):
    server.cut_after, server.cuts = 20_000, 1000
    with pytest.raises(ModelError, match="interrupted.*run the download again to resume"):
        store.download("tiny")
    part = store.folder("tiny") / "tiny.pt.part"
    kept = part.stat().st_size
    assert 0 < kept < len(DATA)
    assert not store.is_installed("tiny") and not store.file_path("tiny").exists()

    server.cuts = 0
    server.requests.clear()
    store.download("tiny")
    assert server.requests == [(FILE_PATH, f"bytes={kept}-")]
    assert store.file_path("tiny").read_bytes() == DATA and not part.exists()


def test_a_server_that_ignores_range_makes_the_download_start_again(store, server):
    folder = store.folder("tiny")
    folder.mkdir(parents=True)
    (folder / "tiny.pt.part").write_bytes(b"not the start of the file" * 200)
    server.ignore_range = True
    store.download("tiny")
    assert server.requests == [(FILE_PATH, "bytes=5000-")]
    assert store.file_path("tiny").read_bytes() == DATA and store.is_trusted("tiny")


def test_a_refused_range_416_makes_the_download_start_again(tmp_path, server):
    store = ModelStore(tmp_path, catalogue=tiny_catalogue(server.url(), size=False))
    store.folder("tiny").mkdir(parents=True)
    (store.folder("tiny") / "tiny.pt.part").write_bytes(DATA + b"extra")
    store.download("tiny")
    assert server.requests == [(FILE_PATH, f"bytes={len(DATA) + 5}-"), (FILE_PATH, None)]
    assert store.file_path("tiny").read_bytes() == DATA


def test_damaged_bytes_fail_the_checksum_and_leave_nothing_behind(store, server):
    server.corrupt = True
    with pytest.raises(ModelError, match="damaged or not the published file: its MD5 is"):
        store.download("tiny")
    assert not store.folder("tiny").exists()
    assert not store.is_installed("tiny")


def test_a_sha256_only_entry_is_checked_too(tmp_path, server):
    store = ModelStore(tmp_path, catalogue=tiny_catalogue(server.url(), size=False, md5=False))
    server.corrupt = True
    with pytest.raises(ModelError, match="SHA-256"):
        store.download("tiny")
    server.corrupt = False
    store.download("tiny")
    assert store.is_trusted("tiny")


def test_http_404_says_where_to_put_the_file_by_hand(store, server):
    server.files.clear()
    with pytest.raises(ModelError) as caught:
        store.download("tiny")
    message = str(caught.value)
    assert "HTTP 404" in message and server.url() in message
    assert f"save it as {store.file_path('tiny')}" in message
    assert not store.folder("tiny").exists()


def test_nothing_listening_is_reported_as_offline(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = ModelStore(tmp_path, catalogue=tiny_catalogue(f"http://127.0.0.1:{port}/files/tiny.pt"))
    with pytest.raises(ModelError, match="the server refused the connection") as caught:
        store.download("tiny")
    assert str(store.file_path("tiny")) in str(caught.value)
    assert "Errno" not in str(caught.value)  # plain words, not the socket's error code


def test_a_silent_server_times_out(tmp_path, server):
    server.stall = 1.5
    store = ModelStore(tmp_path, catalogue=tiny_catalogue(server.url()), timeout=0.2)
    started = time.perf_counter()
    with pytest.raises(ModelError, match="did not answer in time"):
        store.download("tiny")
    assert time.perf_counter() - started < 1.4


def test_cancelling_keeps_the_part_and_a_later_download_resumes_it(store, server, monkeypatch):
    monkeypatch.setattr(download_module, "PROGRESS_INTERVAL", 0.0)
    token = CancelToken()

    def progress(done: int, total: int | None) -> None:
        if done >= 100_000:
            token.cancel()

    with pytest.raises(JobCancelled, match="partial file .* is kept"):
        store.download("tiny", progress=progress, cancel=token)
    part = store.folder("tiny") / "tiny.pt.part"
    kept = part.stat().st_size
    assert 100_000 <= kept < len(DATA)
    assert not store.is_installed("tiny")

    server.requests.clear()
    store.download("tiny", cancel=CancelToken())
    assert server.requests == [(FILE_PATH, f"bytes={kept}-")]
    assert store.file_path("tiny").read_bytes() == DATA


def test_an_installed_model_is_not_downloaded_again(store, server):
    store.download("tiny")
    server.requests.clear()
    store.download("tiny")
    assert server.requests == []


def test_a_mirror_replaces_scheme_and_host_and_keeps_the_path(tmp_path, server, monkeypatch):
    monkeypatch.delenv(DEFAULT_MIRROR_ENV, raising=False)
    catalogue = tiny_catalogue("https://example.invalid/files/tiny.pt")
    store = ModelStore(tmp_path, mirror=server.base, catalogue=catalogue)
    assert store.url_for("tiny") == server.url()
    store.download("tiny")
    assert store.is_trusted("tiny")


def test_the_mirror_can_come_from_the_environment(tmp_path, server, monkeypatch):
    monkeypatch.setenv(DEFAULT_MIRROR_ENV, server.base + "/")
    store = ModelStore(tmp_path, catalogue=tiny_catalogue("https://example.invalid/files/tiny.pt"))
    store.download("tiny")
    assert server.requests == [(FILE_PATH, None)]


def test_mirrored_urls():
    url = "https://github.com/Sanster/models/releases/download/migan/migan_traced.pt"
    assert mirrored_url(url, None) == url
    assert mirrored_url(url, "https://m.example.com/models/") == (
        "https://m.example.com/models/Sanster/models/releases/download/migan/migan_traced.pt"
    )
    with pytest.raises(ModelError, match="not an http"):
        mirrored_url(url, "ftp://m.example.com")


# -- what is installed -----------------------------------------------------------------------


def test_require_names_the_folder_the_file_and_the_command(store):
    with pytest.raises(ModelMissingError) as caught:
        store.require("tiny")
    assert isinstance(caught.value, EngineNotReadyError)
    message = str(caught.value)
    assert "`inpaint-studio models download tiny`" in message
    assert f"save it as {store.folder('tiny') / 'tiny.pt'}" in message


def test_a_file_placed_by_hand_is_measured_once_and_trusted_when_it_matches(store, monkeypatch):
    store.folder("tiny").mkdir(parents=True)
    store.file_path("tiny").write_bytes(DATA)
    assert store.require("tiny") == store.file_path("tiny")
    assert store.is_trusted("tiny")
    recorded = json.loads((store.folder("tiny") / MANIFEST_NAME).read_text())["files"]["tiny.pt"]
    assert recorded["trust"] == "catalogue" and recorded["md5"] == hashlib.md5(DATA).hexdigest()

    def no_second_reading(path):
        raise AssertionError("measured again")

    monkeypatch.setattr("inpaint_studio.models.store.file_digests", no_second_reading)
    assert store.is_trusted("tiny")


def test_a_changed_catalogue_is_not_answered_by_an_old_verdict(store):
    store.download("tiny")
    newer = ModelStore(store.root, catalogue=tiny_catalogue("https://example.invalid/x.pt", data=b"new release", size=False))
    assert newer.is_installed("tiny")
    assert not newer.is_trusted("tiny")


def test_a_wrong_file_placed_by_hand_is_installed_but_not_trusted(tmp_path):
    store = ModelStore(tmp_path, catalogue=tiny_catalogue("https://example.invalid/x.pt", size=False))
    store.folder("tiny").mkdir(parents=True)
    store.file_path("tiny").write_bytes(b"something else")
    assert store.is_installed("tiny") and not store.is_trusted("tiny")
    assert store.verify("tiny") == [f"tiny.pt: its MD5 is {hashlib.md5(b'something else').hexdigest()}, "
                                    f"the catalogue says {hashlib.md5(DATA).hexdigest()}"]


def test_a_file_of_the_wrong_size_is_not_installed(store):
    store.folder("tiny").mkdir(parents=True)
    store.file_path("tiny").write_bytes(DATA[:-1])
    assert not store.is_installed("tiny")
    with pytest.raises(ModelMissingError):
        store.require("tiny")


def test_verify_finds_a_file_damaged_in_place(store):
    store.download("tiny")
    assert store.verify("tiny") == []
    path = store.file_path("tiny")
    path.write_bytes(DATA[:5] + b"X" + DATA[6:])
    problems = store.verify("tiny")
    assert len(problems) == 1 and problems[0].startswith("tiny.pt: its MD5 is")
    assert store.is_installed("tiny") and not store.is_trusted("tiny")


def test_verify_reports_a_missing_file(store):
    assert store.verify("tiny") == [f"tiny.pt is missing from {store.folder('tiny')}"]


def test_remove_deletes_the_model_and_refuses_when_there_is_nothing(store):
    store.download("tiny")
    store.remove("tiny")
    assert not store.folder("tiny").exists() and not store.is_installed("tiny")
    with pytest.raises(ModelError, match="not installed .* nothing to remove"):
        store.remove("tiny")


def test_remove_cleans_up_an_unfinished_download(store):
    store.folder("tiny").mkdir(parents=True)
    (store.folder("tiny") / "tiny.pt.part").write_bytes(b"half")
    store.remove("tiny")
    assert not store.folder("tiny").exists()


def test_remove_keeps_files_it_does_not_own(store):
    store.download("tiny")
    (store.folder("tiny") / "notes.txt").write_text("mine")
    store.remove("tiny")
    assert leftovers(store.folder("tiny")) == ["notes.txt"]


def test_statuses(store):
    [before] = store.statuses()
    assert (before.info.id, before.installed, before.trusted, before.bytes_on_disk) == ("tiny", False, False, 0)
    store.download("tiny")
    [after] = store.statuses()
    assert after.installed and after.trusted and after.bytes_on_disk >= len(DATA)


# -- importing -------------------------------------------------------------------------------


def test_import_copies_a_matching_file_and_trusts_it(store, tmp_path):
    source = tmp_path / "downloaded (1).pt"
    source.write_bytes(DATA)
    assert store.import_file("tiny", source) == store.file_path("tiny")
    assert source.read_bytes() == DATA  # copied, not moved
    assert store.file_path("tiny").read_bytes() == DATA
    assert store.trust("tiny") == "catalogue"


def test_import_refuses_a_file_that_does_not_match_unless_allowed(store, tmp_path):
    source = tmp_path / "other.pt"
    source.write_bytes(b"a model from somewhere else")
    with pytest.raises(ModelError, match="not the published Tiny file tiny.pt.*--allow-unknown"):
        store.import_file("tiny", source)
    assert not store.is_installed("tiny")
    assert not store.folder("tiny").exists()  # no temporary file either

    store.import_file("tiny", source, allow_unknown=True)
    assert store.is_installed("tiny") and store.is_trusted("tiny") and store.trust("tiny") == "user"
    assert store.verify("tiny") == []

    store.file_path("tiny").write_bytes(b"a model from somewhere else, changed")
    assert not store.is_trusted("tiny")
    assert store.verify("tiny") == ["tiny.pt: it changed since it was imported"]


def test_import_finds_the_file_in_a_folder(store, tmp_path):
    nested = tmp_path / "unpacked" / "weights"
    nested.mkdir(parents=True)
    (nested / "tiny.pt").write_bytes(DATA)
    (tmp_path / "unpacked" / "readme.txt").write_text("hello")
    store.import_file("tiny", tmp_path / "unpacked")
    assert store.is_trusted("tiny")


def test_import_of_a_folder_without_the_file_or_a_missing_path(store, tmp_path):
    with pytest.raises(ModelError, match="no file named tiny.pt"):
        store.import_file("tiny", tmp_path)
    with pytest.raises(ModelError, match="does not exist"):
        store.import_file("tiny", tmp_path / "nowhere.pt")


def test_importing_the_package_does_not_import_torch():
    code = "import sys, inpaint_studio.models; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)

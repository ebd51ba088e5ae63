"""The model store: downloads (resume, If-Range, cancel, damage, offline), mirrors, sizes, imports, verify, remove.

Everything runs against a small HTTP server on 127.0.0.1 serving bytes the
test generates; no test touches the network or the real model folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
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


def state_dict_bytes(seed: int, values: int = 75_000, part: str = "net") -> bytes:
    """A weights-only PyTorch file holding one tensor "<part>.weight" of random values."""
    buffer = io.BytesIO()
    torch.save({f"{part}.weight": torch.rand(values, generator=torch.Generator().manual_seed(seed))}, buffer)
    return buffer.getvalue()


DATA = state_dict_bytes(7)  # about 300 kB: what the test model "tiny" publishes


@pytest.fixture
def server(model_server):
    """The shared local server (conftest), serving this module's bytes."""
    model_server.files[FILE_PATH] = DATA
    return model_server


def tiny_catalogue(
    url: str, data: bytes = DATA, size: bool = True, md5: bool = True, sha256: bool = True, model_format: str = "state_dict"
):
    """A one-entry catalogue ("tiny", file tiny.pt: a state dict with the part "net") describing `data` at `url`."""
    file = ModelFile(
        name="tiny.pt",
        url=url,
        size=len(data) if size else None,
        md5=hashlib.md5(data).hexdigest() if md5 else None,
        sha256=hashlib.sha256(data).hexdigest() if sha256 else None,
    )
    info = ModelInfo("tiny", "Tiny", "fake", "MIT", "A test model.", (file,), model_format, parts=("net",))
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


def test_a_resume_asks_for_the_version_it_started_with(store, server):
    server.cut_after, server.cuts = 100_000, 1
    store.download("tiny")
    assert server.if_ranges == [None, server.etag()]  # If-Range: the first response's ETag
    assert not (store.folder("tiny") / "tiny.pt.part.json").exists()  # the record goes with the part


def test_a_file_replaced_upstream_between_attempts_comes_whole_not_spliced(tmp_path, server):
    # No published checksum (as Moebius): only If-Range can keep two versions apart.
    store = ModelStore(tmp_path, catalogue=tiny_catalogue(server.url(), size=False, md5=False, sha256=False))
    server.cut_after, server.cuts = 20_000, 1000
    with pytest.raises(ModelError, match="interrupted"):
        store.download("tiny")
    kept = (store.folder("tiny") / "tiny.pt.part").stat().st_size
    newer = state_dict_bytes(11)
    server.files[FILE_PATH] = newer
    server.cuts = 0
    server.requests.clear()
    store.download("tiny")
    assert server.requests == [(FILE_PATH, f"bytes={kept}-")]  # asked for the rest of the old version...
    assert store.file_path("tiny").read_bytes() == newer  # ...and got the whole new one instead
    assert store.verify("tiny").ok


def test_a_part_with_no_recorded_version_and_no_checksum_starts_again(tmp_path, server):
    server.validators = False  # a server that names no version
    store = ModelStore(tmp_path, catalogue=tiny_catalogue(server.url(), size=False, md5=False, sha256=False))
    server.cut_after, server.cuts = 20_000, 1000
    with pytest.raises(ModelError, match="interrupted"):
        store.download("tiny")
    server.cuts = 0
    server.requests.clear()
    store.download("tiny")
    assert server.requests == [(FILE_PATH, None)]  # a splice could not be noticed: no resume
    assert store.file_path("tiny").read_bytes() == DATA


def test_an_empty_download_is_refused(tmp_path, server):
    server.files[FILE_PATH] = b""
    store = ModelStore(tmp_path, catalogue=tiny_catalogue(server.url(), data=b"", size=False, md5=False, sha256=False))
    with pytest.raises(ModelError, match="from .*tiny.pt is damaged or not the published file: it is empty"):
        store.download("tiny")
    assert not store.folder("tiny").exists()


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


def two_models(base: str) -> dict[str, ModelInfo]:
    """Like Moebius: a one-file network ("net") and a two-file companion ("vae": config.json + weights)."""
    net = ModelInfo("net", "Net", "fake", "MIT", "", (ModelFile("net.bin", f"{base}/net/net.bin", None),), "state_dict")
    vae_files = (
        ModelFile("config.json", f"{base}/vae/config.json", None),
        ModelFile("weights.bin", f"{base}/vae/weights.bin", None),
    )
    return {"net": net, "vae": ModelInfo("vae", "VAE", "fake", "MIT", "", vae_files, "state_dict")}


def test_an_offline_failure_names_every_file_with_its_url_and_target(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    store = ModelStore(tmp_path, catalogue=two_models(base))
    with pytest.raises(ModelError) as caught:
        store.download_models(["net", "vae"])
    message = str(caught.value)
    assert "\n" not in message and "the server refused the connection" in message
    for url, target in (
        (f"{base}/net/net.bin", tmp_path / "net" / "net.bin"),
        (f"{base}/vae/config.json", tmp_path / "vae" / "config.json"),
        (f"{base}/vae/weights.bin", tmp_path / "vae" / "weights.bin"),
    ):
        assert f"download {url} and save it as {target}" in message
    with pytest.raises(ModelMissingError) as missing:
        store.require("vae")
    assert f"save it as {tmp_path / 'vae' / 'config.json'}" in str(missing.value)


def test_downloading_several_models_counts_progress_over_all_of_them(tmp_path, server):
    catalogue = two_models(server.base)
    for path, data in (("/net/net.bin", state_dict_bytes(1)), ("/vae/config.json", b'{"a": 1}'),
                       ("/vae/weights.bin", state_dict_bytes(2))):
        server.files[path] = data
    store = ModelStore(tmp_path, catalogue=catalogue)
    calls = []
    store.download_models(["net", "vae"], progress=lambda done, total: calls.append(done))
    assert store.is_installed("net") and store.is_installed("vae")
    assert calls == sorted(calls) and calls[-1] == sum(len(data) for data in server.files.values() if data != DATA)


def test_download_sizes_for_offers(tmp_path):
    files = (ModelFile("a.bin", "https://x.invalid/a", 2_000_000), ModelFile("b.bin", "https://x.invalid/b", None))
    catalogue = {"m": ModelInfo("m", "M", "fake", "MIT", "", files, "state_dict")}
    store = ModelStore(tmp_path, catalogue=catalogue)
    assert store.download_size("m") is None and store.download_size_text(["m"]) == ""  # b.bin: size unknown
    estimated = ModelFile("b.bin", "https://x.invalid/b", None, approx_size=300_000_000)
    catalogue["m"] = ModelInfo("m", "M", "fake", "MIT", "", (files[0], estimated), "state_dict")
    assert store.download_size("m") == 302_000_000
    assert store.download_size_text(["m"]) == "about 302 MB"
    store.folder("m").mkdir(parents=True)
    (store.folder("m") / "b.bin").write_bytes(b"x")  # in place: not downloaded again
    assert store.download_size("m") == 2_000_000 and store.download_size_text(["m"]) == "2 MB"


def test_every_model_of_the_catalogue_shows_a_download_size(tmp_path):
    store = ModelStore(tmp_path)
    for model_id in CATALOGUE:
        assert store.download_size_text([model_id]).startswith("about "), model_id
    assert store.download_size_text(["moebius-pretrained", "moebius-vae"]) == "about 1.2 GB"


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
    assert store.verify("tiny").problems == [f"tiny.pt: its MD5 is {hashlib.md5(b'something else').hexdigest()}, "
                                             f"the catalogue says {hashlib.md5(DATA).hexdigest()}"]


def test_a_file_of_the_wrong_size_is_not_installed(store):
    store.folder("tiny").mkdir(parents=True)
    store.file_path("tiny").write_bytes(DATA[:-1])
    assert not store.is_installed("tiny")
    with pytest.raises(ModelMissingError):
        store.require("tiny")


def test_verify_finds_a_file_damaged_in_place(store):
    store.download("tiny")
    verification = store.verify("tiny")
    assert verification.ok and verification.notes == ["tiny.pt matches the published checksum"]
    assert verification.loads == "it loads as plain weights (1 tensor) with the parts Tiny needs"
    assert verification.summary() == f"OK: tiny.pt matches the published checksum; {verification.loads}"
    path = store.file_path("tiny")
    path.write_bytes(DATA[:5] + b"X" + DATA[6:])
    problems = store.verify("tiny").problems
    assert len(problems) == 1 and problems[0].startswith("tiny.pt: its MD5 is")
    assert store.is_installed("tiny") and not store.is_trusted("tiny")


def test_verify_reports_a_missing_file(store):
    assert store.verify("tiny").problems == [f"tiny.pt is missing from {store.folder('tiny')}"]


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
    source.write_bytes(state_dict_bytes(8))
    with pytest.raises(ModelError, match="not the published Tiny file tiny.pt.*--allow-unknown"):
        store.import_file("tiny", source)
    assert not store.is_installed("tiny")
    assert not store.folder("tiny").exists()  # no temporary file either

    store.import_file("tiny", source, allow_unknown=True)
    assert store.is_installed("tiny") and store.is_trusted("tiny") and store.trust("tiny") == "user"
    verification = store.verify("tiny")
    assert verification.ok
    assert verification.notes == ["tiny.pt is unchanged since you imported it (not the published file)"]

    store.file_path("tiny").write_bytes(state_dict_bytes(9))
    assert not store.is_trusted("tiny")
    assert store.verify("tiny").problems == ["tiny.pt: it changed since you imported it"]


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


def test_import_refuses_an_empty_file_even_when_unknown_files_are_allowed(store, tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="is empty \\(0 bytes\\)"):
        store.import_file("tiny", empty, allow_unknown=True)
    assert not store.folder("tiny").exists()


def test_import_refuses_a_file_found_in_several_subfolders(store, tmp_path):
    for variant in ("pretrained", "ft_places2"):
        (tmp_path / "hub" / variant).mkdir(parents=True)
        (tmp_path / "hub" / variant / "tiny.pt").write_bytes(DATA)
    with pytest.raises(ModelError, match="Several folders .*ft_places2.*pretrained.*import the one you mean"):
        store.import_file("tiny", tmp_path / "hub")
    store.import_file("tiny", tmp_path / "hub" / "pretrained")
    assert store.trust("tiny") == "catalogue"


@pytest.fixture
def vae_store(tmp_path):
    return ModelStore(tmp_path / "models", catalogue=two_models("https://example.invalid"))


def test_a_folder_import_never_mixes_files_from_different_folders(vae_store, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "config.json").write_text('{"a": 1}')
    (tmp_path / "b" / "weights.bin").write_bytes(state_dict_bytes(3))
    with pytest.raises(ModelError, match="No folder in .* holds config.json and weights.bin together .*found config.json in"):
        vae_store.import_file("vae", tmp_path)
    assert not vae_store.folder("vae").exists()


def test_a_folder_without_config_json_is_refused(vae_store, tmp_path):
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "weights.bin").write_bytes(state_dict_bytes(3))
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text('{"unet": 1}')  # another model's configuration
    with pytest.raises(ModelError, match="holds weights.bin but not config.json; VAE needs config.json and weights.bin"):
        vae_store.import_file("vae", tmp_path / "vae")
    with pytest.raises(ModelError, match="several files .* import the folder that holds all of them"):
        vae_store.import_file("vae", tmp_path / "vae" / "weights.bin")
    assert not vae_store.folder("vae").exists()


def test_a_folder_holding_every_file_imports_and_one_file_may_then_be_replaced(vae_store, tmp_path):
    folder = tmp_path / "download" / "vae"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "weights.bin").write_bytes(state_dict_bytes(3, part="encoder"))
    vae_store.import_file("vae", tmp_path / "download")  # found in the subfolder that holds both
    assert vae_store.is_installed("vae") and vae_store.trust("vae") == "user"
    (tmp_path / "weights.bin").write_bytes(state_dict_bytes(4, part="encoder"))
    vae_store.import_file("vae", tmp_path / "weights.bin")  # the rest is installed: replacing one file is fine
    assert (vae_store.folder("vae") / "weights.bin").read_bytes() == (tmp_path / "weights.bin").read_bytes()
    verification = vae_store.verify("vae")
    assert verification.notes == [
        "config.json is unchanged since you imported it (no checksum is published to compare it with)",
        "weights.bin is unchanged since you imported it (no checksum is published to compare it with)",
    ]


# -- verify loads the model as its engine does -----------------------------------------------


def test_a_random_file_imported_as_torchscript_is_reported_broken(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model" * 100)
    store = ModelStore(tmp_path / "models", catalogue=tiny_catalogue("https://x.invalid/t.pt", model_format="torchscript"))
    store.import_file("tiny", junk, allow_unknown=True)
    verification = store.verify("tiny")
    assert not verification.ok
    path = store.file_path("tiny")
    assert verification.problems == [f"it does not load: The model file {path} is damaged or not a TorchScript file."]


def test_a_torchscript_model_that_loads_is_reported_as_loading(tmp_path):
    path = tmp_path / "double.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    store = ModelStore(tmp_path / "models", catalogue=tiny_catalogue("https://x.invalid/t.pt", model_format="torchscript"))
    store.import_file("tiny", path, allow_unknown=True)
    assert store.verify("tiny").summary() == (
        "OK: tiny.pt is unchanged since you imported it (not the published file); it loads as TorchScript, as the engine loads it"
    )


def test_another_networks_weights_or_a_pickle_are_reported_broken(store, tmp_path):
    other = tmp_path / "other.pt"
    other.write_bytes(state_dict_bytes(5, part="image_encoder"))
    store.import_file("tiny", other, allow_unknown=True)
    [problem] = store.verify("tiny").problems
    assert problem.startswith("it does not load: ") and "another network: Tiny needs net; the file has image_encoder" in problem

    buffer = io.BytesIO()
    torch.save({"net.weight": torch.zeros(2), "code": Path("x")}, buffer)  # an object: weights-only refuses it
    other.write_bytes(buffer.getvalue())
    store.import_file("tiny", other, allow_unknown=True)
    [problem] = store.verify("tiny").problems
    assert "holds objects other than tensors" in problem


def test_a_file_downloaded_without_a_published_checksum_is_reported_as_such(tmp_path, server):
    store = ModelStore(tmp_path, catalogue=tiny_catalogue(server.url(), size=False, md5=False, sha256=False))
    store.download("tiny")
    assert store.verify("tiny").notes == [
        "tiny.pt is unchanged since it was downloaded (no checksum is published to compare it with)"
    ]
    store.file_path("tiny").write_bytes(state_dict_bytes(6))
    assert store.verify("tiny").problems == ["tiny.pt: it changed since it was downloaded"]


def test_importing_the_package_does_not_import_torch():
    code = "import sys, inpaint_studio.models; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)

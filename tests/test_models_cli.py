"""`inpaint-studio models ...`: list, download, import, verify, remove; exit codes and messages."""

from __future__ import annotations

import dataclasses

import pytest
from test_models_store import DATA, server, state_dict_bytes, tiny_catalogue  # noqa: F401 - server is a fixture

from inpaint_studio import cli
from inpaint_studio.cli import main
from inpaint_studio.models import CATALOGUE, DEFAULT_MIRROR_ENV
from inpaint_studio.models import download as download_module
from inpaint_studio.session.settings import Settings


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    monkeypatch.delenv(DEFAULT_MIRROR_ENV, raising=False)
    return tmp_path / "models"


@pytest.fixture
def tiny(server, monkeypatch):  # noqa: F811 - the fixture imported above
    """Adds the test model "tiny", served by the local server, to the built-in catalogue."""
    monkeypatch.setitem(CATALOGUE, "tiny", tiny_catalogue(server.url())["tiny"])
    return server


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert err.startswith("inpaint-studio: error: "), err
    return err


def test_list_shows_every_model_its_state_and_folder(models_dir, capsys):
    assert main(["models", "--models-dir", str(models_dir), "list"]) == 0
    out = capsys.readouterr().out
    for model_id, engine in (("big-lama", "lama"), ("migan", "migan")):
        [row] = [line for line in out.splitlines() if line.startswith(model_id + " ")]
        assert engine in row and "not installed" in row and str(models_dir / model_id) in row


def test_the_options_may_follow_the_action(models_dir, capsys):
    assert main(["models", "list", "--models-dir", str(models_dir)]) == 0
    assert str(models_dir / "migan") in capsys.readouterr().out


def test_the_folder_defaults_to_the_settings_then_to_the_user_data_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(DEFAULT_MIRROR_ENV, raising=False)
    chosen = tmp_path / "chosen"
    monkeypatch.setattr(Settings, "load", classmethod(lambda cls, path=None: Settings(models_dir=str(chosen))))
    assert main(["models", "list"]) == 0
    assert str(chosen / "migan") in capsys.readouterr().out

    monkeypatch.setattr(Settings, "load", classmethod(lambda cls, path=None: Settings()))
    monkeypatch.setattr("inpaint_studio.core.paths.models_dir", lambda: tmp_path / "default")
    assert main(["models", "list"]) == 0
    assert str(tmp_path / "default" / "migan") in capsys.readouterr().out


def test_download_installs_and_list_shows_it(models_dir, tiny, capsys):
    assert main(["models", "--models-dir", str(models_dir), "download", "tiny"]) == 0
    assert "Installed Tiny" in capsys.readouterr().out
    assert (models_dir / "tiny" / "tiny.pt").read_bytes() == DATA
    assert main(["models", "--models-dir", str(models_dir), "list"]) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("tiny ")]
    assert "installed, trusted" in row and "0.3 MB" in row


def test_list_shows_what_a_download_fetches(models_dir, capsys):
    assert main(["models", "--models-dir", str(models_dir), "list"]) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("big-lama ")]
    assert "about 205 MB" in row


def test_download_through_a_mirror(models_dir, server, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setitem(CATALOGUE, "tiny", tiny_catalogue("https://example.invalid/files/tiny.pt")["tiny"])
    assert main(["models", "download", "tiny", "--models-dir", str(models_dir), "--mirror", server.base]) == 0
    assert (models_dir / "tiny" / "tiny.pt").is_file()


def test_a_failed_download_is_one_error_line_saying_where_to_put_the_file(models_dir, tiny, capsys):
    tiny.files.clear()
    assert main(["models", "--models-dir", str(models_dir), "download", "tiny"]) == 1
    line = error_line(capsys)
    assert "HTTP 404" in line and str(models_dir / "tiny" / "tiny.pt") in line


def test_ctrl_c_exits_130_and_keeps_the_partial_download_for_the_next_run(models_dir, tiny, monkeypatch, capsys):
    monkeypatch.setattr(download_module, "PROGRESS_INTERVAL", 0.0)
    real_update = cli.ProgressBar.update

    def interrupt(self, done, note=""):
        if done > 0:  # after the first chunk arrived
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.ProgressBar, "update", interrupt)
    assert main(["models", "--models-dir", str(models_dir), "download", "tiny"]) == 130
    assert "partial download is kept" in capsys.readouterr().err
    kept = (models_dir / "tiny" / "tiny.pt.part").stat().st_size
    assert 0 < kept < len(DATA)

    monkeypatch.setattr(cli.ProgressBar, "update", real_update)
    tiny.requests.clear()
    assert main(["models", "--models-dir", str(models_dir), "download", "tiny"]) == 0
    assert tiny.requests == [("/files/tiny.pt", f"bytes={kept}-")]
    assert (models_dir / "tiny" / "tiny.pt").read_bytes() == DATA


def test_import_verify_and_remove(models_dir, tiny, tmp_path, capsys):
    ours = ["models", "--models-dir", str(models_dir)]
    good, other, junk, empty = (tmp_path / name for name in ("good.pt", "other.pt", "junk.pt", "empty.pt"))
    good.write_bytes(DATA)
    other.write_bytes(state_dict_bytes(8))  # weights, but not the published file
    junk.write_bytes(b"not a model at all")
    empty.write_bytes(b"")

    assert main([*ours, "import", "tiny", str(other)]) == 1
    assert "--allow-unknown" in error_line(capsys)
    assert main([*ours, "import", "tiny", str(empty), "--allow-unknown"]) == 1
    assert "is empty (0 bytes)" in error_line(capsys)
    assert main([*ours, "import", "tiny", str(good)]) == 0
    assert "matches the catalogue" in capsys.readouterr().out
    assert main([*ours, "verify", "tiny"]) == 0
    assert "tiny: OK: tiny.pt matches the published checksum; it loads as plain weights" in capsys.readouterr().out

    (models_dir / "tiny" / "tiny.pt").write_bytes(DATA[:10] + b"?" + DATA[11:])
    assert main([*ours, "verify"]) == 1
    assert "tiny: tiny.pt: its MD5 is" in capsys.readouterr().out

    assert main([*ours, "import", "tiny", str(other), "--allow-unknown"]) == 0
    assert "--allow-unknown" in capsys.readouterr().out
    assert main([*ours, "verify"]) == 0
    assert "tiny: OK: tiny.pt is unchanged since you imported it (not the published file)" in capsys.readouterr().out

    assert main([*ours, "import", "tiny", str(junk), "--allow-unknown"]) == 0
    capsys.readouterr()
    assert main([*ours, "verify"]) == 1  # imported knowingly, unchanged, but not a model: broken, not "OK"
    assert "tiny: it does not load: " in capsys.readouterr().out

    assert main([*ours, "remove", "tiny"]) == 0
    assert "Removed Tiny" in capsys.readouterr().out
    assert not (models_dir / "tiny").exists()
    assert main([*ours, "remove", "tiny"]) == 1
    assert "nothing to remove" in error_line(capsys)


def test_verify_with_nothing_installed(models_dir, capsys):
    assert main(["models", "--models-dir", str(models_dir), "verify"]) == 0
    assert "No models installed" in capsys.readouterr().out
    assert main(["models", "--models-dir", str(models_dir), "verify", "migan"]) == 1
    assert "migan_traced.pt is missing" in capsys.readouterr().out


def test_an_unknown_model_is_one_error_line(models_dir, capsys):
    assert main(["models", "--models-dir", str(models_dir), "download", "nope"]) == 1
    assert "Unknown model 'nope'. Known models: big-lama, migan, mobile-sam, moebius-celebahq, " in error_line(capsys)


def test_models_without_an_action_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["models"])
    assert caught.value.code == 2


class _GreyLama(__import__("torch").nn.Module):
    """LaMa's call signature; paints every pixel mid-grey."""

    def forward(self, image, mask):
        return image * 0 + 0.5


def test_a_downloaded_model_runs_in_remove_and_batch(tmp_path, model_server, monkeypatch, capsys):
    """Download (checksum against the catalogue) -> `remove --engine lama` -> `batch` in worker processes."""
    import hashlib
    import warnings

    import numpy as np
    import torch
    from conftest import gradient_photo
    from PIL import Image

    from inpaint_studio.models import ModelFile, ModelInfo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(_GreyLama()), str(tmp_path / "grey.pt"))
    data = (tmp_path / "grey.pt").read_bytes()
    model_server.files["/big-lama.pt"] = data
    file = ModelFile("big-lama.pt", model_server.url("/big-lama.pt"), len(data), md5=hashlib.md5(data).hexdigest())
    monkeypatch.setitem(
        CATALOGUE, "big-lama", ModelInfo("big-lama", "LaMa", "lama", "Apache-2.0", "test", (file,), "torchscript")
    )
    models = tmp_path / "models"

    assert main(["remove", str(tmp_path / "x.png"), "--mask", "m.png", "--engine", "lama", "--models-dir", str(models)]) == 1
    assert "models download big-lama" in capsys.readouterr().err
    assert main(["models", "--models-dir", str(models), "download", "big-lama"]) == 0

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a", "b"):
        Image.fromarray(gradient_photo(80, 100, seed=len(name))).save(photos / f"{name}.png")
    mask = np.zeros((80, 100), np.uint8)
    mask[30:50, 40:60] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")

    out = tmp_path / "a_out.png"
    assert main(["remove", str(photos / "a.png"), "--mask", str(tmp_path / "mask.png"), "-o", str(out),
                 "--engine", "lama", "--models-dir", str(models)]) == 0
    result, original = np.asarray(Image.open(out)), np.asarray(Image.open(photos / "a.png"))
    assert (result[35:45, 45:55] == 128).all()  # the network's grey, inside the hole
    assert np.array_equal(result[:20], original[:20])  # far from it, untouched

    assert main(["batch", str(photos), "--mask", str(tmp_path / "mask.png"), "-o", str(tmp_path / "batch"),
                 "--engine", "lama", "--models-dir", str(models), "--workers", "2"]) == 0
    for name in ("a", "b"):
        assert (np.asarray(Image.open(tmp_path / "batch" / f"{name}.png"))[40, 50] == 128).all()


def test_several_models_download_as_one_job_and_a_failure_names_every_file(models_dir, capsys):
    ours = ["models", "--models-dir", str(models_dir), "--mirror", "http://127.0.0.1:9"]  # nothing listens there
    assert main([*ours, "download", "moebius-pretrained", "moebius-vae"]) == 1
    line = error_line(capsys)
    for folder, name in (("moebius-pretrained", "diffusion_pytorch_model.bin"), ("moebius-vae", "config.json"),
                         ("moebius-vae", "diffusion_pytorch_model.bin")):
        assert f"and save it as {models_dir / folder / name}" in line
    assert line.count("download http://127.0.0.1:9/hustvl/") == 3


def test_downloading_two_models_installs_both(models_dir, tiny, monkeypatch, capsys):
    data = state_dict_bytes(12)
    tiny.files["/files/other.pt"] = data
    other = tiny_catalogue(tiny.url("/files/other.pt"), data=data)["tiny"]
    monkeypatch.setitem(CATALOGUE, "other", dataclasses.replace(other, id="other", name="Other"))
    assert main(["models", "--models-dir", str(models_dir), "download", "tiny", "other"]) == 0
    out = capsys.readouterr().out
    assert "Installed Tiny (0.3 MB)" in out and "Installed Other (0.3 MB)" in out

"""Models in the window: choosing an engine without its model, the download dialog, the models dialog."""

from __future__ import annotations

import hashlib
import warnings

import pytest
import torch
from PySide6.QtWidgets import QMessageBox
from test_ui_main_window import drag

from inpaint_studio.models import CATALOGUE, ModelFile, ModelInfo
from inpaint_studio.ui.mask_tools import Tool
from inpaint_studio.ui.models_dialog import ModelsDialog

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class GreyLama(torch.nn.Module):
    """LaMa's call signature; paints every pixel mid-grey."""

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return image * 0 + 0.5


@pytest.fixture
def grey_lama(tmp_path, model_server, monkeypatch) -> bytes:
    """The catalogue's big-lama, served by the local server as a tiny grey network."""
    path = tmp_path / "grey.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(GreyLama()), str(path))
    data = path.read_bytes()
    model_server.files["/big-lama.pt"] = data
    file = ModelFile("big-lama.pt", model_server.url("/big-lama.pt"), len(data), md5=hashlib.md5(data).hexdigest())
    monkeypatch.setitem(
        CATALOGUE, "big-lama", ModelInfo("big-lama", "LaMa", "lama", "Apache-2.0", "test", (file,), "torchscript")
    )
    return data


def answer(monkeypatch, button) -> list[str]:
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *rest: asked.append(text) or button)
    return asked


def test_declining_the_download_keeps_the_current_engine_and_says_why(qtbot, window, grey_lama, monkeypatch):
    asked = answer(monkeypatch, QMessageBox.StandardButton.No)
    assert "download needed" in window.engines.engine_combo.itemText(window.engines.engine_combo.findData("lama"))
    window.set_engine("lama")
    assert asked and "LaMa needs its model" in asked[0]
    assert window.engines.engine_id == "fake"
    assert "cannot run without its model" in window.statusBar().currentMessage()


def test_a_failed_download_keeps_the_current_engine(qtbot, window, grey_lama, model_server, monkeypatch, errors):
    del model_server.files["/big-lama.pt"]  # the server answers 404
    answer(monkeypatch, QMessageBox.StandardButton.Yes)
    window.set_engine("lama")
    assert window.engines.engine_id == "fake"
    assert errors and errors[-1][0] == "Download failed" and "big-lama.pt" in errors[-1][1]
    assert not window.engines.model_store.is_installed("big-lama")


def test_accepting_downloads_the_model_and_the_engine_fills_with_it(qtbot, window, grey_lama, monkeypatch):
    answer(monkeypatch, QMessageBox.StandardButton.Yes)
    window.set_engine("lama")
    assert window.engines.engine_id == "lama"
    assert window.engines.model_store.is_installed("big-lama") and window.engines.model_store.is_trusted("big-lama")
    assert window.engines.engine_combo.currentText() == "LaMa"  # no longer marked "download needed"
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 80), (140, 120)])
    window.run_fill()
    qtbot.waitUntil(lambda: len(window.document.layers) == 1, timeout=20000)
    assert (window.document.composite[100, 120] == 128).all()
    assert window.document.layers[0].provenance["engine"] == "lama"


def test_models_dialog_imports_an_unknown_file_only_after_a_yes_and_removes_it(qtbot, window, grey_lama, tmp_path, monkeypatch):
    other = tmp_path / "my-lama.pt"
    other.write_bytes(grey_lama + b"\0")  # not the published file
    dialog = ModelsDialog(window.engines.model_store, window)
    qtbot.addWidget(dialog)
    dialog.select("big-lama")
    assert dialog.buttons["download"].isEnabled() and not dialog.buttons["remove"].isEnabled()

    asked = answer(monkeypatch, QMessageBox.StandardButton.No)
    assert not dialog.import_file("big-lama", str(other))
    assert "is not the published LaMa file" in asked[0] and not window.engines.model_store.is_installed("big-lama")

    answer(monkeypatch, QMessageBox.StandardButton.Yes)
    assert dialog.import_file("big-lama", str(other))
    dialog.refresh()
    assert window.engines.model_store.is_trusted("big-lama")  # the user said yes
    row = [dialog.table.item(r, 2).text() for r in range(dialog.table.rowCount()) if dialog.table.item(r, 0).text() == "LaMa"]
    assert row == ["Installed"]
    assert dialog.buttons["verify"].isEnabled() and dialog.buttons["remove"].isEnabled()

    dialog.remove("big-lama")
    dialog.refresh()
    assert not window.engines.model_store.is_installed("big-lama") and not dialog.buttons["remove"].isEnabled()


def test_models_dialog_shows_download_sizes_and_verifies_on_a_thread(qtbot, tmp_path, errors, grey_lama, monkeypatch):
    from inpaint_studio.models import ModelStore

    store = ModelStore(tmp_path / "models")
    dialog = ModelsDialog(store)
    qtbot.addWidget(dialog)
    headers = [dialog.table.horizontalHeaderItem(c).text() for c in range(dialog.table.columnCount())]
    rows = {dialog.table.item(r, 0).text(): r for r in range(dialog.table.rowCount())}
    assert dialog.table.item(rows["MobileSAM"], headers.index("Download")).text() == "about 41 MB"

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a network" * 100)
    store.import_file("big-lama", junk, allow_unknown=True)
    dialog.refresh()
    assert dialog.table.item(rows["LaMa"], headers.index("Download")).text() == "—"
    dialog.verify("big-lama")  # imported knowingly and unchanged, but not a model: reported broken
    assert errors[-1][0] == "Verify" and "LaMa has problems" in errors[-1][1] and "does not load" in errors[-1][1]

    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text, *rest: shown.append(text))
    store.import_file("big-lama", tmp_path / "grey.pt")  # the published file (as this test's catalogue says)
    dialog.verify("big-lama")
    assert shown == ["LaMa is fine:\nbig-lama.pt matches the published checksum\nit loads as TorchScript, as the engine loads it"]


def test_the_models_an_engine_needs_download_as_one_job_and_a_failure_names_every_file(qtbot, tmp_path, errors):
    from inpaint_studio.models import ModelStore
    from inpaint_studio.ui.models_dialog import download_models

    store = ModelStore(tmp_path / "models", mirror="http://127.0.0.1:9")  # nothing listens on the discard port
    assert not download_models(None, store, ["moebius-pretrained", "moebius-vae"])
    title, message = errors[-1]
    assert title == "Download failed"
    for model_id, name in (("moebius-pretrained", "diffusion_pytorch_model.bin"), ("moebius-vae", "config.json"),
                           ("moebius-vae", "diffusion_pytorch_model.bin")):
        assert f"download {store.url_for(model_id, name)} and save it as {store.folder(model_id) / name}" in message

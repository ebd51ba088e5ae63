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

"""The engine settings panel and a Moebius fill in the window: parameters, previews, a variant to download."""

from __future__ import annotations

import pytest
from conftest import gradient_photo
from moebius_fixtures import ENGINE_CONFIG, install_moebius
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QMessageBox,
    QSpinBox,
)
from test_ui_main_window import drag

from inpaint_studio.engines.fake import FakeEngine
from inpaint_studio.engines.moebius import runtime as moebius_runtime
from inpaint_studio.engines.registry import register_engine, unregister_engine
from inpaint_studio.models.store import ModelStore
from inpaint_studio.session.settings import Settings
from inpaint_studio.ui.main_window import MainWindow
from inpaint_studio.ui.mask_tools import Tool


def editor(win, name):
    return win.engines.panel.findChild(object, f"param-{name}")


def test_the_panel_shows_the_engine_parameters_and_the_fill_uses_them(qtbot, window):
    assert isinstance(editor(window, "color"), QLineEdit)
    assert isinstance(editor(window, "steps"), QSpinBox)
    assert isinstance(editor(window, "step_seconds"), QDoubleSpinBox)
    assert isinstance(editor(window, "fail"), QCheckBox)
    editor(window, "steps").setValue(7)
    editor(window, "color").setText("0,255,0")
    editor(window, "color").editingFinished.emit()
    assert window.engines.params == {"steps": 7, "color": "0,255,0"}

    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(100, 80), (140, 120)])
    window.run_fill()
    qtbot.waitUntil(lambda: len(window.document.layers) == 1, timeout=10000)
    provenance = window.document.layers[0].provenance
    assert provenance["params"]["steps"] == 7
    assert (window.document.composite[100, 120] == (0, 255, 0)).all()

    window.engines.panel.reset()
    assert window.engines.params == {} and editor(window, "steps").value() == 4


def test_chosen_parameters_are_remembered_per_engine(qtbot, tmp_path, window):
    editor(window, "steps").setValue(9)
    window.set_engine("telea")
    assert editor(window, "radius").value() == 5 and window.engines.params == {}
    window.set_engine("fake")
    assert editor(window, "steps").value() == 9
    window.document.mark_saved()
    window.close()
    again = MainWindow(Settings.load(tmp_path / "settings.json"), settings_path=tmp_path / "settings.json")
    qtbot.addWidget(again)
    assert again.engines.engine_id == "fake" and again.engines.params == {"steps": 9}


def test_stored_values_an_engine_no_longer_accepts_fall_back_to_defaults(qtbot, tmp_path):
    register_engine(FakeEngine)
    try:
        settings = Settings(engine="fake", engine_params={"fake": {"steps": -3, "gone": 1, "step_seconds": 0.5}})
        win = MainWindow(settings, settings_path=tmp_path / "settings.json")
        qtbot.addWidget(win)
        assert win.engines.params == {"step_seconds": 0.5}
    finally:
        unregister_engine("fake")


@pytest.fixture
def moebius_window(qtbot, tmp_path, monkeypatch, errors):
    monkeypatch.setattr(moebius_runtime, "unet_config", lambda: ENGINE_CONFIG)
    store = ModelStore(tmp_path / "models")
    install_moebius(store, tmp_path / "downloads")
    photo = tmp_path / "photo.png"
    from PIL import Image

    Image.fromarray(gradient_photo(300, 400)).save(photo)
    win = MainWindow(Settings(engine="moebius", auto_run=True, models_dir=str(store.root)), settings_path=tmp_path / "s.json")
    win.resize(900, 700)
    win.show()
    qtbot.waitExposed(win)
    assert win.open_file(photo, confirm=False)
    yield win
    win.document.mark_saved()
    win.close()
    win.deleteLater()


def test_a_moebius_fill_shows_previews_then_adds_a_layer(qtbot, moebius_window, monkeypatch):
    win = moebius_window
    assert win.engines.engine_id == "moebius"
    assert isinstance(editor(win, "preset"), QComboBox) and editor(win, "steps").text() == "Auto"
    editor(win, "steps").setValue(4)
    shown = []
    real = win.canvas.set_preview_patch
    monkeypatch.setattr(win.canvas, "set_preview_patch", lambda patch: shown.append(patch) or real(patch))
    win.set_tool(Tool.RECTANGLE)
    drag(qtbot, win, [(150, 100), (220, 160)])
    assert not win.workspace.fills.busy  # slow engines wait for Enter even with auto-run on
    win.run_fill()
    qtbot.waitUntil(lambda: len(win.document.layers) == 1, timeout=120000)
    previews = [patch for patch in shown if patch is not None]
    assert len(previews) == 3 and shown[-1] is None  # one per UNet step, then cleared
    assert win.canvas._preview is None
    layer = win.document.layers[0]
    assert layer.provenance["params"]["steps"] == 4 and layer.provenance["params"]["variant"] == "pretrained"


def test_a_variant_that_is_not_installed_is_offered_for_download(qtbot, moebius_window, monkeypatch):
    win = moebius_window
    asked = []
    def decline(parent, title, text, *rest):
        asked.append(text)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", decline)
    editor(win, "variant").setCurrentText("ffhq")
    win.set_tool(Tool.RECTANGLE)
    drag(qtbot, win, [(150, 100), (220, 160)])
    win.run_fill()
    assert asked and "Moebius (ffhq)" in asked[0]
    assert not win.workspace.fills.busy and win.engines.engine_id == "moebius"
    assert "cannot run without its model" in win.statusBar().currentMessage()

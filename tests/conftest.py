"""Shared test helpers: the evaluation set location, small synthetic photos and the main window fixtures."""

from __future__ import annotations

import os
from pathlib import Path

# GUI tests run without a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from model_server import model_server  # noqa: F401 - a fixture for every test module

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
EVAL_DIR = SHARED / "eval"


@pytest.fixture(autouse=True)
def private_autosave_folder(tmp_path, tmp_path_factory, monkeypatch) -> Path:
    """Tests autosave, read settings, cache thumbnails and look for models in their own folders, never the user's."""
    folder = tmp_path / "autosave"
    monkeypatch.setattr("inpaint_studio.core.paths.autosave_dir", lambda: folder)
    monkeypatch.setattr("inpaint_studio.core.paths.config_dir", lambda: tmp_path / "config")
    monkeypatch.setattr("inpaint_studio.core.paths.models_dir", lambda: tmp_path / "user-models")
    monkeypatch.setattr("inpaint_studio.core.paths.thumbnails_dir", lambda: tmp_path / "thumbnail-cache")
    monkeypatch.delenv("INPAINT_STUDIO_MODEL_MIRROR", raising=False)
    # The log goes to a folder of its own (not inside tmp_path, whose contents tests check); the
    # variable reaches the CLI run as a subprocess too.
    monkeypatch.setenv("INPAINT_STUDIO_LOG_DIR", str(tmp_path_factory.mktemp("logs")))
    yield folder
    from inpaint_studio.session.logs import shutdown_logging

    shutdown_logging()


@pytest.fixture
def errors(monkeypatch):
    """Message boxes recorded instead of shown (a modal box would block the test)."""
    from PySide6.QtWidgets import QMessageBox  # here, not at the top: tests without a window never import Qt

    shown = []

    def warning(parent, title, text, *rest):
        shown.append((title, text))

    def question(*args):
        shown.append(("question", args[2]))
        return QMessageBox.StandardButton.Discard

    monkeypatch.setattr(QMessageBox, "warning", warning)
    monkeypatch.setattr(QMessageBox, "question", question)
    return shown


@pytest.fixture
def window(qtbot, tmp_path, errors):
    """The main window with the fake engine and a 300x200 gradient photo open."""
    from PIL import Image

    from inpaint_studio.engines.fake import FakeEngine
    from inpaint_studio.engines.registry import register_engine, unregister_engine
    from inpaint_studio.session.settings import Settings
    from inpaint_studio.ui.main_window import MainWindow

    register_engine(FakeEngine)
    photo = tmp_path / "photo.png"
    Image.fromarray(gradient_photo(200, 300)).save(photo)
    win = MainWindow(Settings(engine="fake", auto_run=False), settings_path=tmp_path / "settings.json")
    win.resize(900, 700)
    win.show()
    qtbot.waitExposed(win)
    assert win.open_file(photo, confirm=False)
    win.set_engine("fake")
    yield win
    if win.document is not None:
        win.document.mark_saved()  # no unsaved-changes prompt while closing
    win.close()
    win.deleteLater()
    unregister_engine("fake")


@pytest.fixture
def eval_dir() -> Path:
    """../shared/eval, or skip when the shared folder is absent."""
    if not (EVAL_DIR / "cases.json").is_file():
        pytest.skip("../shared/eval is not available")
    return EVAL_DIR


def gradient_photo(height: int = 120, width: int = 160, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with mild noise: easy to fill, easy to check."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 / max(width - 1, 1), y * 255 / max(height - 1, 1), (x + y) * 127 / max(height + width - 2, 1)], -1)
    rgb += rng.normal(0, 2, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def on_the_desktop(window, qtbot):
    """`window` wide enough for every toolbar, and active: keys go to its focused widget, as on a desktop."""
    window.resize(1500, 800)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    return window

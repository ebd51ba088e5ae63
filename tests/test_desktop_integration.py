"""Desktop entry, icons, window icon and title, About, and what a frozen app sets up first."""

from __future__ import annotations

import configparser
import fnmatch
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ElementTree

import pytest
from conftest import REPO
from PIL import Image

from inpaint_studio import frozen
from inpaint_studio.io.formats import desktop_mime_types
from inpaint_studio.resources import (
    DESKTOP_FILE,
    FOLDER,
    ICON_SIZES,
    icon_paths,
    resource_path,
)

ICONS = REPO / "resources" / "icons"


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(resource_path(DESKTOP_FILE), encoding="utf-8")
    return parser["Desktop Entry"]


def test_the_desktop_entry_names_the_command_and_the_icon():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Inpaint Studio"
    assert entry["Exec"] == "inpaint-studio %f"  # the window opens one photo given on the command line
    assert entry["Icon"] == "inpaint-studio"
    assert entry["Terminal"] == "false"
    assert "Graphics" in entry["Categories"].split(";")
    assert "image/jpeg" in entry["MimeType"].split(";")


def test_the_desktop_entry_offers_every_photo_format_and_projects():
    listed = _desktop_entry()["MimeType"].rstrip(";").split(";")
    assert listed == desktop_mime_types() + ["image/openraster"]  # the one list in io/formats.py


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils is not installed")
def test_the_desktop_entry_is_valid():
    result = subprocess.run(["desktop-file-validate", str(resource_path(DESKTOP_FILE))], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


def test_icon_pngs_exist_in_every_size_with_transparency():
    assert sorted(icon_paths()) == sorted(ICON_SIZES)
    for size, path in icon_paths().items():
        with Image.open(path) as image:
            assert image.size == (size, size) and image.mode == "RGBA"
            alpha = image.getchannel("A")
            assert alpha.getpixel((0, 0)) == 0  # rounded corners are transparent
            assert alpha.getpixel((size // 2, size // 2)) == 255


def test_windows_and_macos_icons_hold_the_usual_sizes():
    with Image.open(ICONS / "inpaint-studio.ico") as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(ICONS / "inpaint-studio.icns") as icns:
        assert icns.format == "ICNS" and icns.size == (1024, 1024)


def test_the_svg_source_is_well_formed():
    root = ElementTree.parse(ICONS / "inpaint-studio.svg").getroot()
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 256 256"


def test_package_data_ships_every_resource_file():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["inpaint_studio.resources"]
    files = [p.relative_to(FOLDER).as_posix() for p in FOLDER.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    unshipped = [f for f in files if f != "__init__.py" and not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert unshipped == []
    assert "package" in pyproject["project"]["optional-dependencies"]


def test_every_python_package_is_listed_for_the_wheel():
    """An editable install finds any package; a wheel only the listed ones."""
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    source = REPO / "inpaint_studio"
    found = {
        ".".join(("inpaint_studio", *init.parent.relative_to(source).parts))
        for init in source.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found - listed == set()


def test_window_has_the_icon_and_shows_name_and_version(qtbot, tmp_path):
    from PySide6.QtWidgets import QApplication

    from inpaint_studio.session.settings import Settings
    from inpaint_studio.ui.application import configure_application
    from inpaint_studio.ui.main_window import MainWindow

    app = QApplication.instance()
    configure_application(app)
    assert not app.windowIcon().isNull()
    assert {s.width() for s in app.windowIcon().availableSizes()} >= {16, 32, 48, 256}
    assert app.desktopFileName() == "inpaint-studio"
    window = MainWindow(Settings(), settings_path=tmp_path / "s.json", autosave_folder=tmp_path / "a")
    qtbot.addWidget(window)
    assert window.windowTitle() == "Inpaint Studio 0.1.0"
    window.open_file(resource_path("sample.jpg"), confirm=False)
    assert window.windowTitle() == "sample.jpg[*] — Inpaint Studio 0.1.0"


def test_about_names_version_licence_and_log_file(qtbot, tmp_path):
    from inpaint_studio.session import logs
    from inpaint_studio.ui.about import about_text

    path = logs.setup_logging()
    text = about_text()
    assert "Inpaint Studio 0.1.0" in text and "Apache-2.0" in text
    assert f"Log file: <code>{path}</code>" in text
    logs.shutdown_logging()
    assert f"Log folder: <code>{path.parent}</code> (no log file open)" in about_text()


def test_the_startup_probe_reports_when_the_window_is_shown(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", INPAINT_STUDIO_STARTUP_PROBE="1")
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[name] = str(tmp_path / name.lower())
    result = subprocess.run([sys.executable, "-m", "inpaint_studio"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    seconds = float(result.stdout.split("window shown ")[1].split(" s")[0])
    assert 0 < seconds < 60


# ------------------------------------------------------------------ frozen-app start-up


def test_nothing_changes_outside_a_frozen_app(monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    frozen.prepare_frozen_environment()
    assert "NUMBA_CACHE_DIR" not in os.environ


def test_a_frozen_app_caches_numba_kernels_in_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr("platformdirs.user_cache_dir", lambda name, appauthor=None: str(tmp_path / "cache" / name))
    frozen.prepare_frozen_environment()
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "cache" / "inpaint-studio" / "numba")
    assert (tmp_path / "cache" / "inpaint-studio" / "numba").is_dir()


def test_a_user_choice_of_numba_cache_is_kept(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    frozen.prepare_frozen_environment()
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")


def test_an_unwritable_user_cache_falls_back_to_a_temporary_folder(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setattr("platformdirs.user_cache_dir", lambda name, appauthor=None: str(blocker / name))
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path / "tmp"))
    folder = frozen.numba_cache_dir()
    assert folder.parent == tmp_path / "tmp" and folder.is_dir()


# ------------------------------------------------------------------ build script


def test_build_script_says_how_to_install_pyinstaller(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("packaging_build", REPO / "packaging" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    real = build.importlib.util.find_spec
    monkeypatch.setattr(build.importlib.util, "find_spec", lambda name: None if name == "PyInstaller" else real(name))
    assert build.main(["--no-self-test"]) == 2
    assert 'python -m pip install -e ".[package]"' in capsys.readouterr().err


# ------------------------------------------------------------------ desktop entry installer


def test_install_desktop_entry_points_the_menu_at_the_app_and_uninstalls(tmp_path):
    app_dir = tmp_path / "My Apps" / "inpaint-studio"
    app_dir.mkdir(parents=True)
    command = app_dir / "inpaint-studio"
    command.write_text("#!/bin/sh\nexit 0\n")
    command.chmod(0o755)
    data = tmp_path / "data"
    env = dict(os.environ, XDG_DATA_HOME=str(data), HOME=str(tmp_path))
    script = REPO / "packaging" / "install-desktop-entry.sh"
    result = subprocess.run(["sh", str(script), str(command)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    entry = (data / "applications" / "inpaint-studio.desktop").read_text()
    assert f'Exec="{command}" %f' in entry  # a path with a space is quoted, as the spec wants
    assert f"TryExec={command}\n" in entry
    for size in ICON_SIZES:
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "inpaint-studio.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "inpaint-studio.svg").is_file()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(
            ["desktop-file-validate", str(data / "applications" / "inpaint-studio.desktop")], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout

    result = subprocess.run(["sh", str(script), "--uninstall"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert not (data / "applications" / "inpaint-studio.desktop").exists()
    assert not any((data / "icons").rglob("inpaint-studio.*"))


def test_install_desktop_entry_without_an_app_says_so(tmp_path):
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path))
    script = REPO / "packaging" / "install-desktop-entry.sh"
    result = subprocess.run(
        ["sh", str(script), str(tmp_path / "nothing-here")], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1
    assert "no inpaint-studio command found" in result.stderr

"""THIRD_PARTY_NOTICES.txt: the generator covers every runtime dependency, the committed copies name them, About shows them."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from importlib import metadata

import pytest
from conftest import REPO
from packaging.utils import canonicalize_name

COMMITTED = REPO / "THIRD_PARTY_NOTICES.txt"
SHIPPED = REPO / "resources" / "THIRD_PARTY_NOTICES.txt"


@pytest.fixture(scope="module")
def notices():
    """packaging/third_party_notices.py (a script in a folder that is not a package)."""
    spec = importlib.util.spec_from_file_location("third_party_notices", REPO / "packaging" / "third_party_notices.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def fresh_text(notices):
    return notices.render(notices.collect_notices())


def _applies(requirement, extra: str = "") -> bool:
    return requirement.marker is None or requirement.marker.evaluate({"extra": extra})


def test_the_generator_covers_every_runtime_dependency(notices):
    found = {canonicalize_name(dist.metadata["Name"]): dist for dist in notices.runtime_distributions()}
    for requirement in notices.app_requirements(extras=()):
        if _applies(requirement):
            assert canonicalize_name(requirement.name) in found, requirement
    # ... and what those need in turn (diffusers -> huggingface-hub, torch -> sympy), recursively.
    for dist in list(found.values()):
        for line in dist.requires or []:
            requirement = notices.Requirement(line)
            if _applies(requirement):
                try:
                    metadata.distribution(requirement.name)
                except metadata.PackageNotFoundError:
                    continue
                assert canonicalize_name(requirement.name) in found, f"{requirement} (needed by {dist.metadata['Name']})"
    assert "inpaint-studio" not in found
    for dist in found.values():  # every wheel here carries its licence text (PySide6's get the GNU texts added)
        assert notices.distribution_notice(dist).texts, dist.metadata["Name"]


def test_the_notices_name_qt_opencv_ffmpeg_torch_and_numba(fresh_text):
    for expected in (
        "PySide6_Essentials", "shiboken6", "LGPL-3.0-only", "GNU LESSER GENERAL PUBLIC LICENSE", "GNU GENERAL PUBLIC LICENSE",
        "https://download.qt.io/official_releases/QtForPython/", "opencv-python-headless", "FFmpeg is redistributed",
        "torch", "numba", "llvmlite", "numpy", "pillow", "Python 3.",
    ):
        assert expected in fresh_text, expected
    # Each text once (PySide6 and shiboken6 share the GNU texts), then referred to.
    assert fresh_text.count("---- LGPL-3.0.txt ----") == 1
    assert "---- LGPL-3.0.txt: the same text as LGPL-3.0.txt of PySide6_Essentials above ----" in fresh_text


def test_the_committed_copies_are_one_file_naming_every_runtime_dependency(notices):
    committed = COMMITTED.read_text(encoding="utf-8")
    assert SHIPPED.read_text(encoding="utf-8") == committed
    assert "python packaging/third_party_notices.py" in committed and "packaging/build.py` regenerates it" in committed
    for dist in notices.runtime_distributions():  # names, not versions: this machine may have others than the one it was made on
        name = dist.metadata["Name"]
        assert f"\n  {name} " in committed, f"{name} is missing: run python packaging/third_party_notices.py"


def test_system_libraries_are_found_by_their_debian_package(notices):
    if not shutil.which("dpkg"):
        pytest.skip("not a Debian-based system")
    dpkg = shutil.which("dpkg")
    known, unknown = notices.system_library_notices([dpkg, "/nonexistent/libmade-up.so.1"])
    assert known.name == "dpkg (Debian package)" and known.version != "?"
    assert known.texts and "Copyright" in known.texts[0][1] and "Libraries: dpkg." in known.note
    assert unknown.name == "libmade-up.so.1" and unknown.licence == "unknown" and not unknown.texts
    assert notices.is_system_library(dpkg) and not notices.is_system_library(metadata.distribution("numpy").locate_file("numpy"))


def test_about_opens_the_licences_from_the_help_menu_by_keyboard(qtbot, window):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

    from inpaint_studio.ui.about import LicencesDialog

    window.activateWindow()
    qtbot.waitActive(window)
    qtbot.keyClick(window, Qt.Key.Key_H, Qt.KeyboardModifier.AltModifier)  # the Help menu
    help_menu = QApplication.activePopupWidget()
    assert help_menu is not None and "About Qt" in [a.text().replace("&", "") for a in help_menu.actions()]
    qtbot.keyClick(help_menu, Qt.Key.Key_A)  # &About Inpaint Studio
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox))
    box = QApplication.activeModalWidget()
    assert "Third-party licences" in box.text() and "LGPL" in box.text()
    button = next(b for b in box.findChildren(QPushButton) if "licences" in b.text())
    button.setFocus()
    qtbot.keyClick(button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), LicencesDialog))
    dialog = QApplication.activeModalWidget()
    assert "PySide6" in dialog.text.toPlainText()
    qtbot.keyClicks(dialog.find_field, "FFmpeg is redistributed")
    qtbot.keyClick(dialog.find_field, Qt.Key.Key_Return)  # finds, and Enter does not close the dialog
    assert dialog.isVisible() and dialog.text.textCursor().selectedText() == "FFmpeg is redistributed"
    dialog.find_field.setText("no such words anywhere")
    assert not dialog.find_next() and "not in the licences" in dialog.status.text()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.isVisible())

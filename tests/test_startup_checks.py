"""A Linux desktop without a library Qt needs (libxcb-cursor0 on a bare machine): one line naming the package, exit 1.

The libraries are "missing" through a stand-in loader, so no display and no uninstalling are needed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inpaint_studio.ui import application


@pytest.fixture
def x11_desktop(monkeypatch):
    """Linux, where Qt would pick its xcb plugin (no QT_QPA_PLATFORM, not a Wayland session)."""
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


def _missing(*names):
    return lambda name: name not in names


def test_a_missing_xcb_cursor_library_is_named_in_one_line(x11_desktop, monkeypatch, capsys):
    monkeypatch.setattr(application, "library_loads", _missing("libxcb-cursor.so.0"))
    assert application.run_gui([]) == 1
    err = capsys.readouterr().err
    assert err == (
        "inpaint-studio: the window needs the system library libxcb-cursor0 "
        "(Debian/Ubuntu: sudo apt install libxcb-cursor0; Fedora: sudo dnf install xcb-util-cursor)\n"
    )
    from inpaint_studio.session.logs import active_log_file

    assert "missing: libxcb-cursor.so.0" in active_log_file().read_text(encoding="utf-8")


def test_every_missing_package_is_named_once(x11_desktop, monkeypatch):
    missing = _missing("libxcb-cursor.so.0", "libxcb-shm.so.0", "libxcb-sync.so.1", "libGL.so.1")
    monkeypatch.setattr(application, "library_loads", missing)
    message = application.missing_libraries_message(application.missing_desktop_libraries())
    needs = "the window needs the system libraries libgl1, libxcb-cursor0, libxcb-shm0, libxcb-sync1 "
    assert message.startswith(f"inpaint-studio: {needs}(")
    assert "sudo apt install libgl1 libxcb-cursor0 libxcb-shm0 libxcb-sync1;" in message
    assert message.endswith("Fedora: sudo dnf install libglvnd-glx xcb-util-cursor libxcb)")  # libxcb once
    assert "\n" not in message


def test_xcb_libraries_matter_only_where_qt_loads_its_xcb_plugin(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(application, "library_loads", _missing("libxcb-cursor.so.0"))
    assert application.missing_desktop_libraries({"QT_QPA_PLATFORM": "xcb"})
    assert application.missing_desktop_libraries({"DISPLAY": ":0"})
    assert not application.missing_desktop_libraries({"QT_QPA_PLATFORM": "wayland"})
    assert not application.missing_desktop_libraries({"QT_QPA_PLATFORM": "offscreen"})
    assert not application.missing_desktop_libraries({"WAYLAND_DISPLAY": "wayland-0"})
    monkeypatch.setattr(sys, "platform", "win32")
    assert not application.missing_desktop_libraries({})


def test_the_command_line_does_not_need_them(monkeypatch, capsys):
    def no_library(name):
        raise AssertionError("the command line checked the desktop libraries")

    monkeypatch.setattr(application, "library_loads", no_library)
    from inpaint_studio.cli import main

    assert main(["engines"]) == 0
    assert "telea" in capsys.readouterr().out


def test_every_library_here_loads():
    """On this machine nothing is missing (the tests' windows open), so the check does not cry wolf."""
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    assert application.missing_desktop_libraries({"QT_QPA_PLATFORM": "xcb"}) == []


def test_the_list_holds_every_system_library_qt_links_to():
    """Qt's GUI library and its xcb plugin need nothing from the system that the check leaves out (readelf -d)."""
    if not sys.platform.startswith("linux") or not shutil.which("readelf"):
        pytest.skip("needs Linux and readelf")
    from PySide6.QtCore import QLibraryInfo

    libraries = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.LibrariesPath))
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    binaries = [libraries / "libQt6Gui.so.6", libraries / "libQt6Widgets.so.6", libraries / "libQt6XcbQpa.so.6"]
    binaries.append(plugins / "platforms" / "libqxcb.so")
    needed = set()
    for binary in binaries:
        dynamic = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
        needed |= {line.split("[")[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line}
    from_qt = {name for name in needed if (libraries / name).exists()}
    # glibc (libdl and libpthread are part of it; Qt 6.5 still links them), the C++ runtime, zlib and zstd are on
    # every Linux system (dpkg and apt need them).
    glibc_and_runtime = ("libc", "libm", "libdl", "libpthread", "libstdc++", "libgcc_s", "libz", "libzstd")
    everywhere = {name for name in needed if name.split(".so")[0] in glibc_and_runtime}
    checked = {name for name, _debian, _fedora in application.LINUX_GUI_LIBRARIES + application.XCB_LIBRARIES}
    assert needed - from_qt - everywhere - checked == set()

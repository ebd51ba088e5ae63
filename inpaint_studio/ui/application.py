"""Start the desktop application."""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from inpaint_studio import APP_NAME, __version__
from inpaint_studio.core.errors import SelfCheckFailed

DESKTOP_FILE_NAME = "inpaint-studio"  # resources/inpaint-studio.desktop; the Wayland app id
# Set to 1 to print how long after process start the main window was first shown, then quit
# (benchmarks/bench_frozen_app.py measures start-up with it).
STARTUP_PROBE_ENV = "INPAINT_STUDIO_STARTUP_PROBE"
_IMPORTED = time.perf_counter()
qt_log = logging.getLogger("inpaint_studio.qt")

# System libraries Qt needs on Linux that its wheel does not bring: (file, Debian/Ubuntu package, Fedora package).
# Qt's GUI libraries need these whatever the platform plugin (readelf -d libQt6Gui.so.6) ...
LINUX_GUI_LIBRARIES = (
    ("libEGL.so.1", "libegl1", "libglvnd-egl"),
    ("libGL.so.1", "libgl1", "libglvnd-glx"),
    ("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    ("libfreetype.so.6", "libfreetype6", "freetype"),
    ("libglib-2.0.so.0", "libglib2.0-0", "glib2"),
    ("libgthread-2.0.so.0", "libglib2.0-0", "glib2"),
    ("libX11.so.6", "libx11-6", "libX11"),
    ("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
)
# ... and the xcb (X11) platform plugin these (libqxcb.so, libQt6XcbQpa.so.6); libxcb-cursor0 since Qt 6.5 is the
# one a bare machine most often lacks. Without them Qt aborts with "could not load the Qt platform plugin".
XCB_LIBRARIES = (
    ("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    ("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    ("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    ("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    ("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    ("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    ("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    ("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    ("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    ("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    ("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    ("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    ("libxcb.so.1", "libxcb1", "libxcb"),
    ("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
)


def library_loads(name: str) -> bool:
    """Whether the dynamic loader finds the library `name` as Qt will: the system's folders, and a standalone app's own."""
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def uses_xcb(environ: Mapping[str, str]) -> bool:
    """Whether Qt will load its xcb (X11) plugin: asked for in QT_QPA_PLATFORM, or by default outside a Wayland session."""
    asked = environ.get("QT_QPA_PLATFORM", "").strip()
    if asked:
        return asked.split(";")[0].split(":")[0].strip() == "xcb"
    return not environ.get("WAYLAND_DISPLAY")


def missing_desktop_libraries(environ: Mapping[str, str] = os.environ) -> list[tuple[str, str, str]]:
    """The system libraries the window needs here that cannot be loaded (Linux only)."""
    if not sys.platform.startswith("linux"):
        return []
    needed = LINUX_GUI_LIBRARIES + (XCB_LIBRARIES if uses_xcb(environ) else ())
    return [entry for entry in needed if not library_loads(entry[0])]


def missing_libraries_message(missing: list[tuple[str, str, str]]) -> str:
    """One line naming the packages to install, for Debian/Ubuntu and for Fedora."""
    debian = list(dict.fromkeys(package for _name, package, _fedora in missing))
    fedora = list(dict.fromkeys(package for _name, _debian, package in missing))
    noun = "library" if len(debian) == 1 else "libraries"
    return (
        f"inpaint-studio: the window needs the system {noun} {', '.join(debian)} "
        f"(Debian/Ubuntu: sudo apt install {' '.join(debian)}; Fedora: sudo dnf install {' '.join(fedora)})"
    )


def _qt_message(kind, context, message: str) -> None:
    from PySide6.QtCore import QtMsgType

    level = {
        QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR, QtMsgType.QtFatalMsg: logging.CRITICAL
    }.get(kind)
    if level is None:  # debug and info: Qt's chatter, not worth the log
        return
    category = context.category if context is not None else None
    qt_log.log(level, "%s%s", message, f" [{category}]" if category and category != "default" else "")
    if level >= logging.ERROR and sys.stderr is not None:  # Qt may end the process next: say why in the terminal too
        print(f"inpaint-studio: Qt: {message}", file=sys.stderr, flush=True)


def route_qt_messages():
    """Qt's own warnings and errors go to the log file, not to a terminal the user may not have; returns the handler replaced."""
    from PySide6.QtCore import qInstallMessageHandler

    return qInstallMessageHandler(_qt_message)


def configure_application(app) -> None:
    """Name, version and icon of the QApplication `app` (the window and the self-test share this)."""
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QIcon

    from inpaint_studio.resources import icon_paths

    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName("Inpaint Studio")
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    icon = QIcon()
    for size, path in icon_paths().items():
        icon.addFile(str(path), QSize(size, size))
    app.setWindowIcon(icon)


def seconds_since_process_start() -> float:
    """Wall time since this process started (Linux: from /proc; elsewhere since this module was imported)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time in ticks after boot
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _IMPORTED


def _probe_startup(app, window) -> None:
    """Print the time to the window's first exposure on stdout, then quit."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    class ExposeProbe(QObject):
        def eventFilter(self, watched, event):  # noqa: N802
            if event.type() == QEvent.Type.Expose and watched.isExposed():
                watched.removeEventFilter(self)
                print(f"startup-probe: window shown {seconds_since_process_start():.3f} s after process start", flush=True)
                QTimer.singleShot(0, window.close)
                QTimer.singleShot(0, app.quit)
            return False

    # Expose goes to the native window (QWindow), not the widget: create it now to watch it.
    window.winId()
    window._startup_probe = ExposeProbe(window)
    window.windowHandle().installEventFilter(window._startup_probe)


def run_gui(paths: list[str]) -> int:
    """Open the main window (and the first photo in `paths`), run until it closes."""
    from inpaint_studio.session.logs import install_crash_handlers, setup_logging, trace_native_crashes

    setup_logging()
    # Before Qt is loaded: a missing system library would otherwise end the process with Qt's raw message.
    missing = missing_desktop_libraries()
    if missing:
        message = missing_libraries_message(missing)
        qt_log.error("%s (missing: %s)", message, ", ".join(name for name, _debian, _fedora in missing))
        print(message, file=sys.stderr)
        return 1
    trace_native_crashes()
    route_qt_messages()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_application(app)
    from inpaint_studio.ui.crash_dialog import CrashNotifier

    # Uncaught exceptions (in slots, on threads, while starting) go to the log and a message box.
    notifier = CrashNotifier(app)
    install_crash_handlers(notifier.notify)
    from inpaint_studio.ui.main_window import MainWindow

    window = MainWindow()
    if os.environ.get(STARTUP_PROBE_ENV):
        _probe_startup(app, window)
    window.show()
    recovered = window.offer_recovery()  # after a crash, the autosaved work comes first
    if paths and not recovered:
        window.open_file(Path(paths[0]), confirm=False)
    return app.exec()


def platform_plugins() -> tuple[list[str], list[str]]:
    """Desktop platform plugins this OS needs (required, optional)."""
    if sys.platform.startswith("linux"):
        return ["xcb"], ["wayland"]
    if sys.platform == "darwin":
        return ["cocoa"], []
    if sys.platform == "win32":
        return ["windows"], []
    return [], []


def check_offscreen_window(photo: Path, width: int, temp: Path) -> str:
    """The self-test's window check: Qt's plugins are there and the main window opens `photo` (`width` wide).

    Never needs a display: a self-test process shows no window, so it draws offscreen.
    Raises SelfSelfCheckFailed saying what is missing.
    """
    from PySide6.QtCore import QLibraryInfo
    from PySide6.QtGui import QImageReader
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from inpaint_studio.session.settings import Settings
    from inpaint_studio.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "inpaint-studio"])
    configure_application(app)
    plugin_root = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    available = sorted(p.name for p in (plugin_root / "platforms").glob("*") if p.is_file())
    required, optional = platform_plugins()

    def present(name: str) -> bool:
        return any(f"q{name}" in file for file in available)

    missing = [name for name in required if not present(name)]
    if missing:
        raise SelfCheckFailed(f"Qt platform plugin(s) {', '.join(missing)} missing from {plugin_root / 'platforms'}")
    formats = {bytes(f.data()).decode() for f in QImageReader.supportedImageFormats()}
    if not {"jpeg", "png"} <= formats:
        raise SelfCheckFailed(f"Qt image format plugins missing (have: {', '.join(sorted(formats))})")
    if QApplication.windowIcon().isNull():  # static: the icon configure_application gave `app`
        raise SelfCheckFailed("the application icon could not be loaded")
    window = MainWindow(Settings(), settings_path=temp / "settings.json", autosave_folder=temp / "autosave")
    try:
        window.open_file(photo, confirm=False)
        app.processEvents()
        title = window.windowTitle()
        if f"{APP_NAME} {__version__}" not in title:
            raise SelfCheckFailed(f"unexpected window title '{title}'")
        if window.document is None or window.document.photo.width != width:
            raise SelfCheckFailed("the window did not open the result")
    finally:
        window.close()
        window.deleteLater()
        app.processEvents()
    extra = [name for name in optional if present(name)]
    plugins = ", ".join(required + extra) or "none needed"
    return f"main window built offscreen; platform plugins: {plugins}; image formats: {len(formats)}"

"""Start the desktop application."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from inpaint_studio import APP_NAME, __version__
from inpaint_studio.core.errors import SelfCheckFailed

DESKTOP_FILE_NAME = "inpaint-studio"  # resources/inpaint-studio.desktop; the Wayland app id
# Set to 1 to print how long after process start the main window was first shown, then quit
# (benchmarks/bench_frozen_app.py measures start-up with it).
STARTUP_PROBE_ENV = "INPAINT_STUDIO_STARTUP_PROBE"
_IMPORTED = time.perf_counter()


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
    from inpaint_studio.session.logs import install_crash_handlers, setup_logging

    setup_logging()
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

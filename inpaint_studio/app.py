"""Start the desktop application."""

from __future__ import annotations

import sys
from pathlib import Path

from inpaint_studio import APP_NAME, __version__


def run_gui(paths: list[str]) -> int:
    """Open the main window (and the first photo in `paths`), run until it closes."""
    from PySide6.QtWidgets import QApplication

    from inpaint_studio.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName("Inpaint Studio")
    window = MainWindow()
    window.show()
    recovered = window.offer_recovery()  # after a crash, the autosaved work comes first
    if paths and not recovered:
        window.open_file(Path(paths[0]), confirm=False)
    return app.exec()

"""The text of Help > About: name, version, licence, and where the log is."""

from __future__ import annotations

import html
import platform
import sys

from inpaint_studio import APP_NAME, LICENCE, __version__
from inpaint_studio.core.paths import log_dir
from inpaint_studio.session.logs import active_log_file


def about_text() -> str:
    """Rich text for QMessageBox.about."""
    from PySide6 import __version__ as pyside_version

    log_path = active_log_file()
    log_line = (
        f"Log file: <code>{html.escape(str(log_path))}</code>"
        if log_path is not None
        else f"Log folder: <code>{html.escape(str(log_dir()))}</code> (no log file open)"
    )
    build = "standalone app" if getattr(sys, "frozen", False) else "Python install"
    return (
        f"<h3>{APP_NAME} {__version__}</h3>"
        "<p>Remove objects and repair damaged photos with local inpainting engines. "
        "Nothing leaves your machine.</p>"
        f"<p>Licence: {LICENCE}. The sample photo is a public-domain SpaceX launch photo.</p>"
        f"<p>{log_line}</p>"
        f"<p><small>{build}; Python {platform.python_version()}, Qt for Python {pyside_version}, "
        f"{html.escape(platform.system())}</small></p>"
    )

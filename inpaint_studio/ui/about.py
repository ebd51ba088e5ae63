"""Help > About: name, version, licence, where the log is; the third-party licences; About Qt."""

from __future__ import annotations

import html
import platform
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFontDatabase, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from inpaint_studio import APP_NAME, LICENCE, __version__
from inpaint_studio.core.paths import log_dir
from inpaint_studio.resources import resource_path
from inpaint_studio.session.logs import active_log_file
from inpaint_studio.ui.actions import make_action

# Written by packaging/third_party_notices.py; the standalone app's build writes its own copy here.
NOTICES_FILE = "THIRD_PARTY_NOTICES.txt"


def about_text() -> str:
    """Rich text for the About box."""
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
        f"<p>Licence: {LICENCE}. The sample photo is a public-domain SpaceX launch photo. "
        "It uses Qt (LGPL-3.0), OpenCV, torch, numba and other open-source software: "
        "see Third-party licences.</p>"
        f"<p>{log_line}</p>"
        f"<p><small>{build}; Python {platform.python_version()}, Qt for Python {pyside_version}, "
        f"{html.escape(platform.system())}</small></p>"
    )


def notices_path() -> Path:
    return resource_path(NOTICES_FILE)


def notices_text() -> str:
    """The third-party licences, or a sentence saying they are missing from this installation."""
    try:
        return notices_path().read_text(encoding="utf-8")
    except OSError as error:
        return f"The third-party licences could not be read from {notices_path()} ({error.strerror or error})."


def show_about(window: QWidget) -> QMessageBox:
    """Open the About box (window-modal, returns at once); its Third-party licences button opens those."""
    box = QMessageBox(window)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowTitle(f"About {APP_NAME}")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(about_text())
    icon = QApplication.windowIcon()
    if not icon.isNull():
        box.setIconPixmap(icon.pixmap(64, 64))
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    licences = box.addButton("Third-party &licences…", QMessageBox.ButtonRole.ActionRole)
    licences.clicked.connect(lambda: show_licences(window))  # a message box closes on any button
    box.open()
    return box


def show_licences(window: QWidget) -> LicencesDialog:
    dialog = LicencesDialog(window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def about_qt_action(window: QWidget) -> QAction:
    """Help > About Qt: Qt's own box, with its version and licence."""
    return make_action(window, "About &Qt", lambda: QMessageBox.aboutQt(window, "About Qt"))


class LicencesDialog(QDialog):
    """The licences of the software the app contains (THIRD_PARTY_NOTICES.txt), to scroll and search."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Third-party licences")
        self.find_field = QLineEdit(self)
        self.find_field.setPlaceholderText("Find (Enter: next match)")
        self.find_field.setClearButtonEnabled(True)
        self.find_field.returnPressed.connect(self.find_next)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlainText(notices_text())
        self.status = QLabel(f"From {notices_path()}", self)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        # Enter belongs to the find field: it must not press Close.
        buttons.button(QDialogButtonBox.StandardButton.Close).setAutoDefault(False)
        QShortcut(QKeySequence.StandardKey.Find, self, self.find_field.setFocus)
        QShortcut(QKeySequence.StandardKey.FindNext, self, self.find_next)
        layout = QVBoxLayout(self)
        layout.addWidget(self.find_field)
        layout.addWidget(self.text)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.resize(860, 640)
        self.find_field.setFocus()

    def find_next(self) -> bool:
        """Select the next match of the find field's text after the cursor, from the top again at the end."""
        needle = self.find_field.text()
        if not needle:
            return False
        found = self.text.find(needle)
        if not found:
            cursor = self.text.textCursor()
            cursor.movePosition(cursor.MoveOperation.Start)
            self.text.setTextCursor(cursor)
            found = self.text.find(needle)
        self.status.setText("" if found else f"“{needle}” is not in the licences.")
        return found

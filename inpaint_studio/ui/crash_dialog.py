"""Tells the user, in a message box, that something unexpected happened and where the log is.

`CrashNotifier.notify` is the callback `logs.install_crash_handlers` calls with a
`CrashReport` (the traceback is already in the log by then). It may be called on
any thread: a signal brings the report to the GUI thread. The box is shown
without a nested event loop once the application runs (an exception in a paint
handler must not start a loop of dialogs), at most one at a time and a few per
session; before the event loop runs (a failure while starting) it is modal, so
the user sees it before the process ends. If Qt itself is broken the report has
still been logged and is printed to standard error instead.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox

from inpaint_studio import APP_NAME
from inpaint_studio.session.logs import CrashReport

MAX_DIALOGS = 3  # per session; later reports are only logged


class CrashNotifier(QObject):
    reported = Signal(object)  # a CrashReport, delivered on the GUI thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.shown = 0
        self.box: QMessageBox | None = None
        self.event_loop_running = False
        self.reported.connect(self._show, Qt.ConnectionType.AutoConnection)
        # Runs once the application's event loop has started.
        QTimer.singleShot(0, self._loop_started)

    def _loop_started(self) -> None:
        self.event_loop_running = True

    def notify(self, report: CrashReport) -> None:
        """Show `report` (any thread). Never raises."""
        try:
            if QApplication.instance() is None:
                raise RuntimeError("no QApplication")
            self.reported.emit(report)
        except Exception as error:  # noqa: BLE001 - Qt is gone or broken: the terminal is all that is left
            _print(report, error)

    @Slot(object)
    def _show(self, report: CrashReport) -> None:
        if self.box is not None or self.shown >= MAX_DIALOGS:
            return  # one at a time; the log has every report
        try:
            self.shown += 1
            box = QMessageBox(
                QMessageBox.Icon.Critical, f"{APP_NAME}: unexpected error", report.message(), parent=QApplication.activeWindow()
            )
            box.setObjectName("crash-dialog")
            box.setDetailedText(report.details)
            box.setStandardButtons(QMessageBox.StandardButton.Close)
            if report.log_path is not None:
                folder = report.log_path.parent
                open_button = box.addButton("Open Log Folder", QMessageBox.ButtonRole.ActionRole)
                open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))))
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.finished.connect(self._closed)
            self.box = box
            if self.event_loop_running:
                box.open()
            else:
                box.exec()
        except Exception as error:  # noqa: BLE001
            self.box = None
            _print(report, error)

    def _closed(self) -> None:
        self.box = None


def _print(report: CrashReport, error: BaseException) -> None:
    stream = sys.stderr or sys.__stderr__
    if stream is not None:
        stream.write(f"{APP_NAME}: {report.message()}\n(The message box could not be shown: {error})\n")

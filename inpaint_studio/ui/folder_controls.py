"""The folder being browsed, as the window shows it: the filmstrip dock, the Go actions, the position.

Which photo is shown, what happens to each photo's document and where Save
All writes are the workspace's rules (`session.workspace`, `session.folder`);
this follows its events and turns the user's clicks and keys into its calls.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMainWindow

from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.session.workspace import FolderMove, Workspace, WorkspaceEvent
from inpaint_studio.ui.actions import make_action
from inpaint_studio.ui.cursors import busy_cursor
from inpaint_studio.ui.folder_strip import FolderStrip

Status = Callable[[str, int], None]


class FolderControls(QObject):
    def __init__(self, workspace: Workspace, window: QMainWindow, status: Status) -> None:
        super().__init__(window)
        self.workspace = workspace
        self.window = window
        self.status = status
        self.strip = FolderStrip(window)
        self.strip.toggleViewAction().setText("&Filmstrip")
        self.strip.photo_activated.connect(self.show_photo)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.strip)
        self.strip.hide()  # until a folder is open
        self.next_action = make_action(self.window, "&Next photo", lambda: self.step(1), "PgDown")
        self.previous_action = make_action(self.window, "&Previous photo", lambda: self.step(-1), "PgUp")
        self.first_action = make_action(self.window, "&First photo", lambda: self.go_to(0), "Home")
        self.last_action = make_action(self.window, "&Last photo", lambda: self.go_to(-1), "End")
        self.label = QLabel()
        window.statusBar().addPermanentWidget(self.label)
        workspace.listeners.append(self._workspace_changed)
        self._update()

    @property
    def actions(self) -> list[QAction]:
        return [self.next_action, self.previous_action, self.first_action, self.last_action]

    def show_photo(self, index: int) -> bool:
        """Switch to photo `index`; one that cannot be opened says why and the current photo stays."""
        folder = self.workspace.folder
        if folder is None or not 0 <= index < len(folder):
            return False
        with busy_cursor():
            try:
                self.workspace.show_folder_photo(index)
            except InpaintStudioError as error:
                failure = str(error)
            else:
                failure = ""
        if failure:
            self.status(failure, 8000)
            self.strip.set_current(folder.index)
            return False
        return True

    def step(self, delta: int) -> None:
        """Next (+1) or previous (-1) photo, stepping over photos that cannot be opened; stops at the ends."""
        if self.workspace.folder is None:
            return
        with busy_cursor():
            move = self.workspace.step(delta)
        if move.at_end:
            self.status("This is the last photo." if delta > 0 else "This is the first photo.", 2000)
        self._report(move)

    def go_to(self, index: int) -> None:
        """First (0) or last (-1) photo of the folder."""
        if self.workspace.folder is None:
            return
        with busy_cursor():
            move = self.workspace.go_to(index)
        self._report(move)

    def _report(self, move: FolderMove) -> None:
        if move.skipped:
            self.status(f"Skipped {', '.join(move.skipped)}: cannot be opened.", 8000)

    def _workspace_changed(self, event: WorkspaceEvent, index: int | None) -> None:
        if event == WorkspaceEvent.FOLDER:
            folder = self.workspace.folder
            self.strip.set_session(folder)
            self.strip.setVisible(folder is not None)
            if folder is not None:
                self.window.resizeDocks([self.strip], [self.strip.preferred_height()], Qt.Orientation.Vertical)
        elif event == WorkspaceEvent.FOLDER_PHOTO and index is not None:
            self.strip.refresh_row(index)
        elif event == WorkspaceEvent.DOCUMENT and self.workspace.folder is not None:
            self.strip.set_current(self.workspace.folder.index)
        self._update()

    def _update(self) -> None:
        folder = self.workspace.folder
        self.label.setText(folder.position_text() if folder is not None else "")
        self.label.setVisible(folder is not None)
        index = folder.index if folder is not None else None
        self.next_action.setEnabled(folder is not None and index is not None and index + 1 < len(folder))
        self.previous_action.setEnabled(index is not None and index > 0)
        self.first_action.setEnabled(index is not None)
        self.last_action.setEnabled(index is not None)

    def shutdown(self) -> None:
        self.strip.shutdown()


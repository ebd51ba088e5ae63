"""Browsing a folder in the main window: the filmstrip, Go to next/previous photo, Save All.

A mixin of `MainWindow`, kept apart because it is one concept of its own. Each
photo of the folder keeps its document (mask, layers, history) in the
`FolderSession` while the folder is open; the window shows one at a time. It
relies on the window's `document`, `export_path`, `project_path`, `settings`,
`autosave`, `_rerun_wanted`, `_action`, `_set_document`, `_quality`,
`cancel_job`, `_confirm_discard` and `show_error`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QMessageBox

from inpaint_studio.core.document import Document
from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.io import default_output_path, save_image
from inpaint_studio.session.folder import FolderSession
from inpaint_studio.ui.folder_strip import FolderStrip


class FolderBrowsing:
    """The folder part of `MainWindow` (see the module docstring for what it needs of the window)."""

    def _build_folder_browsing(self) -> None:
        """The filmstrip dock, the Open Folder and Go actions, and the position in the status bar."""
        self.folder_session: FolderSession | None = None  # the open folder, when browsing one
        self.folder_strip = FolderStrip(self)
        self.folder_strip.toggleViewAction().setText("&Filmstrip")
        self.folder_strip.photo_activated.connect(self.show_folder_photo)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.folder_strip)
        self.folder_strip.hide()  # until a folder is open
        self.open_folder_action = self._action("Open &Folder…", self.open_folder_dialog, QKeySequence("Ctrl+Shift+O"))
        self.next_photo_action = self._action("&Next photo", lambda: self.step_photo(1), QKeySequence("PgDown"))
        self.previous_photo_action = self._action("&Previous photo", lambda: self.step_photo(-1), QKeySequence("PgUp"))
        self.first_photo_action = self._action("&First photo", lambda: self.go_to_photo(0), QKeySequence("Home"))
        self.last_photo_action = self._action("&Last photo", lambda: self.go_to_photo(-1), QKeySequence("End"))
        self.folder_label = QLabel()
        self.statusBar().addPermanentWidget(self.folder_label)
        self._update_folder_status()

    def open_folder_dialog(self) -> None:
        if not self._confirm_discard():
            return
        folder = QFileDialog.getExistingDirectory(self, "Open folder", self.settings.last_folder)
        if folder:
            self.open_folder(Path(folder), confirm=False)

    def open_folder(self, folder: Path, confirm: bool = True) -> bool:
        """Browse the photos in `folder`: the filmstrip lists them and the first readable one opens."""
        if confirm and not self._confirm_discard():
            return False
        try:
            session = FolderSession.open(folder, on_change=self._folder_marks_changed)
        except InpaintStudioError as error:
            self.show_error("Cannot open the folder", str(error))
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            document, skipped = self._show_first_readable(session, 0, 1)
        finally:
            QApplication.restoreOverrideCursor()
        if document is None:
            session.close()
            self.show_error("Cannot open the folder", f"None of the {len(session)} photos in '{folder}' can be opened.")
            return False
        self.cancel_job()  # a fill for the previous photo would land in a document that is closing
        self._close_folder()
        self.folder_session = session
        self.folder_strip.set_session(session)
        self.folder_strip.show()
        self.resizeDocks([self.folder_strip], [self.folder_strip.preferred_height()], Qt.Orientation.Vertical)
        self._show_folder_document(document)
        self.settings.last_folder = str(Path(folder).resolve())
        if skipped:
            self.statusBar().showMessage(f"Skipped {', '.join(skipped)}: cannot be opened.", 8000)
        return True

    def _show_first_readable(self, session: FolderSession, start: int, direction: int) -> tuple[Document | None, list[str]]:
        """Show the first photo from `start` on, in `direction`, that opens; the names of those that did not."""
        skipped = []
        index = start
        while 0 <= index < len(session):
            try:
                return session.show(index), skipped
            except InpaintStudioError:
                skipped.append(session.photos[index].name)
                if session is self.folder_session:
                    self.folder_strip.refresh_row(index)  # its row shows the bad-file picture
            index += direction
        return None, skipped

    def show_folder_photo(self, index: int) -> bool:
        """Switch to photo `index` of the folder; its document keeps its mask, layers and history."""
        session = self.folder_session
        if session is None or not 0 <= index < len(session):
            return False
        if index == session.index:
            return True
        self._remember_folder_paths()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            document = session.show(index)
        except InpaintStudioError as error:
            self.statusBar().showMessage(str(error), 8000)
            self.folder_strip.refresh_row(index)
            self.folder_strip.set_current(session.index)
            return False
        finally:
            QApplication.restoreOverrideCursor()
        # A run queued for the previous photo is not one for this photo; its job in flight still
        # finishes and lands on its own photo (see _worker_message).
        self._rerun_wanted = False
        self._show_folder_document(document)
        return True

    def step_photo(self, delta: int) -> None:
        """Next (+1) or previous (-1) photo, stepping over photos that cannot be opened; stops at the ends."""
        session = self.folder_session
        if session is None:
            return
        target = session.step(delta)
        if target is None:
            self.statusBar().showMessage("This is the last photo." if delta > 0 else "This is the first photo.", 2000)
            return
        self._go_from(target, 1 if delta > 0 else -1)

    def go_to_photo(self, index: int) -> None:
        """First (0) or last (-1) photo of the folder."""
        if self.folder_session is not None:
            self._go_from(index % len(self.folder_session), 1 if index >= 0 else -1)

    def _go_from(self, start: int, direction: int) -> None:
        session = self.folder_session
        self._remember_folder_paths()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            current = session.index
            document, skipped = self._show_first_readable(session, start, direction)
        finally:
            QApplication.restoreOverrideCursor()
        if document is not None and session.index != current:
            self._rerun_wanted = False
            self._show_folder_document(document)
        if skipped:
            self.statusBar().showMessage(f"Skipped {', '.join(skipped)}: cannot be opened.", 8000)

    def _show_folder_document(self, document: Document) -> None:
        photo = self.folder_session.current
        self._set_document(document)
        self.autosave.set_document(document, str(photo.path), keep_previous=True)  # edited photos keep theirs
        self.export_path, self.project_path = photo.export_path, photo.project_path
        self.folder_strip.set_current(photo.index)
        self._update_folder_status()

    def _remember_folder_paths(self) -> None:
        """Where the shown photo was saved is its own: Save writes there again when it comes back."""
        photo = self.folder_session.current if self.folder_session is not None else None
        if photo is not None and photo.document is self.document:
            photo.export_path, photo.project_path = self.export_path, self.project_path

    def _folder_marks_changed(self, index: int) -> None:
        self.folder_strip.refresh_row(index)

    def _folder_photo_exported(self, path: Path) -> None:
        session = self.folder_session
        if session is not None and session.current is not None and session.current.document is self.document:
            session.mark_exported(session.index, path)

    def _update_folder_status(self) -> None:
        session = self.folder_session
        self.folder_label.setText(session.position_text() if session is not None else "")
        self.folder_label.setVisible(session is not None)
        index = session.index if session is not None else None
        self.next_photo_action.setEnabled(index is not None and index + 1 < len(session))
        self.previous_photo_action.setEnabled(index is not None and index > 0)
        self.first_photo_action.setEnabled(index is not None)
        self.last_photo_action.setEnabled(index is not None)

    def _close_folder(self) -> None:
        if self.folder_session is None:
            return
        self.folder_session.close()
        self.folder_session = None
        # Every photo's changes were saved or discarded when the user was asked: no autosave keeps them.
        self.autosave.set_document(None, "")
        self.autosave.forget_kept()
        self.folder_strip.set_session(None)
        self.folder_strip.hide()
        self._update_folder_status()

    def _confirm_discard_folder(self) -> bool:
        """One question for every photo of the folder with changes not exported; Save All writes them all."""
        edited = self.folder_session.edited()
        if not edited:
            return True
        names = ", ".join(f"'{photo.name}'" for photo in edited[:3])
        if len(edited) > 3:
            names += f" and {len(edited) - 3} more"
        count = f"{len(edited)} photo{'s' if len(edited) != 1 else ''}"
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"{count} in this folder {'have' if len(edited) != 1 else 'has'} changes that are not exported: {names}.\n\n"
            "Save All writes each one where it was last saved, or beside its photo as NAME_inpainted.",
            QMessageBox.StandardButton.SaveAll | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.SaveAll,
        )
        if answer == QMessageBox.StandardButton.SaveAll:
            return self._save_all(edited)
        return answer == QMessageBox.StandardButton.Discard

    def _save_all(self, photos) -> bool:
        """Export each of `photos` without asking for names; False (after saying why) if any failed."""
        self._remember_folder_paths()
        failures = []
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            for photo in photos:
                document = photo.document
                path = photo.export_path or default_output_path(photo.path)
                try:
                    save_image(document.photo, document.composite, path, overwrite=False, quality=self._quality())
                except InpaintStudioError as error:
                    failures.append(str(error))
                    continue
                document.mark_saved()
                self.folder_session.mark_exported(photo.index, path)
                if document is self.document:
                    self.export_path = path
        finally:
            QApplication.restoreOverrideCursor()
        if failures:
            self.show_error("Cannot save", "\n".join(failures))
            return False
        return True

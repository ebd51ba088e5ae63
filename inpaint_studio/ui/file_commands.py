"""File commands of the window: the dialogs and questions around the workspace's open and save rules.

The rules themselves (what opens how, where Save writes, what counts as
unsaved) live in `session.workspace`; this asks the user for names and
answers and shows what went wrong, in plain words.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QMessageBox, QWidget

from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.io.formats import chosen_suffix, open_dialog_filter, save_dialog_filter
from inpaint_studio.io.project_file import PROJECT_SUFFIX
from inpaint_studio.session.workspace import Workspace
from inpaint_studio.ui import recovery
from inpaint_studio.ui.actions import make_action
from inpaint_studio.ui.clipboard import pasted_image
from inpaint_studio.ui.cursors import busy_cursor

OPEN_FILTER = open_dialog_filter(PROJECT_SUFFIX)  # the photo formats of io.formats, and projects
PROJECT_FILTER = "OpenRaster project (*.ora)"
SAVE_FILTER = save_dialog_filter()  # the formats that can be written here

Status = Callable[[str, int], None]  # a message for the status bar, and for how many milliseconds


class FileCommands(QObject):
    def __init__(self, workspace: Workspace, parent: QWidget, status: Status) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.window = parent
        self.status = status
        self.recent_menu = QMenu("Open &Recent", parent)
        action = functools.partial(make_action, parent)
        self.open_action = action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.open_folder_action = action("Open &Folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        self.save_action = action("&Save", self.save, QKeySequence.StandardKey.Save)
        self.save_project_action = action("Save &Project As…", self.save_project_as, QKeySequence.StandardKey.SaveAs)
        self.save_as_action = action("&Export As…", self.save_as, "Ctrl+Shift+E")
        self.save_all_action = action("Save A&ll", self.save_all_command, "Ctrl+Alt+S")
        self.quality_action = action("Export &quality…", self.ask_quality)
        self.close_action = action("&Close", self.close_document, QKeySequence.StandardKey.Close)
        self.close_folder_action = action("Close Fol&der", self.close_folder)
        self.paste_action = action("&Paste as New Photo", self.paste, QKeySequence.StandardKey.Paste)

    @property
    def document_actions(self) -> list[QAction]:
        """The commands that need an open photo."""
        return [self.save_action, self.save_project_action, self.save_as_action, self.save_all_action, self.close_action]

    def update_actions(self) -> None:
        has_photo = self.workspace.document is not None
        for command in self.document_actions:
            command.setEnabled(has_photo)
        self.close_folder_action.setEnabled(self.workspace.folder is not None)

    def show_error(self, title: str, message: str) -> None:
        QMessageBox.warning(self.window, title, message)

    # ------------------------------------------------------------ opening

    def open_dialog(self) -> None:
        if not self.confirm_discard():
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Open photo", self.workspace.settings.last_folder, OPEN_FILTER)
        if path:
            self.open(Path(path), confirm=False)

    def open_folder_dialog(self) -> None:
        if not self.confirm_discard():
            return
        folder = QFileDialog.getExistingDirectory(self.window, "Open folder", self.workspace.settings.last_folder)
        if folder:
            self.open_folder(Path(folder), confirm=False)

    def open(self, path: Path, confirm: bool = True) -> bool:
        """Open a photo, project or folder; on failure show why and keep what is open."""
        if Path(path).is_dir():  # dropped, on the command line or from a menu: browse it
            return self.open_folder(Path(path), confirm=confirm)
        if confirm and not self.confirm_discard():
            return False
        with busy_cursor():
            try:
                self.workspace.open(Path(path))
            except InpaintStudioError as error:
                failure = str(error)
            else:
                failure = ""
        if failure:
            self.show_error("Cannot open the photo", failure)
            return False
        self.rebuild_recent_menu()
        return True

    def open_folder(self, folder: Path, confirm: bool = True) -> bool:
        """Browse the photos in `folder`: the filmstrip lists them and the first readable one opens."""
        if confirm and not self.confirm_discard():
            return False
        with busy_cursor():
            try:
                skipped = self.workspace.open_folder(folder)
            except InpaintStudioError as error:
                failure = str(error)
            else:
                failure = ""
        if failure:
            self.show_error("Cannot open the folder", failure)
            return False
        if skipped:
            self.status(f"Skipped {', '.join(skipped)}: cannot be opened.", 8000)
        return True

    def offer_recovery(self) -> bool:
        """After a crash: offer the autosaved work, and open it if the user wants it back."""
        autosave = self.workspace.autosave
        for session in autosave.recoverable():
            answer = recovery.ask(self.window, session)
            if answer == "discard":
                autosave.discard(session)
                continue
            if answer != "recover":
                continue  # asked again at the next start
            try:
                document = self.workspace.recover(session)
            except (InpaintStudioError, OSError) as error:
                QMessageBox.warning(self.window, "Cannot recover", str(error))
                continue
            self.status(f"Recovered your work on {document.photo.path.name}. Save it to keep it.", 8000)
            return True
        return False

    def paste(self) -> bool:
        """Edit > Paste: the clipboard's image as a new photo (after asking about unsaved changes)."""
        rgb = pasted_image()
        if rgb is None:
            self.status("The clipboard holds no image to paste.", 4000)
            return False
        if not self.confirm_discard():
            return False
        self.workspace.open_pixels(rgb)
        self.status("Pasted the clipboard's image as a new photo. Export As saves it.", 5000)
        return True

    def close_document(self) -> bool:
        """File > Close: the photo (or the folder being browsed), after asking about unsaved changes."""
        if not self.confirm_discard():
            return False
        self.workspace.close_document()
        return True

    def close_folder(self) -> bool:
        if self.workspace.folder is None:
            return False
        return self.close_document()

    def save_all_command(self) -> bool:
        """File > Save All: every edited photo of the folder, or the one photo open."""
        if self.workspace.folder is not None:
            return self.save_all()
        return self.save() if self.workspace.unsaved() else True

    def rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for entry in self.workspace.settings.recent_files:
            action = self.recent_menu.addAction(entry)
            action.triggered.connect(lambda checked=False, p=entry: self.open(Path(p)))
        self.recent_menu.setEnabled(bool(self.workspace.settings.recent_files))

    # ------------------------------------------------------------ saving

    def save(self) -> bool:
        """A project updates its .ora; a photo is written where it was last saved, or Export As asks where."""
        if self.workspace.document is None:
            return False
        if self.workspace.project_path is not None:
            return self._save_project(self.workspace.project_path)
        target = self.workspace.export_target()
        if target is None:
            return self.save_as()
        return self._export(target, overwrite=False)

    def save_as(self) -> bool:
        if self.workspace.document is None:
            return False
        suggestion = self.workspace.export_suggestion()
        path, choice = QFileDialog.getSaveFileName(self.window, "Export the edited photo as", str(suggestion), SAVE_FILTER)
        if not path:
            return False
        target = self.workspace.export_name(Path(path), chosen_suffix(choice))
        # The file dialog already asked before replacing the file named, the original included; not one
        # whose name got its extension here.
        if target != Path(path) and target.exists() and not self._replace_ok(target):
            return False
        return self._export(target, overwrite=True)

    def _replace_ok(self, path: Path) -> bool:
        answer = QMessageBox.question(
            self.window, "Replace the file?", f"'{path.name}' already exists in '{path.parent}'. Replace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _export(self, path: Path, overwrite: bool) -> bool:
        warnings: list[str] = []  # what the file could not keep: said, never lost silently
        try:
            written = self.workspace.export(path, overwrite=overwrite, warn=warnings.append)
        except InpaintStudioError as error:
            self.show_error("Cannot save", str(error))
            return False
        if warnings:
            self.status(" ".join([f"Saved {written}.", *warnings]), 15000)
        else:
            self.status(f"Saved {written}", 5000)
        return True

    def save_project_as(self) -> bool:
        """Save layers, mask and provenance as an OpenRaster file (opens in GIMP and Krita too)."""
        if self.workspace.document is None:
            return False
        suggestion = self.workspace.project_suggestion()
        path, _ = QFileDialog.getSaveFileName(self.window, "Save project", str(suggestion), PROJECT_FILTER)
        return bool(path) and self._save_project(Path(path))

    def _save_project(self, path: Path) -> bool:
        try:
            written = self.workspace.save_project(path)
        except InpaintStudioError as error:
            self.show_error("Cannot save the project", str(error))
            return False
        self.status(f"Saved project {written}", 5000)
        return True

    def ask_quality(self) -> None:
        settings = self.workspace.settings
        quality, ok = QInputDialog.getInt(
            self.window,
            "Export quality",
            "JPEG and WebP quality (1-100), or 0 to keep each photo's own quality:",
            settings.jpeg_quality,
            0,
            100,
        )
        if ok:
            settings.jpeg_quality = quality

    def confirm_discard(self) -> bool:
        """True when nothing unsaved would be lost, or the user chose to save or discard it."""
        names = self.workspace.unsaved()
        if not names:
            return True
        if self.workspace.folder is not None:
            return self._confirm_discard_folder(names)
        answer = QMessageBox.question(
            self.window,
            "Unsaved changes",
            f"Save the changes to '{names[0]}' before closing it?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def _confirm_discard_folder(self, names: list[str]) -> bool:
        """One question for every photo of the folder with changes not exported; Save All writes them all."""
        listed = ", ".join(f"'{name}'" for name in names[:3])
        if len(names) > 3:
            listed += f" and {len(names) - 3} more"
        count = f"{len(names)} photo{'s' if len(names) != 1 else ''}"
        answer = QMessageBox.question(
            self.window,
            "Unsaved changes",
            f"{count} in this folder {'have' if len(names) != 1 else 'has'} changes that are not exported: {listed}.\n\n"
            "Save All writes each one where it was last saved, or beside its photo as NAME_inpainted.",
            QMessageBox.StandardButton.SaveAll | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.SaveAll,
        )
        if answer == QMessageBox.StandardButton.SaveAll:
            return self.save_all()
        return answer == QMessageBox.StandardButton.Discard

    def save_all(self) -> bool:
        """Export every edited photo of the folder; False (after saying why) if any failed."""
        warnings: list[str] = []
        with busy_cursor():
            failures = self.workspace.save_all(warn=warnings.append)
        if warnings:
            self.status(" ".join(warnings), 15000)
        if failures:
            self.show_error("Cannot save", "\n".join(failures))
            return False
        return True


"""The main window: canvas, tools, panels, menus and toolbars, wired to the Qt-free workspace.

The rules (which document is shown, what Save writes, which document a fill
lands on) live in `session.workspace`; edits go through `core.Document`, fills
through the background `worker.EngineWorker`, so the window never blocks on
an engine and never loses the photo on an error. File dialogs and questions
are `file_commands.py`, the folder's filmstrip `folder_controls.py`, the
engine choice `engine_controls.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import QLabel, QMainWindow

from inpaint_studio import APP_NAME, __version__
from inpaint_studio.core.boxes import Box
from inpaint_studio.core.document import Document, DocumentEvent
from inpaint_studio.engines.registry import engine_class
from inpaint_studio.session.settings import Settings
from inpaint_studio.session.workspace import Workspace, WorkspaceEvent
from inpaint_studio.ui.about import about_qt_action, show_about
from inpaint_studio.ui.actions import make_action
from inpaint_studio.ui.background import on_gui_thread
from inpaint_studio.ui.batch_dialog import BatchDialog
from inpaint_studio.ui.canvas import CanvasView
from inpaint_studio.ui.clipboard import copy_image
from inpaint_studio.ui.editor_keys import EditorKeys, keep_focus_on_canvas
from inpaint_studio.ui.engine_controls import EngineControls
from inpaint_studio.ui.file_commands import FileCommands
from inpaint_studio.ui.fill_controls import FillControls
from inpaint_studio.ui.fill_tries import TryControls
from inpaint_studio.ui.folder_controls import FolderControls
from inpaint_studio.ui.history_panel import HistoryPanel
from inpaint_studio.ui.icons import icon
from inpaint_studio.ui.layers_panel import LayersPanel
from inpaint_studio.ui.mask_commands import MaskCommands
from inpaint_studio.ui.mask_tools import MaskToolController, Tool
from inpaint_studio.ui.preferences_dialog import PreferencesDialog
from inpaint_studio.ui.restore_dialog import RestoreDialog
from inpaint_studio.ui.retouch_tools import RetouchTools
from inpaint_studio.ui.run_toolbar import RunToolBar
from inpaint_studio.ui.sampling_overlay import SamplingOverlay
from inpaint_studio.ui.selection_tools import SelectionTools
from inpaint_studio.ui.shortcuts_sheet import ShortcutsDialog
from inpaint_studio.ui.theme import apply_theme
from inpaint_studio.ui.tool_options import ToolOptionsBar
from inpaint_studio.ui.toolbox import Toolbox
from inpaint_studio.ui.view_controls import ViewControls
from inpaint_studio.ui.window_layout import restore_layout, save_layout
from inpaint_studio.worker import EngineWorker

SETTINGS_SAVE_DELAY_MS = 400  # a slider dragged writes the settings once, after it stops


class MainWindow(QMainWindow):
    def __init__(
        self, settings: Settings | None = None, settings_path: Path | None = None, autosave_folder: Path | None = None
    ) -> None:
        super().__init__()
        self.settings = settings or Settings.load(settings_path)
        self.settings_path = settings_path
        apply_theme(self.settings.theme)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._colour_scheme_changed)
        self.canvas = CanvasView(self)
        self.setCentralWidget(self.canvas)
        self.tools = MaskToolController(self.canvas)
        self.tools.mask_committed.connect(self._mask_committed)
        self.tools.message.connect(lambda text: self.status(text, 4000))
        self.sampling_overlay = SamplingOverlay(self.canvas, self.tools)
        self.retouch_tools = RetouchTools(self.canvas, self.tools, self._spot_heal)
        self.retouch_tools.message.connect(lambda text: self.status(text, 5000))
        self.canvas.cursor_moved.connect(self._show_cursor)

        self.engines = EngineControls(self.settings, self)
        self.engines.changed.connect(self._engine_changed)
        self.engines.message.connect(self.status)
        self.selection_tools = SelectionTools(self.canvas, self.tools, self.engines)  # the engines' store and model offer
        self.selection_tools.mask_committed.connect(self._mask_committed)
        self.selection_tools.message.connect(self.status)
        deliver = on_gui_thread(self, lambda message: self.fill_controls.handle(message))
        self.worker = EngineWorker(deliver, model_store=self.engines.model_store)
        self.workspace = Workspace(
            self.settings,
            self.worker,
            autosave_folder=autosave_folder,
            on_autosave_error=on_gui_thread(self, lambda text: self.status(text, 8000)),
        )
        self.workspace.listeners.append(self._workspace_changed)
        self._shown: Document | None = None  # the document the canvas and panels follow
        self.batch_dialog: BatchDialog | None = None
        # Settings are saved soon after any change, not only on a clean quit.
        self.settings_timer = QTimer(self, singleShot=True, interval=SETTINGS_SAVE_DELAY_MS)
        self.settings_timer.timeout.connect(self._save_settings)
        self.settings.on_change(self.settings_timer.start)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.timeout.connect(self.workspace.autosave.autosave)
        self._set_autosave_interval()
        self._build_docks()

        self._build_status_bar()
        self.views = ViewControls(self.canvas, self.settings, self)
        self.fill_controls = FillControls(self.workspace, self.engines, self.canvas, self, self.status)
        self.fill_controls.filled.connect(self.layers_panel.select)  # the newest fill is the active layer
        self.retouch_tools.painted.connect(self.layers_panel.select)  # as the Retouch layer after a stroke
        self.tries = TryControls(self.workspace, self.engines, self.layers_panel, self, self.status)
        self.files = FileCommands(self.workspace, self, self.status)
        self.folders = FolderControls(self.workspace, self, self.status)
        self.masks = MaskCommands(self.workspace, self, self.detect_damage, self.status)
        self._build_actions()
        self._build_menus()
        self._build_toolbars()
        self.editor_keys = EditorKeys(self, self.canvas)
        panels = (self.layers_panel, self.history_panel, self.engines.panel)
        for area in (self.toolbox, self.tool_options, self.run_toolbar, *panels):
            keep_focus_on_canvas(area)
        self.setAcceptDrops(True)
        self.resize(1280, 860)
        restore_layout(self, self.settings)
        self._apply_icons()
        self.tools.set_tool(Tool.BRUSH)
        self._refresh()

    # ------------------------------------------------------------ construction


    def _build_docks(self) -> None:
        self.layers_panel = LayersPanel(self)
        self.tools.target_layer = lambda: self.layers_panel.selected_layer
        self.history_panel = HistoryPanel(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.layers_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.history_panel)
        # Engine settings share the lower dock with the history: both are looked at now and then.
        self.tabifyDockWidget(self.history_panel, self.engines.panel)
        self.history_panel.raise_()
        self.resizeDocks([self.layers_panel], [260], Qt.Orientation.Horizontal)
        self.resizeDocks([self.layers_panel, self.history_panel], [380, 260], Qt.Orientation.Vertical)

    def _build_actions(self) -> None:
        self.batch_action = make_action(self, "&Batch process…", self.batch_process, "Ctrl+Shift+B")
        self.quit_action = make_action(self, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.undo_action = make_action(self, "&Undo", self.undo, "Ctrl+Z")
        self.redo_action = make_action(self, "&Redo", self.redo)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.copy_action = make_action(self, "&Copy Merged", self.copy, QKeySequence.StandardKey.Copy)
        # Enter and Esc work wherever the focus is (editor_keys): the menu shows them ("\t"), it does not bind them.
        self.run_action = make_action(self, "&Remove masked area\tEnter", self.run_fill)
        self.models_action = make_action(self, "&Models…", self.engines.show_models)
        self.cancel_action = make_action(self, "&Cancel\tEsc", self.cancel_fill)
        self.auto_run_action = make_action(self, "Run &automatically on release", lambda: None, checkable=True)
        self.auto_run_action.setChecked(self.settings.auto_run)
        # One setting, whichever control changes it: this menu item or the toolbar's Auto box.
        self.auto_run_action.toggled.connect(lambda on: setattr(self.settings, "auto_run", on))
        self.original_action = self.views.original_action
        self.shortcuts_action = make_action(self, "&Keyboard Shortcuts", lambda: ShortcutsDialog(self).exec(), "F1")
        self.about_action = make_action(self, f"&About {APP_NAME}", self.about)
        self.preferences_action = make_action(self, "&Preferences…", self.edit_preferences, QKeySequence.StandardKey.Preferences)

        self.toolbox = Toolbox(self.tools, self, self.set_tool)
        self.tool_actions, self.subtract_action = self.toolbox.tool_actions, self.toolbox.subtract_action

    def _build_menus(self) -> None:
        menu, files = self.menuBar(), self.files
        file_menu = menu.addMenu("&File")
        file_menu.addActions([files.open_action, files.open_folder_action])
        file_menu.addMenu(files.recent_menu)
        file_menu.addSeparator()
        file_menu.addActions([files.save_action, files.save_project_action, files.save_as_action, files.save_all_action])
        file_menu.addAction(files.quality_action)
        file_menu.addSeparator()
        file_menu.addActions([files.close_action, files.close_folder_action])
        file_menu.addSeparator()
        file_menu.addAction(self.batch_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = menu.addMenu("&Edit")
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        edit_menu.addActions([self.copy_action, files.paste_action])
        edit_menu.addSeparator()
        edit_menu.addActions(self.tries.actions)
        edit_menu.addSeparator()
        edit_menu.addAction(self.preferences_action)
        self.masks.build_menu(menu)
        view_menu = menu.addMenu("&View")
        view_menu.addActions(self.views.actions)
        view_menu.addSeparator()
        view_menu.addActions([self.original_action, self.views.split_action])
        self.views.mask_menu(view_menu)
        view_menu.addSeparator()
        view_menu.addActions([self.layers_panel.toggleViewAction(), self.history_panel.toggleViewAction()])
        view_menu.addActions([self.engines.panel.toggleViewAction(), self.folders.strip.toggleViewAction()])
        go_menu = menu.addMenu("&Go")
        go_menu.addActions(self.folders.actions[:2])
        go_menu.addSeparator()
        go_menu.addActions(self.folders.actions[2:])
        run_menu = menu.addMenu("&Run")
        run_menu.addActions([self.run_action, self.cancel_action, self.auto_run_action])
        run_menu.addSeparator()
        run_menu.addAction(self.models_action)
        help_menu = menu.addMenu("&Help")
        help_menu.addActions([self.shortcuts_action, self.about_action, about_qt_action(self)])
        files.rebuild_recent_menu()

    def _apply_icons(self) -> None:
        """Icons in the palette's text colour: again after the theme changes."""
        self.toolbox.apply_icons()
        self.views.original_action.setIcon(icon("original"))
        self.views.split_action.setIcon(icon("split"))
        self.run_toolbar.run_button.setIcon(icon("remove"))
        for key, button in self.layers_panel.buttons.items():
            button.setIcon(icon(f"layer-{key}"))
        self.tries.apply_icons()

    def _colour_scheme_changed(self) -> None:
        if self.settings.theme == "system":
            apply_theme("system")
            self._apply_icons()

    def _build_toolbars(self) -> None:
        # Tools down the left edge, as in other photo editors; their options and the engine on top.
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, self.toolbox)
        self.tool_options = ToolOptionsBar(self.tools, self.selection_tools, self.retouch_tools, self.settings, self)
        self.addToolBar(self.tool_options)

        self.run_toolbar = RunToolBar(self.engines, self.run_fill, self.auto_run_action, self.original_action, self)
        self.addToolBar(self.run_toolbar)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.size_label, self.cursor_label, self.engine_label = QLabel(), QLabel(), QLabel()
        for widget in (self.size_label, self.cursor_label, self.engine_label):
            bar.addPermanentWidget(widget)

    # ------------------------------------------------------------ documents and files

    @property
    def document(self) -> Document | None:
        return self.workspace.document

    def open_file(self, path: Path, confirm: bool = True) -> bool:
        return self.files.open(Path(path), confirm=confirm)

    def open_folder(self, folder: Path, confirm: bool = True) -> bool:
        return self.files.open_folder(Path(folder), confirm=confirm)

    def save(self) -> bool:
        return self.files.save()

    def save_project_as(self) -> bool:
        return self.files.save_project_as()

    def offer_recovery(self) -> bool:
        return self.files.offer_recovery()

    def _workspace_changed(self, event: WorkspaceEvent, index: int | None) -> None:
        if event == WorkspaceEvent.DOCUMENT:
            self._show_document(self.workspace.document)

    def _show_document(self, document: Document | None) -> None:
        previous, self._shown = self._shown, document
        if previous is not None and self._document_changed in previous.listeners:
            previous.listeners.remove(self._document_changed)  # it may live on, in the folder
        if document is not None:
            document.listeners.append(self._document_changed)
            self.canvas.set_image(document.composite)
            self.canvas.set_comparison_image(document.original)
            self.canvas.set_mask(document.mask)
            self.tool_options.follow_photo(document.photo.width, document.photo.height)
        self.canvas.set_preview_patch(None)
        self.tools.set_document(document)
        self.selection_tools.set_document(document)
        self.retouch_tools.set_document(document)
        self.sampling_overlay.set_document(document)
        self.layers_panel.set_document(document)
        self.history_panel.set_document(document)
        self.canvas.setFocus()
        self._refresh()

    def _document_changed(self, what: DocumentEvent, box: Box | None) -> None:
        if what == DocumentEvent.MASK:
            self.canvas.update_mask_region(box)
        elif what == DocumentEvent.IMAGE:
            self.canvas.update_image_region(box)
        elif what == DocumentEvent.HISTORY:
            self._refresh()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt naming
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            # Opening may show dialogs; do it after the drop has finished.
            QTimer.singleShot(0, lambda: self.open_file(files[0]))

    # ------------------------------------------------------------ fills

    def run_fill(self) -> None:
        self.fill_controls.run()

    def cancel_fill(self) -> None:
        self.fill_controls.cancel()

    def _mask_committed(self, added: bool) -> None:
        # Only strokes that add to the mask run: the eraser and Subtract let the user trim first.
        # Slow engines wait for Enter even with auto-run on (a run per stroke would queue up minutes), and say so.
        info = engine_class(self.engines.engine_id).info
        if added and self.auto_run_action.isChecked() and info.interactive:
            self.run_fill()
        elif added and self.auto_run_action.isChecked():
            self.status(f"{info.name} takes a while: it waits for Remove (Enter) instead of running on every stroke.", 6000)

    def _spot_heal(self, mask: np.ndarray) -> None:
        if self.engines.ensure_models():
            if not self.workspace.spot_heal(mask, self.engines.engine_id, self.engines.device, self.engines.params):
                self.status("A fill is still running; paint the spot again when it has finished.", 4000)

    def set_engine(self, engine_id: str) -> None:
        self.engines.set_engine(engine_id)

    def _engine_changed(self) -> None:
        self.worker.release_engine()  # free the previous engine's model now, not at the next run
        self._refresh()

    # ------------------------------------------------------------ editing

    def undo(self) -> None:
        self._step_history(undo=True)

    def redo(self) -> None:
        self._step_history(undo=False)

    def _step_history(self, undo: bool) -> None:
        document = self.document
        if document is None or self.tools.busy or self.retouch_tools.busy:
            return
        self.workspace.cancel_fill_of_shown()
        label = document.undo() if undo else document.redo()
        if label:
            self.status(f"{'Undid' if undo else 'Redid'} {label}", 2000)

    def copy(self) -> None:
        """Edit > Copy Merged: the photo as shown, every layer applied."""
        if self.document is not None:
            copy_image(self.document.composite)
            self.status("Copied the result to the clipboard.", 3000)

    def detect_damage(self) -> None:
        """Scratches and dust into the mask, one undoable step, via the preview dialog."""
        document = self.document
        if document is None or self.tools.busy:
            return
        self.restore_dialog = RestoreDialog(document.composite, self)
        self.restore_dialog.accepted.connect(lambda dialog=self.restore_dialog: dialog.apply_to(document))
        self.restore_dialog.open()  # window-modal, not blocking

    def batch_process(self) -> None:
        """File > Batch process…: the current mask, a mask folder or detected damage over a whole folder."""
        document, folder = self.document, self.workspace.folder
        start = folder.folder if folder is not None else (document.photo.path.parent if document is not None else None)
        if self.batch_dialog is not None:
            self.batch_dialog.deleteLater()  # the previous one (the dialog is modal, so it has finished)
        self.batch_dialog = BatchDialog(
            folder=start or self.settings.last_folder or None,
            engine_id=self.engines.engine_id,
            device=self.engines.device,
            params=dict(self.engines.params),
            model_store=self.engines.model_store,
            mask=self.workspace.batch_mask(),
            mask_name=document.photo.path.name if document is not None else "",
            quality=self.workspace.quality,
            parent=self,
        )
        self.batch_dialog.open()  # window-modal; the batch runs on a thread, nothing blocks

    def set_tool(self, tool: Tool) -> None:
        self.selection_tools.cancel()
        self.retouch_tools.cancel()
        self.tools.set_tool(tool)
        self.tool_actions[tool].setChecked(True)
        self.tool_options.show_for(tool)
        self._refresh()

    # ------------------------------------------------------------ keys

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        # Keys that reach the window (the canvas or nothing has the focus); editor_keys.py takes
        # Space and backslash over the canvas and Enter in option fields before any widget sees them.
        key = event.key()
        if event.isAutoRepeat() and key in (Qt.Key.Key_Space, Qt.Key.Key_Backslash, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return  # holding a key never repeats an action such as a fill
        if key == Qt.Key.Key_Space:
            self.canvas.set_pan_mode(True)
        elif key == Qt.Key.Key_Backslash:
            self.canvas.set_show_original(True)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if not self.tools.close_polygon() and not self.selection_tools.commit():
                self.run_fill()
        elif key == Qt.Key.Key_Escape:
            if self.tools.busy or self.selection_tools.busy:
                self.tools.cancel_shape()
                self.selection_tools.cancel()
            else:
                self.cancel_fill()
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.isAutoRepeat():
            return
        if event.key() == Qt.Key.Key_Space:
            self.canvas.set_pan_mode(False)
        elif event.key() == Qt.Key.Key_Backslash:
            self.canvas.set_show_original(self.original_action.isChecked())
        else:
            super().keyReleaseEvent(event)

    # ------------------------------------------------------------ status

    def status(self, text: str, milliseconds: int = 4000) -> None:
        self.statusBar().showMessage(text, milliseconds)

    def _refresh(self) -> None:
        document = self.document
        has_photo = document is not None
        for action in (self.run_action, self.copy_action, *self.masks.actions):
            action.setEnabled(has_photo)
        self.files.update_actions()
        self.undo_action.setEnabled(document is not None and document.history.can_undo)
        self.redo_action.setEnabled(document is not None and document.history.can_redo)
        if document is not None:
            undo, redo = document.history.undo_label, document.history.redo_label
            self.undo_action.setText(f"&Undo {undo}" if undo else "&Undo")
            self.redo_action.setText(f"&Redo {redo}" if redo else "&Redo")
            self.size_label.setText(f"{document.photo.width} × {document.photo.height}")
            self.setWindowTitle(f"{self.workspace.title}[*] — {APP_NAME} {__version__}")
            self.setWindowModified(document.modified)
        else:
            self.size_label.setText("")
            self.setWindowTitle(f"{APP_NAME} {__version__}")
        self.engine_label.setText(self.engines.summary)

    def _show_cursor(self, position: tuple[float, float] | None) -> None:
        self.cursor_label.setText("" if position is None else f"{int(position[0])}, {int(position[1])}")

    def edit_preferences(self) -> None:
        dialog = PreferencesDialog(self.settings, self)
        if dialog.exec() == PreferencesDialog.DialogCode.Accepted:
            self.apply_preferences(dialog)

    def apply_preferences(self, dialog: PreferencesDialog) -> None:
        dialog.apply()
        apply_theme(self.settings.theme)
        self._apply_icons()
        self._set_autosave_interval()
        self.engines.models_moved()
        self.worker.release_engine(self.engines.model_store)
        if self.document is not None:
            self.document.history.budget_bytes = self.settings.history_budget_bytes

    def _set_autosave_interval(self) -> None:
        minutes = self.settings.autosave_minutes
        if minutes > 0:
            self.autosave_timer.start(minutes * 60_000)
        else:
            self.autosave_timer.stop()

    def about(self) -> None:
        show_about(self)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.files.confirm_discard():
            event.ignore()
            return
        self.autosave_timer.stop()
        save_layout(self, self.settings)
        self.workspace.close()
        self.folders.shutdown()
        self.worker.shutdown()
        self._save_settings()
        event.accept()

    def _save_settings(self) -> None:
        self.settings_timer.stop()
        try:
            self.settings.save(self.settings_path)
        except OSError as error:  # settings are a convenience: say so, never block on them
            self.status(f"Settings could not be saved: {error.strerror or error}", 8000)

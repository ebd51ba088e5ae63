"""The main window: canvas, mask tools, engine runs, files (folders: `folder_browsing.py`).

It wires the Qt-free document and worker to widgets and nothing more: every
edit goes through `core`, every fill through the background `EngineWorker`,
so the window never blocks on an engine and never loses the photo on an error.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolBar,
)

from inpaint_studio import APP_NAME, __version__
from inpaint_studio.core.document import Document
from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.core.mask_edit import apply_operation
from inpaint_studio.core.mask_ops import is_empty
from inpaint_studio.engines.base import EngineKind
from inpaint_studio.engines.registry import DEFAULT_ENGINE, engine_class, engine_ids
from inpaint_studio.io import default_output_path, load_image, save_image
from inpaint_studio.io.project_file import PROJECT_SUFFIX, load_project, save_project
from inpaint_studio.models import ModelStore
from inpaint_studio.session.settings import Settings
from inpaint_studio.ui.autosave_controller import AutosaveController
from inpaint_studio.ui.batch_dialog import BatchDialog
from inpaint_studio.ui.canvas import CanvasView
from inpaint_studio.ui.engine_settings_panel import EngineSettingsPanel
from inpaint_studio.ui.folder_browsing import FolderBrowsing
from inpaint_studio.ui.history_panel import HistoryPanel
from inpaint_studio.ui.layers_panel import LayersPanel
from inpaint_studio.ui.mask_tools import MaskToolController, Tool
from inpaint_studio.ui.models_dialog import ModelsDialog, download_model
from inpaint_studio.ui.preferences_dialog import PreferencesDialog
from inpaint_studio.ui.restore_dialog import RestoreDialog
from inpaint_studio.ui.worker_bridge import WorkerBridge
from inpaint_studio.worker import (
    FillRequest,
    JobCancelledMessage,
    JobFailed,
    JobFinished,
    JobPreview,
    JobProgress,
    JobStarted,
)

OPEN_FILTER = "Photos and projects (*.jpg *.jpeg *.png *.webp *.tif *.tiff *.bmp *.ora);;All files (*)"
PROJECT_FILTER = "OpenRaster project (*.ora)"
SAVE_FILTER = "Same format as the photo (*.jpg *.jpeg *.png *.webp *.tif *.tiff *.bmp);;JPEG (*.jpg *.jpeg);;PNG (*.png);;WebP (*.webp);;TIFF (*.tif *.tiff)"
TOOL_SHORTCUTS = {
    Tool.BRUSH: "B",
    Tool.ERASER: "E",
    Tool.LASSO: "L",
    Tool.POLYGON: "P",
    Tool.RECTANGLE: "R",
    Tool.LAYER_ERASER: "Shift+E",
}
TOOL_TIPS = {Tool.LAYER_ERASER: "Erase part of the selected fill layer to bring back the photo"}
MASK_OPERATION_PIXELS = 4  # grow / shrink / feather step


class MainWindow(FolderBrowsing, QMainWindow):
    def __init__(
        self, settings: Settings | None = None, settings_path: Path | None = None, autosave_folder: Path | None = None
    ) -> None:
        super().__init__()
        self.settings = settings or Settings.load(settings_path)
        self.settings_path = settings_path
        self.document: Document | None = None
        self.export_path: Path | None = None
        self.project_path: Path | None = None
        self._job: tuple[int, FillRequest] | None = None  # the job in flight and what it was given
        # The document the job fills: its result lands there even if another photo of the folder is shown now.
        self._job_document: Document | None = None
        self._rerun_wanted = False  # a run was asked for while one was in flight
        self.engine_params: dict = {}  # parameters for the selected engine; defaults when absent

        self.canvas = CanvasView(self)
        self.setCentralWidget(self.canvas)
        self.tools = MaskToolController(self.canvas)
        self.tools.brush_size = self.settings.brush_size
        self.tools.hardness = self.settings.brush_hardness
        self.tools.mask_committed.connect(self._mask_committed)
        self.canvas.set_overlay_opacity(self.settings.overlay_opacity)
        self.canvas.zoom_changed.connect(self._show_zoom)
        self.canvas.cursor_moved.connect(self._show_cursor)

        self.autosave = AutosaveController(self, self.settings.autosave_minutes, autosave_folder)
        self.autosave.failed.connect(lambda text: self.statusBar().showMessage(text, 8000))

        self.model_store = self._make_model_store()
        self.bridge = WorkerBridge(self, model_store=self.model_store)
        self.bridge.message.connect(self._worker_message)

        self.layers_panel = LayersPanel(self)
        self.tools.target_layer = lambda: self.layers_panel.selected_layer
        self.tools.message.connect(lambda text: self.statusBar().showMessage(text, 4000))
        self.history_panel = HistoryPanel(self)
        self.engine_panel = EngineSettingsPanel(self)
        self.engine_panel.params_changed.connect(self._params_changed)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.layers_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.history_panel)
        # Engine settings share the lower dock with the history: both are looked at now and then.
        self.tabifyDockWidget(self.history_panel, self.engine_panel)
        self.history_panel.raise_()
        self.resizeDocks([self.layers_panel], [260], Qt.Orientation.Horizontal)
        self.resizeDocks([self.layers_panel, self.history_panel], [380, 260], Qt.Orientation.Vertical)

        self._build_actions()
        self._build_folder_browsing()
        self._build_menus()
        self._build_toolbars()
        self._build_status_bar()
        self.setAcceptDrops(True)
        self.resize(1280, 860)
        self.tools.set_tool(Tool.BRUSH)
        self._refresh()

    # ------------------------------------------------------------ construction

    def _action(self, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even when the action is in no visible menu
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.save_action = self._action("&Save", self.save, QKeySequence.StandardKey.Save)
        self.save_as_action = self._action("Save &As…", self.save_as, QKeySequence.StandardKey.SaveAs)
        self.save_project_action = self._action("Save &Project…", self.save_project_as)
        self.quality_action = self._action("Export &quality…", self.ask_quality)
        self.batch_action = self._action("&Batch process…", self.batch_process, QKeySequence("Ctrl+Shift+B"))
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.undo_action = self._action("&Undo", self.undo, QKeySequence("Ctrl+Z"))
        self.redo_action = self._action("&Redo", self.redo, QKeySequence("Ctrl+Shift+Z"))
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.run_action = self._action("&Remove masked area", self.run_fill)
        self.models_action = self._action("&Models…", self.show_models)
        self.cancel_action = self._action("&Cancel", self.cancel_job)
        self.auto_run_action = self._action("Run &automatically on release", self._toggle_auto_run, checkable=True)
        self.auto_run_action.setChecked(self.settings.auto_run)
        self.original_action = self._action("Show &original", self._toggle_original, checkable=True)
        self.mask_actions = [
            self._action("C&lear mask", lambda: self._mask_operation("clear", "Clear mask"), QKeySequence("Ctrl+Shift+A")),
            self._action("&Invert mask", lambda: self._mask_operation("invert", "Invert mask"), QKeySequence("Ctrl+I")),
            self._action("&Grow mask", lambda: self._mask_operation("grow", "Grow mask")),
            self._action("S&hrink mask", lambda: self._mask_operation("shrink", "Shrink mask")),
            self._action("&Feather mask", lambda: self._mask_operation("feather", "Feather mask")),
            self._action("&Detect damage…", self.detect_damage, QKeySequence("Ctrl+Shift+D")),
        ]
        self.fit_action = self._action("&Fit to window", self.canvas.fit_to_window, QKeySequence("Ctrl+0"))
        self.actual_size_action = self._action("&Actual size (100%)", self.canvas.actual_size, QKeySequence("Ctrl+1"))
        self.zoom_in_action = self._action("Zoom &in", self.canvas.zoom_in, QKeySequence.StandardKey.ZoomIn)
        self.zoom_out_action = self._action("Zoom &out", self.canvas.zoom_out, QKeySequence.StandardKey.ZoomOut)
        self.about_action = self._action(f"&About {APP_NAME}", self.about)
        self.preferences_action = self._action("&Preferences…", self.edit_preferences, QKeySequence.StandardKey.Preferences)

        self.tool_group = QActionGroup(self)
        self.tool_actions: dict[Tool, QAction] = {}
        for tool, key in TOOL_SHORTCUTS.items():
            action = self._action(tool.value, lambda checked=False, t=tool: self.set_tool(t), key, checkable=True)
            action.setToolTip(f"{TOOL_TIPS.get(tool, tool.value)} ({key})")
            self.tool_group.addAction(action)
            self.tool_actions[tool] = action
        self.tool_actions[Tool.BRUSH].setChecked(True)
        self.subtract_action = self._action("Subtract", self._toggle_subtract, checkable=True)
        self.subtract_action.setToolTip("Tools remove from the mask (or hold Alt)")
        self._action("Smaller brush", lambda: self._resize_brush(1 / 1.25), "[")
        self._action("Larger brush", lambda: self._resize_brush(1.25), "]")

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.open_folder_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addSeparator()
        file_menu.addActions([self.save_action, self.save_as_action, self.save_project_action, self.quality_action])
        file_menu.addSeparator()
        file_menu.addAction(self.batch_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = menu.addMenu("&Edit")
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        edit_menu.addActions(self.mask_actions)
        edit_menu.addSeparator()
        edit_menu.addAction(self.preferences_action)
        view_menu = menu.addMenu("&View")
        view_menu.addActions([self.fit_action, self.actual_size_action, self.zoom_in_action, self.zoom_out_action])
        view_menu.addSeparator()
        view_menu.addAction(self.original_action)
        view_menu.addSeparator()
        view_menu.addActions([self.layers_panel.toggleViewAction(), self.history_panel.toggleViewAction()])
        view_menu.addAction(self.folder_strip.toggleViewAction())
        go_menu = menu.addMenu("&Go")
        go_menu.addActions([self.next_photo_action, self.previous_photo_action])
        go_menu.addSeparator()
        go_menu.addActions([self.first_photo_action, self.last_photo_action])
        run_menu = menu.addMenu("&Run")
        run_menu.addActions([self.run_action, self.cancel_action, self.auto_run_action])
        run_menu.addSeparator()
        run_menu.addAction(self.models_action)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.about_action)
        self._rebuild_recent_menu()

    def _build_toolbars(self) -> None:
        # Tools down the left edge, as in other photo editors; their options and the engine on top.
        toolbox = QToolBar("Tools", self)
        toolbox.setObjectName("tools")
        toolbox.setMovable(False)
        toolbox.addActions(list(self.tool_actions.values()))
        toolbox.addSeparator()
        toolbox.addAction(self.subtract_action)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, toolbox)

        tools = QToolBar("Tool options", self)
        tools.setObjectName("tool-options")
        tools.addWidget(QLabel(" Size "))
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, 2000)
        self.size_spin.setSuffix(" px")
        self.size_spin.setValue(self.tools.brush_size)
        self.size_spin.valueChanged.connect(self._brush_size_changed)
        tools.addWidget(self.size_spin)
        tools.addWidget(QLabel(" Hardness "))
        self.hardness_slider = QSlider(Qt.Orientation.Horizontal)
        self.hardness_slider.setRange(0, 100)
        self.hardness_slider.setFixedWidth(90)
        self.hardness_slider.setValue(round(self.tools.hardness * 100))
        self.hardness_slider.valueChanged.connect(self._hardness_changed)
        tools.addWidget(self.hardness_slider)
        tools.addWidget(QLabel(" Mask opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(5, 100)
        self.opacity_slider.setFixedWidth(90)
        self.opacity_slider.setValue(round(self.settings.overlay_opacity * 100))
        self.opacity_slider.valueChanged.connect(self._opacity_changed)
        tools.addWidget(self.opacity_slider)
        self.addToolBar(tools)

        run = QToolBar("Run", self)
        run.setObjectName("run")
        run.addWidget(QLabel(" Engine "))
        self.engine_combo = QComboBox()
        for engine_id in engine_ids():
            self.engine_combo.addItem(engine_class(engine_id).info.name, engine_id)
        self._label_engines()
        start = self.settings.engine if self.settings.engine in engine_ids() else DEFAULT_ENGINE
        start = start if self._models_missing(start, self._stored_params(start)) == [] else DEFAULT_ENGINE
        self.engine_combo.setCurrentIndex(max(self.engine_combo.findData(start), 0))
        self._active_engine = self.current_engine  # the engine in use; kept if a switch is refused
        self._show_engine_settings()
        self.engine_combo.currentIndexChanged.connect(self._engine_changed)
        run.addWidget(self.engine_combo)
        run.addWidget(QLabel(" Device "))
        self.device_combo = QComboBox()
        self.device_combo.currentIndexChanged.connect(self._device_changed)
        run.addWidget(self.device_combo)
        self.run_button = QPushButton("Remove")
        self.run_button.setToolTip("Fill the masked area (Enter)")
        self.run_button.clicked.connect(self.run_fill)
        run.addWidget(self.run_button)
        self.auto_run_box = QCheckBox("Auto")
        self.auto_run_box.setToolTip("Run on every stroke release")
        self.auto_run_box.setChecked(self.settings.auto_run)
        self.auto_run_box.toggled.connect(self.auto_run_action.setChecked)
        self.auto_run_action.toggled.connect(self.auto_run_box.setChecked)
        run.addWidget(self.auto_run_box)
        run.addAction(self.original_action)
        self.addToolBar(run)
        self._fill_devices()

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.size_label = QLabel()
        self.zoom_label = QLabel()
        self.cursor_label = QLabel()
        self.engine_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setFixedWidth(160)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_job)
        self.cancel_button.hide()
        for widget in (self.size_label, self.zoom_label, self.cursor_label, self.engine_label):
            bar.addPermanentWidget(widget)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)

    # ------------------------------------------------------------ files

    def open_dialog(self) -> None:
        if not self._confirm_discard():
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", self.settings.last_folder, OPEN_FILTER)
        if path:
            self.open_file(Path(path), confirm=False)

    def open_file(self, path: Path, confirm: bool = True) -> bool:
        """Open `path`; on failure show why and keep the current photo."""
        if Path(path).is_dir():  # dropped, on the command line or from a menu: browse it
            return self.open_folder(Path(path), confirm=confirm)
        if confirm and not self._confirm_discard():
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            is_project = Path(path).suffix.lower() == PROJECT_SUFFIX
            document = load_project(path) if is_project else Document(load_image(path))
        except InpaintStudioError as error:
            QApplication.restoreOverrideCursor()
            self.show_error("Cannot open the photo", str(error))
            return False
        except MemoryError:
            QApplication.restoreOverrideCursor()
            self.show_error("Cannot open the photo", f"Not enough memory to open '{path}'.")
            return False
        QApplication.restoreOverrideCursor()
        self.cancel_job()
        self._close_folder()  # a single photo replaces the folder being browsed
        self._set_document(document)
        self.autosave.set_document(document, str(path))
        self.export_path = None
        self.project_path = Path(path) if is_project else None
        self.settings.add_recent(path)
        self.settings.last_folder = str(Path(path).resolve().parent)
        self._rebuild_recent_menu()
        return True

    def offer_recovery(self) -> bool:
        """After a crash: offer the autosaved work, and open it if the user wants it back."""
        recovered = self.autosave.offer_recovery(self)
        if recovered is None:
            return False
        document, source = recovered
        self.cancel_job()
        self._set_document(document)
        self.export_path = None
        self.project_path = Path(source) if source.lower().endswith(PROJECT_SUFFIX) else None
        self.statusBar().showMessage(f"Recovered your work on {document.photo.path.name}. Save it to keep it.", 8000)
        return True

    def _set_document(self, document: Document) -> None:
        document.history.budget_bytes = self.settings.history_budget_bytes
        if self.document is not None and self._document_changed in self.document.listeners:
            self.document.listeners.remove(self._document_changed)  # it may live on, in the folder
        self.document = document
        document.listeners.append(self._document_changed)
        self.canvas.set_image(document.composite)
        self.canvas.set_comparison_image(document.original)
        self.canvas.set_mask(document.mask)
        self.tools.set_document(document)
        self.layers_panel.set_document(document)
        self.history_panel.set_document(document)
        self.canvas.setFocus()
        self._refresh()

    def save(self) -> bool:
        if self.document is None:
            return False
        if self.export_path is None:
            return self.save_as()
        return self._write(self.export_path, overwrite=False, quality=self._quality())

    def save_as(self) -> bool:
        if self.document is None:
            return False
        suggestion = self.export_path or default_output_path(self.document.photo.path)
        path, _ = QFileDialog.getSaveFileName(self, "Save the edited photo as", str(suggestion), SAVE_FILTER)
        if not path:
            return False
        # The file dialog already asked before replacing an existing file, the original included.
        return self._write(Path(path), overwrite=True, quality=self._quality())

    def save_project_as(self) -> bool:
        """Save layers, mask and provenance as an OpenRaster file (opens in GIMP and Krita too)."""
        if self.document is None:
            return False
        suggestion = self.project_path or self.document.photo.path.with_suffix(PROJECT_SUFFIX)
        path, _ = QFileDialog.getSaveFileName(self, "Save project", str(suggestion), PROJECT_FILTER)
        if not path:
            return False
        path = Path(path) if Path(path).suffix.lower() == PROJECT_SUFFIX else Path(path + PROJECT_SUFFIX)
        try:
            save_project(self.document, path)
        except InpaintStudioError as error:
            self.show_error("Cannot save the project", str(error))
            return False
        self.project_path = path
        self.document.mark_saved()
        self.statusBar().showMessage(f"Saved project {path}", 5000)
        return True

    def ask_quality(self) -> None:
        quality, ok = QInputDialog.getInt(
            self,
            "Export quality",
            "JPEG and WebP quality (1-100), or 0 to keep each photo's own quality:",
            self.settings.jpeg_quality,
            0,
            100,
        )
        if ok:
            self.settings.jpeg_quality = quality

    def _quality(self) -> int | None:
        return self.settings.jpeg_quality or None

    def _write(self, path: Path, overwrite: bool, quality: int | None) -> bool:
        try:
            save_image(self.document.photo, self.document.composite, path, overwrite=overwrite, quality=quality)
        except InpaintStudioError as error:
            self.show_error("Cannot save", str(error))
            return False
        self.export_path = Path(path)
        self.document.mark_saved()
        self._folder_photo_exported(Path(path))
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def _confirm_discard(self) -> bool:
        """True when there are no unsaved changes or the user chose to save or discard them."""
        if self.folder_session is not None:
            return self._confirm_discard_folder()
        if self.document is None or not self.document.modified:
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"Save the changes to '{self.document.photo.path.name}' before closing it?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for entry in self.settings.recent_files:
            action = self.recent_menu.addAction(entry)
            action.triggered.connect(lambda checked=False, p=entry: self.open_file(Path(p)))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        files = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            # Opening may show dialogs; do it after the drop has finished.
            QTimer.singleShot(0, lambda: self.open_file(files[0]))

    # ------------------------------------------------------------ running engines

    def run_fill(self) -> None:
        """Fill the current mask with the selected engine, in the background."""
        if self.document is None or is_empty(self.document.mask):
            self.statusBar().showMessage("Paint over what you want to remove first.", 4000)
            return
        if self._job is not None:
            self._rerun_wanted = True  # run again with the newest mask when this job ends
            return
        if not self._ensure_models(self.current_engine, self.engine_params):
            return
        if engine_class(self.current_engine).info.kind == EngineKind.LEARNED:
            self.autosave.autosave()  # a GPU driver crash or running out of memory can end the process
        request = FillRequest.snapshot(
            self.document.composite,
            self.document.mask,
            self.current_engine,
            device=self.current_device,
            params=self.engine_params,
        )
        self._job = (self.bridge.submit(request), request)
        self._job_document = self.document
        self._rerun_wanted = False

    def cancel_job(self) -> None:
        self._rerun_wanted = False
        if self._job is not None:
            self.bridge.cancel(self._job[0])

    def _cancel_job_of(self, document: Document) -> None:
        """Cancel the job in flight if it fills `document` (an undo there would make its result stale)."""
        if self._job is None or self._job_document is document:
            self.cancel_job()

    def _worker_message(self, message) -> None:
        if self._job is None or message.job_id != self._job[0]:
            return  # from a job that was cancelled or replaced
        if isinstance(message, JobStarted):
            self.progress.setValue(0)
            self.progress.show()
            self.cancel_button.show()
        elif isinstance(message, JobProgress):
            self.progress.setValue(round(message.fraction * 100))
        elif isinstance(message, JobPreview):
            if self._job_document is self.document:  # never drawn over another photo of the folder
                self.canvas.set_preview_patch(message.patch)
        else:
            request = self._job[1]
            document, self._job_document = self._job_document or self.document, None
            self._job = None
            self.canvas.set_preview_patch(None)
            self.progress.hide()
            self.cancel_button.hide()
            if isinstance(message, JobFinished):
                document.add_fill(message.patches, request.mask, message.engine_name, dict(message.provenance))
                note = f" {message.notice}" if message.notice else ""
                where = "" if document is self.document else f" {document.photo.path.name}"
                self.statusBar().showMessage(f"{message.engine_name}: filled{where} in {message.seconds:.2f} s.{note}", 8000 if note else 4000)
            elif isinstance(message, JobFailed):
                self._rerun_wanted = False
                self.show_error("The fill failed", message.message)
            elif isinstance(message, JobCancelledMessage):
                self.statusBar().showMessage("Cancelled.", 3000)
            if self._rerun_wanted and not is_empty(self.document.mask):
                self.run_fill()

    def _mask_committed(self) -> None:
        # Slow engines wait for Enter even with auto-run on: a run per stroke would queue up minutes.
        if self.auto_run_action.isChecked() and engine_class(self.current_engine).info.interactive:
            self.run_fill()

    @property
    def current_engine(self) -> str:
        return self.engine_combo.currentData()

    @property
    def current_device(self) -> str:
        return self.device_combo.currentData() or "cpu"

    def set_engine(self, engine_id: str) -> None:
        index = self.engine_combo.findData(engine_id)
        if index < 0:
            raise ValueError(f"no engine {engine_id!r} in the list")
        self.engine_combo.setCurrentIndex(index)

    def _engine_changed(self) -> None:
        wanted = self.current_engine
        if wanted == self._active_engine:
            return
        if not self._ensure_models(wanted, self._stored_params(wanted)):
            self.engine_combo.blockSignals(True)
            self.engine_combo.setCurrentIndex(self.engine_combo.findData(self._active_engine))
            self.engine_combo.blockSignals(False)
            return
        self._active_engine = wanted
        self.bridge.worker.release_engine()  # free the previous engine's model now, not at the next run
        self.settings.engine = wanted
        self._show_engine_settings()
        self._fill_devices()
        self._refresh()

    # ------------------------------------------------------------ models

    def _make_model_store(self) -> ModelStore:
        return ModelStore(self.settings.models_dir or None, mirror=self.settings.model_mirror or None)

    def _stored_params(self, engine_id: str) -> dict:
        """The parameters last chosen for `engine_id` that it still accepts."""
        return engine_class(engine_id).accepted_params(self.settings.engine_params.get(engine_id) or {})

    def _show_engine_settings(self) -> None:
        self.engine_panel.set_engine(engine_class(self.current_engine), self._stored_params(self.current_engine))
        self.engine_params = self.engine_panel.values()

    def _params_changed(self, values: dict) -> None:
        self.engine_params = dict(values)
        self.settings.engine_params[self.current_engine] = dict(values)

    def _models_missing(self, engine_id: str, params: dict | None = None) -> list[str]:
        required = engine_class(engine_id).required_models(params)
        return [m for m in required if not self.model_store.is_installed(m)]

    def _label_engines(self) -> None:
        """Engine names in the list, marked where their model still has to be downloaded."""
        for index in range(self.engine_combo.count()):
            engine_id = self.engine_combo.itemData(index)
            name = engine_class(engine_id).info.name
            self.engine_combo.setItemText(index, f"{name} (download needed)" if self._models_missing(engine_id) else name)

    def _ensure_models(self, engine_id: str, params: dict | None = None) -> bool:
        """True when the models a run with `params` needs are installed, after offering to download them if not."""
        missing = self._models_missing(engine_id, params)
        if not missing:
            return True
        info = engine_class(engine_id).info
        names = ", ".join(self.model_store.info(m).name for m in missing)
        answer = QMessageBox.question(
            self,
            "Model needed",
            f"{info.name} needs its model ({names}), which is not installed yet. Download it now?\n\n"
            f"It is saved in {self.model_store.root}. A file you already have can be imported in Run > Models.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        if answer == QMessageBox.StandardButton.Yes and all(download_model(self, self.model_store, m) for m in missing):
            self._label_engines()
            return True
        still = "" if engine_id == self._active_engine else f" still using {engine_class(self._active_engine).info.name}."
        self.statusBar().showMessage(
            f"{info.name} cannot run without its model;{still} Run > Models… downloads or imports it.", 10000
        )
        return False

    def show_models(self) -> None:
        ModelsDialog(self.model_store, self).exec()
        self._label_engines()

    def _fill_devices(self) -> None:
        devices = engine_class(self.current_engine).info.devices
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        labels = {"cpu": "CPU", "cuda": "CUDA (GPU)", "mps": "Apple MPS"}
        if len(devices) > 1:
            from inpaint_studio.engines.devices import (
                gpu_devices,  # imports torch: only for GPU-capable engines
            )

            available = ["cpu"] + gpu_devices()
            devices = [d for d in devices if d in available]
        for device in devices:
            self.device_combo.addItem(labels.get(device, device), device)
        preferred = self.device_combo.findData(self.settings.device)
        if preferred < 0:  # "auto" (or a device this engine lacks): CUDA, then MPS, then CPU
            preferred = next((i for d in ("cuda", "mps") if (i := self.device_combo.findData(d)) >= 0), 0)
        self.device_combo.setCurrentIndex(preferred)
        self.device_combo.blockSignals(False)

    def _device_changed(self) -> None:
        self.settings.device = self.current_device
        self._refresh()

    # ------------------------------------------------------------ editing

    def undo(self) -> None:
        if self.document is not None and not self.tools.busy:
            self._cancel_job_of(self.document)
            label = self.document.undo()
            if label:
                self.statusBar().showMessage(f"Undid {label}", 2000)

    def redo(self) -> None:
        if self.document is not None and not self.tools.busy:
            self._cancel_job_of(self.document)
            label = self.document.redo()
            if label:
                self.statusBar().showMessage(f"Redid {label}", 2000)

    def _mask_operation(self, operation: str, label: str) -> None:
        if self.document is not None:
            edit = apply_operation(self.document.mask, operation, MASK_OPERATION_PIXELS)
            self.document.record_mask_edit(edit, label)

    def detect_damage(self) -> None:
        """Scratches and dust into the mask, one undoable step, via the preview dialog."""
        if self.document is None or self.tools.busy:
            return
        self.restore_dialog = RestoreDialog(self.document.composite, self)
        self.restore_dialog.accepted.connect(lambda dialog=self.restore_dialog: dialog.apply_to(self.document))
        self.restore_dialog.open()  # window-modal, not blocking

    def batch_process(self) -> None:
        """File > Batch process…: the current mask, a mask folder or detected damage over a whole folder."""
        document = self.document
        session = self.folder_session  # the open folder, when the window browses one
        folder = session.folder if session is not None else (document.photo.path.parent if document is not None else None)
        if getattr(self, "batch_dialog", None) is not None:
            self.batch_dialog.deleteLater()  # the previous one (the dialog is modal, so it has finished)
        self.batch_dialog = BatchDialog(
            folder=folder or self.settings.last_folder or None,
            engine_id=self.current_engine,
            device=self.current_device,
            params=dict(self.engine_params),
            model_store=self.model_store,
            mask=document.mask if document is not None else None,
            mask_name=document.photo.path.name if document is not None else "",
            quality=self._quality(),
            parent=self,
        )
        self.batch_dialog.open()  # window-modal; the batch runs on a thread, nothing blocks

    def set_tool(self, tool: Tool) -> None:
        self.tools.set_tool(tool)
        self.tool_actions[tool].setChecked(True)
        self._refresh()

    def _toggle_subtract(self, checked: bool) -> None:
        self.tools.subtract = checked

    def _resize_brush(self, factor: float) -> None:
        self.tools.grow_brush(factor)
        self.size_spin.setValue(self.tools.brush_size)

    def _brush_size_changed(self, value: int) -> None:
        self.tools.set_brush_size(value)
        self.settings.brush_size = self.tools.brush_size

    def _hardness_changed(self, value: int) -> None:
        self.tools.hardness = value / 100
        self.settings.brush_hardness = value / 100

    def _opacity_changed(self, value: int) -> None:
        self.settings.overlay_opacity = value / 100
        self.canvas.set_overlay_opacity(value / 100)

    def _toggle_auto_run(self, checked: bool) -> None:
        self.settings.auto_run = checked

    def _toggle_original(self, checked: bool) -> None:
        self.canvas.set_show_original(checked)

    def _document_changed(self, what: str, box) -> None:
        if what == "mask":
            self.canvas.update_mask_region(box)
        elif what == "image":
            self.canvas.update_image_region(box)
        elif what == "history":
            self._refresh()

    # ------------------------------------------------------------ keys

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if event.isAutoRepeat() and key in (Qt.Key.Key_Space, Qt.Key.Key_Backslash):
            return
        if key == Qt.Key.Key_Space:
            self.canvas.set_pan_mode(True)
        elif key == Qt.Key.Key_Backslash:
            self.canvas.set_show_original(True)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if not self.tools.close_polygon():
                self.run_fill()
        elif key == Qt.Key.Key_Escape:
            if self.tools.busy:
                self.tools.cancel_shape()
            else:
                self.cancel_job()
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

    def _refresh(self) -> None:
        document = self.document
        has_photo = document is not None
        for action in (self.save_action, self.save_as_action, self.save_project_action, self.run_action, *self.mask_actions):
            action.setEnabled(has_photo)
        self.undo_action.setEnabled(has_photo and document.history.can_undo)
        self.redo_action.setEnabled(has_photo and document.history.can_redo)
        if has_photo:
            undo, redo = document.history.undo_label, document.history.redo_label
            self.undo_action.setText(f"&Undo {undo}" if undo else "&Undo")
            self.redo_action.setText(f"&Redo {redo}" if redo else "&Redo")
            self.size_label.setText(f"{document.photo.width} × {document.photo.height}")
            self.setWindowTitle(f"{document.photo.path.name}[*] — {APP_NAME} {__version__}")
            self.setWindowModified(document.modified)
        else:
            self.size_label.setText("")
            self.setWindowTitle(f"{APP_NAME} {__version__}")
        self.engine_label.setText(f"{self.engine_combo.currentText()} · {self.device_combo.currentText()}")

    def _show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom:.0%}")

    def _show_cursor(self, position) -> None:
        self.cursor_label.setText("" if position is None else f"{int(position[0])}, {int(position[1])}")

    def edit_preferences(self) -> None:
        dialog = PreferencesDialog(self.settings, self)
        if dialog.exec() == PreferencesDialog.DialogCode.Accepted:
            self.apply_preferences(dialog)

    def apply_preferences(self, dialog: PreferencesDialog) -> None:
        dialog.apply()
        self.autosave.set_interval(self.settings.autosave_minutes)
        self.model_store = self._make_model_store()
        self.bridge.worker.release_engine(self.model_store)
        self._label_engines()
        if self.document is not None:
            self.document.history.budget_bytes = self.settings.history_budget_bytes

    def show_error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    def about(self) -> None:
        from inpaint_studio.ui.about import about_text

        QMessageBox.about(self, f"About {APP_NAME}", about_text())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self._confirm_discard():
            event.ignore()
            return
        self._close_folder()
        self.folder_strip.shutdown()
        self.bridge.shutdown()
        self.autosave.shutdown()
        try:
            self.settings.save(self.settings_path)
        except OSError:
            pass  # settings are a convenience; never block closing on them
        event.accept()

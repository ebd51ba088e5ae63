"""The open workspace: the document shown, the folder being browsed, and the rules for opening and saving.

Qt-free: the window asks it to open, show, save and fill, and draws what it
says; any front end (or a test) gets the same rules. What it cannot decide
alone (a file name, whether to discard changes) it leaves to the caller, which
asks the user: `unsaved()` says what a question is about, `export_target()`
whether Save needs a name.

Listeners hear `WorkspaceEvent.DOCUMENT` when another document is shown,
`FOLDER` when a folder opens or closes, and `FOLDER_PHOTO` (with its index)
when a photo of the folder changes its marks or pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from inpaint_studio.core.document import Document, ResultLayer
from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.core.fill_tries import fill_mask_of, is_fill, next_seed
from inpaint_studio.core.mask_ops import is_empty
from inpaint_studio.core.photo import Photo
from inpaint_studio.engines.base import EngineKind
from inpaint_studio.engines.registry import engine_class
from inpaint_studio.io import formats
from inpaint_studio.io.autosave import RecoverableSession
from inpaint_studio.io.image_file import Warn, default_output_path, load_image, save_image
from inpaint_studio.io.project_file import PROJECT_SUFFIX, load_project, save_project
from inpaint_studio.session.autosave import AutosavePolicy
from inpaint_studio.session.fills import FillAsk, FillRunner, Fills
from inpaint_studio.session.folder import FolderPhoto, FolderSession
from inpaint_studio.session.settings import Settings
from inpaint_studio.worker import FillRequest


def _naming(name: str, warn: Warn) -> Warn:
    """`warn`, each sentence said after the name of the photo it is about."""
    return lambda message: warn(f"{name}: {message}")


class WorkspaceEvent(Enum):
    DOCUMENT = "document"  # another document is shown
    FOLDER = "folder"  # a folder was opened or closed
    FOLDER_PHOTO = "folder-photo"  # a photo of the folder changed its marks or pixels (index given)


WorkspaceListener = Callable[[WorkspaceEvent, "int | None"], None]


def read_document(path: Path) -> Document:
    """A photo, or a saved project (.ora), as a new document; raises InpaintStudioError naming the file."""
    try:
        if path.suffix.lower() == PROJECT_SUFFIX:
            return load_project(path)
        return Document(load_image(path))
    except MemoryError:
        raise InpaintStudioError(f"Not enough memory to open '{path}'.") from None


@dataclass
class FolderMove:
    """What moving through a folder did."""

    moved: bool = False
    skipped: list[str] = field(default_factory=list)  # photos stepped over because they cannot be opened
    at_end: bool = False  # there was no photo further in that direction


class Workspace:
    def __init__(
        self,
        settings: Settings,
        runner: FillRunner,
        *,
        autosave_folder: Path | None = None,
        on_autosave_error: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.document: Document | None = None
        self.export_path: Path | None = None  # where Save writes without asking
        self.project_path: Path | None = None  # the project file the document came from or was saved as
        self.folder: FolderSession | None = None  # the folder being browsed
        self.autosave = AutosavePolicy(autosave_folder, on_autosave_error)
        self.fills = Fills(runner)
        self.listeners: list[WorkspaceListener] = []

    # ------------------------------------------------------------ opening

    def open(self, path: Path) -> Document:
        """Open a photo or project as the only document (a folder being browsed closes).

        Raises InpaintStudioError and leaves everything as it was if it cannot be read.
        """
        path = Path(path)
        document = read_document(path)
        self.fills.cancel()  # a fill for the previous photo would land in a document that is closing
        self.close_folder()
        self._show(document, str(path))
        self.export_path = None
        self.project_path = path if path.suffix.lower() == PROJECT_SUFFIX else None
        self.settings.add_recent(path)
        self.settings.last_folder = str(path.resolve().parent)
        return document

    def open_pixels(self, rgb: np.ndarray, name: str = "Pasted image.png") -> Document:
        """A new document from pixels that were never a file (Edit > Paste); exported beside the last folder."""
        folder = Path(self.settings.last_folder) if self.settings.last_folder else Path.home()
        document = Document(Photo.from_pixels(rgb, folder / name))
        self.fills.cancel()
        self.close_folder()
        self._show(document, name)
        document.mark_unsaved()  # it exists nowhere yet
        self.export_path = self.project_path = None
        return document

    def close_document(self) -> None:
        """Show nothing (File > Close); the caller asked about unsaved changes first."""
        self.fills.cancel()
        self.close_folder()
        self.autosave.follow(None, "")
        self.document = None
        self.export_path = self.project_path = None
        self._notify(WorkspaceEvent.DOCUMENT)

    def recover(self, session: RecoverableSession) -> Document:
        """Reopen the work a crash left in `session`; it stays unsaved (and autosaved) until saved."""
        self.fills.cancel()
        self.close_folder()
        document = self.autosave.recover(session)  # raises InpaintStudioError or OSError if unreadable
        self._show(document, session.source, follow=False)  # the autosave follows it already
        self.export_path = None
        self.project_path = Path(session.source) if session.source.lower().endswith(PROJECT_SUFFIX) else None
        return document

    def _show(self, document: Document, source: str, *, keep_previous: bool = False, follow: bool = True) -> None:
        document.history.budget_bytes = self.settings.history_budget_bytes
        self.document = document
        if follow:
            self.autosave.follow(document, source, keep_previous=keep_previous)
        self._notify(WorkspaceEvent.DOCUMENT)

    def _notify(self, event: WorkspaceEvent, index: int | None = None) -> None:
        for listener in list(self.listeners):
            listener(event, index)

    # ------------------------------------------------------------ folders

    def open_folder(self, folder: Path) -> list[str]:
        """Browse `folder`, showing its first photo that opens; the names of those stepped over.

        Raises InpaintStudioError (and changes nothing) if it holds no photo that opens.
        """
        session = FolderSession.open(folder, on_change=self._folder_photo_changed)
        document, skipped = self._first_readable(session, 0, 1)
        if document is None:
            session.close()
            raise InpaintStudioError(f"None of the {len(session)} photos in '{folder}' can be opened.")
        self.fills.cancel()
        self.close_folder()
        self.folder = session
        self._notify(WorkspaceEvent.FOLDER)
        self._show_folder_document(document)
        self.settings.last_folder = str(Path(folder).resolve())
        return skipped

    def show_folder_photo(self, index: int) -> Document:
        """Show photo `index` of the folder with its own mask, layers and history.

        Raises InpaintStudioError, and the current photo stays, if it cannot be opened.
        """
        session = self._open_folder()
        if index == session.index and self.document is not None:
            return self.document
        self._remember_folder_paths()
        try:
            document = session.show(index)
        except InpaintStudioError:
            self._folder_photo_changed(index)  # its row shows that it cannot be read
            raise
        self._show_folder_document(document)
        return document

    def step(self, delta: int) -> FolderMove:
        """Next (+1) or previous (-1) photo, stepping over photos that cannot be opened; stops at the ends."""
        session = self._open_folder()
        target = session.step(delta)
        if target is None:
            return FolderMove(at_end=True)
        return self._go_from(target, 1 if delta > 0 else -1)

    def go_to(self, index: int) -> FolderMove:
        """First (0) or last (-1) photo of the folder, or the next one from there that opens."""
        session = self._open_folder()
        return self._go_from(index % len(session), 1 if index >= 0 else -1)

    def close_folder(self) -> None:
        """Stop browsing (any changes were saved or discarded when the user was asked)."""
        if self.folder is None:
            return
        self.folder.close()
        self.folder = None
        # Every photo's changes were saved or discarded: no autosave keeps them.
        self.autosave.follow(None, "")
        self.autosave.forget_kept()
        self._notify(WorkspaceEvent.FOLDER)

    def _open_folder(self) -> FolderSession:
        if self.folder is None:
            raise RuntimeError("no folder is open")
        return self.folder

    def _go_from(self, start: int, direction: int) -> FolderMove:
        session = self._open_folder()
        self._remember_folder_paths()
        current = session.index
        document, skipped = self._first_readable(session, start, direction)
        moved = document is not None and session.index != current
        if document is not None and moved:
            self._show_folder_document(document)
        return FolderMove(moved=moved, skipped=skipped)

    def _first_readable(self, session: FolderSession, start: int, direction: int) -> tuple[Document | None, list[str]]:
        """The first photo from `start` on, in `direction`, that opens (now shown in `session`), and those that did not."""
        skipped: list[str] = []
        index = start
        while 0 <= index < len(session):
            try:
                return session.show(index), skipped
            except InpaintStudioError:
                skipped.append(session.photos[index].name)
                if session is self.folder:
                    self._folder_photo_changed(index)
            index += direction
        return None, skipped

    def _show_folder_document(self, document: Document) -> None:
        photo = self._open_folder().current
        assert photo is not None
        self.fills.forget_wanted()  # a run asked for the previous photo is not one for this one
        self._show(document, str(photo.path), keep_previous=True)  # edited photos keep their autosaves
        self.export_path, self.project_path = photo.export_path, photo.project_path

    def _remember_folder_paths(self) -> None:
        """Where the shown photo was saved is its own: Save writes there again when it comes back."""
        photo = self.folder.current if self.folder is not None else None
        if photo is not None and photo.document is self.document:
            photo.export_path, photo.project_path = self.export_path, self.project_path

    def _folder_photo_changed(self, index: int) -> None:
        self._notify(WorkspaceEvent.FOLDER_PHOTO, index)

    # ------------------------------------------------------------ saving

    @property
    def title(self) -> str:
        """What the window's title names: the project, for a project; else the photo."""
        if self.project_path is not None:
            return self.project_path.name
        return self.document.photo.path.name if self.document is not None else ""

    @property
    def quality(self) -> int | None:
        """JPEG/WebP quality for exports, or None to keep each photo's own."""
        return self.settings.jpeg_quality or None

    def export_target(self) -> Path | None:
        """Where Save writes without asking for a name, or None when it must ask."""
        return self.export_path

    def export_suggestion(self) -> Path:
        """The name Export As offers: where it was saved last, or NAME_inpainted beside the photo."""
        document = self._document()
        return self.export_path or default_output_path(document.photo.path)

    def export_name(self, typed: Path, suffix: str | None = None) -> Path:
        """The file Export As writes for the name typed in its dialog: as typed when its extension names an
        image format, else with `suffix` (the dialog's chosen format), or the photo's, added: out -> out.jpg,
        notes.txt -> notes.txt.jpg, never a JPEG under another format's name."""
        if formats.registered_format(typed.suffix) is not None:
            return typed
        return typed.with_name(typed.name + (suffix or formats.output_suffix(self._document().photo.path)))

    def export(self, path: Path, *, overwrite: bool, warn: Warn | None = None) -> Path:
        """Write the edited photo to `path` in the photo's format; raises InpaintStudioError naming the file.

        The photo itself is never replaced unless `overwrite` (the user confirmed it). `warn` hears,
        one sentence each, what the file could not keep (other frames, transparency in a JPEG ...).
        """
        document = self._document()
        written = save_image(
            document.photo, document.composite, path, overwrite=overwrite, quality=self.quality,
            alpha=document.output_alpha(), warn=warn,
        )
        self.export_path = Path(written)
        document.mark_saved()
        folder = self.folder
        if folder is not None and folder.current is not None and folder.current.document is document:
            folder.mark_exported(folder.current.index, Path(written))
        return Path(written)

    def project_suggestion(self) -> Path:
        document = self._document()
        return self.project_path or document.photo.path.with_suffix(PROJECT_SUFFIX)

    def save_project(self, path: Path) -> Path:
        """Save layers, mask and provenance as OpenRaster (`.ora` added when missing)."""
        document = self._document()
        path = Path(path)
        if path.suffix.lower() != PROJECT_SUFFIX:
            path = Path(f"{path}{PROJECT_SUFFIX}")
        save_project(document, path)
        self.project_path = path
        document.mark_saved()
        return path

    def unsaved(self) -> list[str]:
        """Names of the photos whose changes would be lost by closing: the folder's edited photos, or the one shown."""
        if self.folder is not None:
            return [photo.name for photo in self.folder.edited()]
        if self.document is not None and self.document.modified:
            return [self.document.photo.path.name]
        return []

    def save_all(self, warn: Warn | None = None) -> list[str]:
        """Export every edited photo of the folder without asking for names; the reasons of any that failed.

        Each goes where it was last saved, or beside its photo as NAME_inpainted. `warn` hears what
        a written file could not keep, each sentence after the photo's name.
        """
        session = self._open_folder()
        self._remember_folder_paths()
        failures = []
        for photo in session.edited():
            failure = self._export_folder_photo(session, photo, warn)
            if failure:
                failures.append(failure)
        return failures

    def _export_folder_photo(self, session: FolderSession, photo: FolderPhoto, warn: Warn | None) -> str | None:
        document = photo.document
        assert document is not None
        path = photo.export_path or default_output_path(photo.path)
        try:
            save_image(
                document.photo, document.composite, path, overwrite=False, quality=self.quality,
                alpha=document.output_alpha(), warn=None if warn is None else _naming(photo.name, warn),
            )
        except InpaintStudioError as error:
            return str(error)
        document.mark_saved()
        session.mark_exported(photo.index, path)
        if document is self.document:
            self.export_path = path
        return None

    def batch_mask(self) -> np.ndarray | None:
        """The mask File > Batch applies to every photo: the current mask or, once a fill has used it
        up, the mask of the newest fill (remove a watermark here, then from the whole folder)."""
        document = self.document
        if document is None:
            return None
        if not is_empty(document.mask):
            return document.mask.copy()
        for layer in reversed(document.layers):
            if is_fill(layer):
                return fill_mask_of(layer, document.mask.shape)
        return None

    def mask_transparency(self) -> bool:
        """Add the photo's transparent and half-transparent pixels to the mask, to fill them (GIMP's "heal
        transparency"; the export then has them opaque). False if the photo has no transparency."""
        document = self._document()
        alpha = document.photo.alpha
        if alpha is None or not (alpha < 255).any():
            return False
        # Whole, not soft: a half-transparent pixel's colour is no base to blend a fill with.
        document.replace_mask(np.where(alpha < 255, np.uint8(255), document.mask), "Mask from transparency")
        return True

    def _document(self) -> Document:
        if self.document is None:
            raise RuntimeError("no document is open")
        return self.document

    # ------------------------------------------------------------ fills

    def ask_fill(self) -> FillAsk:
        """Whether a fill of the shown document's mask can start now (see `Fills.ask`)."""
        return self.fills.ask(self.document)

    def start_fill(self, engine_id: str, device: str, params: dict[str, object]) -> int:
        """Start filling the shown document's mask; the caller made sure the engine's models are there."""
        document = self._document()
        if engine_class(engine_id).info.kind == EngineKind.LEARNED:
            self.autosave.autosave()  # a GPU driver crash or running out of memory can end the process
        request = self._snapshot(document.composite, document.mask, engine_id, device, params)
        return self.fills.start(document, request)

    def spot_heal(self, mask: np.ndarray, engine_id: str, device: str, params: dict[str, object]) -> bool:
        """Fill `mask` (a spot healing stroke, not the document's mask) into the retouch layer; False if a
        fill is in flight already (spot healing never queues: the next click is the user's retry)."""
        document = self._document()
        if self.fills.busy or is_empty(mask):
            return False
        request = self._snapshot(document.composite, mask, engine_id, device, params)
        self.fills.start(document, request, retouch=True)
        return True

    def try_again(self, layer: ResultLayer, engine_id: str, device: str, params: dict[str, object]) -> bool:
        """Fill `layer`'s mask again (a seed none of its tries used) from the photo as it is under the layer;
        the result becomes another try of the layer. False if a fill is in flight already."""
        document = self._document()
        if self.fills.busy or not is_fill(layer) or layer not in document.layers:
            return False
        params = dict(params)
        resolved = engine_class(engine_id).resolve_params(params)
        if "seed" in resolved:
            params["seed"] = next_seed(layer, int(resolved["seed"]))
        mask = fill_mask_of(layer, document.mask.shape)
        request = self._snapshot(document.composite_without(layer), mask, engine_id, device, params)
        self.fills.start(document, request, try_of=layer)
        return True

    def _snapshot(
        self, image: np.ndarray, mask: np.ndarray, engine_id: str, device: str, params: dict[str, object]
    ) -> FillRequest:
        """What a job fills, copied into the last job's arrays when they fit (no fresh memory per fill)."""
        sampling = self._document().sampling_area()
        return FillRequest.snapshot(
            image, mask, engine_id, device=device, params=params, reuse=self.fills.spare, sampling=sampling
        )

    def cancel_fill_of_shown(self) -> None:
        """Before an undo or redo: a fill of the shown document would be stale."""
        if self.document is not None:
            self.fills.cancel_for(self.document)

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        """The app ends cleanly: stop browsing, and leave nothing to recover."""
        self.fills.cancel()
        self.close_folder()
        self.autosave.shutdown()

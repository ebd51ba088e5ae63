"""A folder of photos open in the editor: which photo is shown, and each photo's own document.

Qt-free, so the rules are tested without a window. The photos are the ones
`batch.find_images` lists, so the window and a batch agree on what a photo
is. Each photo gets a `Document` the first time it is shown; a document with
any change (mask, layers, history) is kept for as long as the folder is open,
so moving between photos never loses work. One that was only looked at costs
memory and nothing else to rebuild, so only the few most recently shown are
kept. The next photo in the direction of travel is loaded on a background
thread while the user looks at this one, so paging through a folder does not
wait for decoding.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpaint_studio.core.boxes import Box
from inpaint_studio.core.document import Document, DocumentEvent
from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.io.photo_files import find_images

Loader = Callable[[Path], Document]


def load_document(path: Path) -> Document:
    from inpaint_studio.io.image_file import load_image

    return Document(load_image(path))


@dataclass(eq=False)
class FolderPhoto:
    index: int
    path: Path
    document: Document | None = None
    exported: bool = False  # saved as a photo during this session
    export_path: Path | None = None  # where Save writes it again
    project_path: Path | None = None
    error: str | None = None  # why it could not be opened the last time it was tried
    _reported: tuple[bool, bool] = (False, False)  # (edited, exported) as last reported to on_change

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def edited(self) -> bool:
        """Changes not yet exported or saved: the same test as the window's 'unsaved changes'."""
        return self.document is not None and self.document.modified

    @property
    def touched(self) -> bool:
        """Anything was ever done to it (even undone or saved): its history is worth keeping."""
        return self.document is not None and self.document.revision > 0


class FolderSession:
    def __init__(
        self,
        folder: Path,
        paths: list[Path],
        *,
        load: Loader = load_document,
        keep_viewed: int = 2,
        prefetch: bool = True,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.photos = [FolderPhoto(i, Path(p)) for i, p in enumerate(paths)]
        self.index: int | None = None
        self.load = load
        self.keep_viewed = keep_viewed  # untouched documents kept besides the current one
        # Called with a photo's index when its edited/exported marks or its pixels (fills, layers) change.
        self.on_change = on_change
        self._by_path = {p.path: p.index for p in self.photos}
        self._recent: list[int] = []  # shown photos, most recent last
        self._prefetch_enabled = prefetch
        self._executor: ThreadPoolExecutor | None = None
        self._prefetched: dict[int, Future[Document]] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, folder: Path, **options: Any) -> FolderSession:
        """The photos in `folder`, sorted by name; raises InpaintStudioError if it holds none."""
        paths = find_images(Path(folder))
        if not paths:
            raise InpaintStudioError(f"There are no photos in '{folder}'.")
        return cls(folder, paths, **options)

    def __len__(self) -> int:
        return len(self.photos)

    @property
    def current(self) -> FolderPhoto | None:
        return None if self.index is None else self.photos[self.index]

    def index_of(self, path: Path) -> int | None:
        return self._by_path.get(Path(path))

    def step(self, delta: int) -> int | None:
        """The index `delta` photos from the current one, or None past either end (no wrapping)."""
        if not self.photos:
            return None
        target = (0 if delta > 0 else len(self.photos) - 1) if self.index is None else self.index + delta
        return target if 0 <= target < len(self.photos) else None

    def position_text(self) -> str:
        """'name — 3 / 120' for the status bar."""
        photo = self.current
        return "" if photo is None else f"{photo.name} — {photo.index + 1} / {len(self.photos)}"

    def edited(self) -> list[FolderPhoto]:
        return [photo for photo in self.photos if photo.edited]

    # ------------------------------------------------------------ showing

    def show(self, index: int) -> Document:
        """Make photo `index` the current one and return its document, loading it if needed.

        Raises InpaintStudioError (and leaves the current photo as it was) if it cannot be opened.
        """
        photo = self.photos[index]
        if photo.document is None:
            photo.document = self._obtain(photo)
            photo.document.listeners.append(functools.partial(self._document_changed, photo))
        photo.error = None
        previous, self.index = self.index, index
        if index in self._recent:
            self._recent.remove(index)
        self._recent.append(index)
        self._drop_untouched()
        if self._prefetch_enabled:
            direction = 1 if previous is None or index >= previous else -1
            self._prefetch(index + direction)
        return photo.document

    def mark_exported(self, index: int, path: Path) -> None:
        photo = self.photos[index]
        photo.exported = True
        photo.export_path = Path(path)
        self._report(photo)

    def close(self) -> None:
        """Stop loading ahead and let go of every document."""
        with self._lock:
            futures, self._prefetched = list(self._prefetched.values()), {}
        for future in futures:
            future.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        for photo in self.photos:
            photo.document = None
        self.index = None

    def _obtain(self, photo: FolderPhoto) -> Document:
        with self._lock:
            future = self._prefetched.pop(photo.index, None)
        try:
            if future is not None and not future.cancelled():
                return future.result()  # loaded ahead; waits if it is still loading
            try:
                return self.load(photo.path)
            except MemoryError:
                self._drop_untouched(keep=0)  # make room from photos only looked at, then try once more
                return self.load(photo.path)
        except InpaintStudioError as error:
            photo.error = str(error)
            raise
        except MemoryError:
            photo.error = f"Cannot open '{photo.path}': not enough memory to open it besides the photos being edited."
            raise InpaintStudioError(photo.error) from None

    def _drop_untouched(self, keep: int | None = None) -> None:
        """Forget documents that were only looked at, beyond the `keep` most recently shown."""
        keep = self.keep_viewed if keep is None else keep
        viewed = [i for i in reversed(self._recent) if i != self.index and not self.photos[i].touched]
        for i in viewed[keep:]:
            self.photos[i].document = None
            self._recent.remove(i)

    def _prefetch(self, index: int) -> None:
        with self._lock:
            for stale in [i for i in self._prefetched if i != index]:
                self._prefetched.pop(stale).cancel()
            if not 0 <= index < len(self.photos) or self.photos[index].document is not None or index in self._prefetched:
                return
            if self.photos[index].error is not None:
                return  # known to fail: do not decode it again behind the user's back
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="folder-prefetch")
            self._prefetched[index] = self._executor.submit(self.load, self.photos[index].path)

    # ------------------------------------------------------------ marks

    def _document_changed(self, photo: FolderPhoto, what: DocumentEvent, box: Box | None = None) -> None:
        if what == DocumentEvent.HISTORY:
            self._report(photo)
        elif what == DocumentEvent.IMAGE and self.on_change is not None:
            self.on_change(photo.index)  # its pixels changed: a view showing a preview of it redraws it

    def _report(self, photo: FolderPhoto) -> None:
        marks = (photo.edited, photo.exported)
        if marks != photo._reported:
            photo._reported = marks
            if self.on_change is not None:
                self.on_change(photo.index)

"""Small previews of photos, made quickly, cached on disk, and made in the background.

Browsing a folder of thousands of photos must not decode thousands of full
photos: a JPEG is decoded at 1/2 to 1/8 of its size by libjpeg itself
(`Image.draft`), which makes a 24-megapixel photo's preview about three times
cheaper than decoding it. Previews are upright (EXIF orientation applied) and
read through the same checks as `load_image` (pixel limit, damaged files), so
the strip and the editor agree on which files are usable.

The disk cache is keyed by the file's resolved path, modification time and
size: an edited or replaced file gets a new preview, and a stale one is never
shown. Cache files are written atomically, so two app instances or a crash
never leave half a preview behind; the oldest are pruned past a size budget.

Nothing here raises for a bad file: `Thumbnail.error` says why in a sentence,
because a background thread has no one to raise to.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, PngImagePlugin

from inpaint_studio.core import paths
from inpaint_studio.core.errors import InpaintStudioError, plain_reason
from inpaint_studio.io.atomic import atomic_write

# One reading path for every photo: the same limit, the same messages, the same mode handling.
from inpaint_studio.io.image_file import (
    DEEP_MODES,
    check_decodable,
    check_is_readable_file,
    eight_bit_view,
    explained_read_errors,
    open_image,
    pillow_bomb_check_off,
    resolve_max_pixels,
    supported_native,
)

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 160  # longest side in device pixels at a device-pixel ratio of 1
CACHE_VERSION = 1  # bump when the way previews are made changes: old cache files are then ignored
DEFAULT_CACHE_BYTES = 256 << 20
_SIZE_TAG = "inpaint-studio-size"  # the photo's own upright size, kept in the cache file
_JPEG_QUALITY = 88


@dataclass(frozen=True, eq=False)
class Thumbnail:
    """A preview of `path`, or why there is none."""

    path: Path
    pixels: np.ndarray | None  # uint8 (h, w, 3) RGB or (h, w, 4) RGBA, longest side <= the requested size
    source_size: tuple[int, int] | None = None  # (width, height) of the upright photo
    error: str | None = None  # a sentence for the user when `pixels` is None
    from_cache: bool = False

    @property
    def ok(self) -> bool:
        return self.pixels is not None


def make_thumbnail(path: str | os.PathLike, size: int = THUMBNAIL_SIZE, *, max_pixels: int | None = None) -> Thumbnail:
    """Decode `path` small and upright; never raises for a file that cannot be read."""
    path = Path(path)
    try:
        return _make(path, size, resolve_max_pixels(max_pixels))
    except InpaintStudioError as error:
        return Thumbnail(path, None, error=str(error))
    except MemoryError:
        return Thumbnail(path, None, error=f"Cannot open '{path}': not enough memory to read it.")
    except Exception as error:
        log.warning("thumbnail of %s failed", path, exc_info=True)
        return Thumbnail(path, None, error=f"Cannot open '{path}': {plain_reason(error)}.")


def _make(path: Path, size: int, limit: int) -> Thumbnail:
    check_is_readable_file(path)
    with explained_read_errors(path), pillow_bomb_check_off(), open_image(path) as im:
        check_decodable(path, im, limit)  # the editor's own rules: the strip shows what it can open
        full_size = im.size
        icc = im.info.get("icc_profile") or None
        # JPEG only (a no-op elsewhere): libjpeg scales by 1/2, 1/4 or 1/8 while decoding,
        # never below the requested box, so the resize below still has pixels to spare.
        im.draft("RGB" if im.mode == "RGB" else None, (size, size))
        im.load()
        upright = ImageOps.exif_transpose(im)
        if (upright.width > upright.height) != (full_size[0] > full_size[1]):
            full_size = (full_size[1], full_size[0])  # rotated a quarter turn
        native = supported_native(path, upright)
        if native.mode == "P":
            native = native.convert("RGBA" if native.has_transparency_data else "RGB")
        if native.mode in DEEP_MODES:
            # 16-bit and float grey: to 8 bits first, as the editor shows them.
            rgb, _ = eight_bit_view(native, icc)
            native = Image.fromarray(rgb)
        native.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
        rgb, alpha = eight_bit_view(native, icc)
    pixels = np.ascontiguousarray(rgb if alpha is None else np.dstack([rgb, alpha]))
    return Thumbnail(path, pixels, full_size)


def thumbnail_of_pixels(rgb: np.ndarray, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A preview of pixels already in memory (an edited photo's composite), in about a millisecond.

    Every n-th pixel first (n keeps at least two per preview pixel, so the area
    filter still averages), then an area-averaging resize: a 24-megapixel photo
    is never copied whole on the GUI thread (1 ms instead of 90 ms). On a real
    photo it is 40+ dB from a full area resize; only fine regular patterns
    (one-pixel stripes) can alias, which a preview can live with.
    """
    height, width = rgb.shape[:2]
    scale = size / max(height, width)
    if scale >= 1:
        return np.ascontiguousarray(rgb)
    step = max(1, int(1 / scale) // 2)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(np.ascontiguousarray(rgb[::step, ::step]), target, interpolation=cv2.INTER_AREA)


class ThumbnailCache:
    """Previews on disk under `folder`, keyed by what the file is now."""

    def __init__(
        self, folder: str | os.PathLike | None = None, size: int = THUMBNAIL_SIZE, *, max_pixels: int | None = None
    ) -> None:
        self.folder = Path(folder) if folder is not None else paths.thumbnails_dir()
        self.size = size
        self.max_pixels = max_pixels

    def key(self, path: Path) -> str:
        """Changes whenever the file does (path, modification time, size); raises OSError if it is gone."""
        info = os.stat(path)
        text = f"{CACHE_VERSION}\0{self.size}\0{Path(path).resolve()}\0{info.st_mtime_ns}\0{info.st_size}"
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def get(self, path: str | os.PathLike) -> Thumbnail:
        """The cached preview, else a new one (stored for next time); never raises for a bad file."""
        path = Path(path)
        try:
            key = self.key(path)
        except OSError:
            return make_thumbnail(path, self.size, max_pixels=self.max_pixels)  # names the problem
        cached = self.lookup(path, key)
        if cached is not None:
            return cached
        thumbnail = make_thumbnail(path, self.size, max_pixels=self.max_pixels)
        if thumbnail.ok:
            self._store(key, thumbnail)
        return thumbnail

    def lookup(self, path: Path, key: str | None = None) -> Thumbnail | None:
        """The cached preview of `path` as it is now, or None."""
        try:
            key = key or self.key(path)
        except OSError:
            return None
        for suffix in (".jpg", ".png"):
            file = self.folder / f"{key}{suffix}"
            try:
                with Image.open(file, formats=["JPEG", "PNG"]) as im:
                    im.load()
                    text = im.info.get(_SIZE_TAG) or im.info.get("comment", b"")
                    pixels = np.asarray(im.convert("RGBA" if im.mode in ("RGBA", "LA") else "RGB"))
            except FileNotFoundError:
                continue
            except Exception:  # noqa: BLE001 - a damaged cache file is only a cache miss
                _remove_quietly(file)
                continue
            _touch(file)
            return Thumbnail(path, np.ascontiguousarray(pixels), _parse_size(text), from_cache=True)
        return None

    def _store(self, key: str, thumbnail: Thumbnail) -> None:
        if thumbnail.pixels is None:
            return
        image = Image.fromarray(thumbnail.pixels)
        width, height = thumbnail.source_size or (0, 0)
        size_text = f"{width}x{height}"
        options: dict[str, object]
        if image.mode == "RGBA":
            info = PngImagePlugin.PngInfo()
            info.add_text(_SIZE_TAG, size_text)
            file, file_format, options = self.folder / f"{key}.png", "PNG", {"pnginfo": info, "compress_level": 1}
        else:
            options = {"quality": _JPEG_QUALITY, "comment": size_text.encode("ascii")}
            file, file_format = self.folder / f"{key}.jpg", "JPEG"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(file, lambda out: image.save(out, file_format, **options))
        except OSError as error:
            # A read-only or full cache folder only costs speed; the preview is still shown.
            log.info("cannot cache the thumbnail of %s: %s", thumbnail.path, error)

    def prune(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> int:
        """Delete the least recently used previews until the cache fits in `max_bytes`; the count deleted."""
        try:
            entries = []
            with os.scandir(self.folder) as it:
                for entry in it:
                    if entry.is_file() and entry.name.endswith((".jpg", ".png", ".tmp")):
                        info = entry.stat()
                        entries.append((info.st_mtime, info.st_size, entry.path))
        except OSError:
            return 0
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, file in sorted(entries):
            if total <= max_bytes:
                break
            if _remove_quietly(Path(file)):
                total -= size
                removed += 1
        return removed


def _parse_size(text) -> tuple[int, int] | None:
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    try:
        width, height = (int(v) for v in str(text).split("x"))
    except ValueError:
        return None
    return (width, height) if width > 0 and height > 0 else None


_TOUCH_AFTER = 24 * 3600  # refresh a cache file's time at most daily: pruning keeps what is used


def _touch(file: Path) -> None:
    try:
        if time.time() - file.stat().st_mtime > _TOUCH_AFTER:
            os.utime(file)
    except OSError:
        pass


def _remove_quietly(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:
        return False
    return True


def lower_thread_priority() -> None:
    """Let the calling thread yield the CPU to the GUI thread (Linux; elsewhere a no-op).

    On a machine with two cores, two busy decoding threads would otherwise take
    turns with the GUI thread and stall it for tens of milliseconds at a time.
    """
    if sys.platform.startswith("linux"):
        try:
            # Linux schedules threads as tasks: the thread's own id sets its own niceness.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 5)
        except OSError:
            pass


class ThumbnailLoader:
    """Makes previews on at most `threads` background threads and hands each to `deliver`.

    The newest request is served first: while the user scrolls, the rows now
    on screen come before the ones scrolled past. Only `max_pending` requests
    wait; older ones are forgotten, and a view asks again when it shows them.
    `deliver` is called on a loader thread (a Qt caller forwards it with a
    signal); a failure in it is logged, never fatal to the thread.
    """

    def __init__(
        self,
        cache: ThumbnailCache,
        deliver: Callable[[Thumbnail], None],
        *,
        threads: int = 2,
        max_pending: int = 256,
        prune_bytes: int | None = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.cache = cache
        self.deliver = deliver
        self.max_pending = max_pending
        self._threads_wanted = max(1, threads)
        self._threads: list[threading.Thread] = []
        self._pending: OrderedDict[Path, None] = OrderedDict()
        self._running: set[Path] = set()
        self._condition = threading.Condition()
        self._stopped = False
        self._prune_bytes = prune_bytes  # pruned once, in the background, after the first request

    def request(self, path: str | os.PathLike) -> None:
        """Make `path`'s preview soon; a path already waiting or being made is not queued twice."""
        path = Path(path)
        with self._condition:
            if self._stopped or path in self._running:
                return
            self._pending[path] = None
            self._pending.move_to_end(path)  # asked again: it is on screen now
            while len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)
            if len(self._threads) < min(self._threads_wanted, len(self._pending) + len(self._running)):
                self._start_thread()
            self._condition.notify()

    def request_many(self, paths: Iterable[str | os.PathLike]) -> None:
        for path in paths:
            self.request(path)

    def forget_pending(self) -> None:
        """Drop every waiting request (e.g. another folder was opened); running ones still deliver."""
        with self._condition:
            self._pending.clear()

    @property
    def pending(self) -> int:
        with self._condition:
            return len(self._pending) + len(self._running)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is waiting or running (tests and benchmarks); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while self._pending or self._running:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._condition:
            self._stopped = True
            self._pending.clear()
            self._condition.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._run, name=f"thumbnails-{len(self._threads) + 1}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self) -> None:
        lower_thread_priority()
        while True:
            with self._condition:
                while not self._pending and not self._stopped:
                    self._condition.wait()
                if self._stopped:
                    return
                path, _ = self._pending.popitem(last=True)
                self._running.add(path)
                prune, self._prune_bytes = self._prune_bytes, None
            try:
                thumbnail = self.cache.get(path)
                if not self._stopped:
                    self.deliver(thumbnail)
                if prune is not None:
                    self.cache.prune(prune)
            except Exception:
                log.exception("delivering the thumbnail of %s failed", path)
            finally:
                with self._condition:
                    self._running.discard(path)
                    self._condition.notify_all()

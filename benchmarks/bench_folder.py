"""Opening a folder of many photos in the window: how fast the strip appears, thumbnails, stalls (offscreen).

    python benchmarks/bench_folder.py [--count 1000] [--large 3] [--eval-dir ../shared/eval]

Makes COUNT JPEGs of 0.3-3 megapixels (crops of the large evaluation photos,
some with an EXIF rotation; a noise texture when ../shared/eval is absent) and
LARGE 24-megapixel ones in a temporary folder, with an empty thumbnail cache
in a temporary folder too, then in the real MainWindow under offscreen Qt:

1. Cold open: the `open_folder` call (listing the folder and decoding the
   first photo), time until the strip has laid out every row, and time until
   the thumbnails of the rows on screen are drawn.
2. Every thumbnail made: all rows are asked for at once (as if the user
   scrolled through the whole strip) while the strip scrolls a cell every
   20 ms; thumbnails per second, and the longest gap of a 10 ms QTimer
   (the GUI event loop's worst stall) and its p99 meanwhile.
3. Warm reopen in a new window (empty in-memory LRU, thumbnails on disk):
   the same figures.
4. One 24-megapixel JPEG: thumbnail (reduced-scale decode) vs decoding it whole.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
TMP = Path(tempfile.mkdtemp(prefix="bench-folder-"))
os.environ["XDG_CACHE_HOME"] = str(TMP / "cache")  # a cold thumbnail cache, never the user's
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np
from PIL import Image
from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QApplication

from inpaint_studio.io.image_file import load_image
from inpaint_studio.io.thumbnails import make_thumbnail
from inpaint_studio.session.settings import Settings
from inpaint_studio.ui.folder_strip import STATE_ROLE
from inpaint_studio.ui.main_window import MainWindow

SIZES = [(640, 480), (1024, 683), (1280, 960), (1600, 1067), (2048, 1365), (2000, 1500)]


def sources(eval_dir: Path) -> list[Image.Image]:
    large = [eval_dir / "large" / "volna.jpg", eval_dir / "large" / "wood_full.jpg"]
    found = [Image.open(path).convert("RGB") for path in large if path.is_file()]
    if found:
        return found
    rng = np.random.default_rng(0)  # no evaluation photos: blurred noise, which compresses like a photo
    noise = rng.integers(0, 255, (720, 1280, 3), np.uint8)
    return [Image.fromarray(noise).resize((5120, 2880), Image.BICUBIC)]


def make_folder(folder: Path, count: int, large: int, eval_dir: Path) -> int:
    folder.mkdir(parents=True)
    pool = sources(eval_dir)
    rng = np.random.default_rng(1)
    total = 0
    for i in range(count):
        source = pool[i % len(pool)]
        width, height = SIZES[rng.integers(len(SIZES))]
        scale = max(width / source.width, height / source.height, 1.0)
        if scale > 1.0:
            source = source.resize((round(source.width * scale), round(source.height * scale)))
        x, y = int(rng.integers(source.width - width + 1)), int(rng.integers(source.height - height + 1))
        crop = source.crop((x, y, x + width, y + height))
        options = {"quality": 90}
        if i % 10 == 3:  # some shot in portrait: stored sideways with an EXIF rotation
            exif = Image.Exif()
            exif[0x0112] = 6
            options["exif"] = exif.tobytes()
        path = folder / f"IMG_{i:05d}.jpg"
        crop.save(path, **options)
        total += path.stat().st_size
    for i in range(large):
        big = pool[0].resize((6000, 4000), Image.BICUBIC)
        path = folder / f"IMG_{i * (count // max(large, 1)):05d}_24mp.jpg"
        big.save(path, quality=92)
        total += path.stat().st_size
    return total


def wait_for(app: QApplication, condition, timeout: float = 600.0) -> float:
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("condition not met")
        app.processEvents()
        time.sleep(0.001)
    return time.perf_counter() - started


class StallProbe:
    """A 10 ms repeating timer that records the gaps between its ticks."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.gaps: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.gaps.clear()
        self.clock.start()
        self._last = 0.0
        self.timer.start()

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed() / 1e6
        self.gaps.append(now - self._last)
        self._last = now

    def stop(self) -> tuple[float, float]:
        self.timer.stop()
        gaps = sorted(self.gaps) or [0.0]
        return gaps[-1], gaps[int(0.99 * (len(gaps) - 1))]


def visible_rows(window) -> list[int]:
    view, model = window.folders.strip.view, window.folders.strip.model
    area = view.viewport().rect()
    return [r for r in range(model.rowCount()) if view.visualRect(model.index(r)).intersects(area)]


def done_count(model) -> int:
    return sum(model.index(r).data(STATE_ROLE) != "loading" for r in range(model.rowCount()))


def open_and_measure(app, folder: Path, count: int, label: str) -> None:
    window = MainWindow(Settings(auto_run=False), settings_path=TMP / "settings.json", autosave_folder=TMP / "autosave")
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    strip = window.folders.strip
    model = strip.model

    started = time.perf_counter()
    assert window.open_folder(folder)
    call = time.perf_counter() - started
    wait_for(app, lambda: model.rowCount() == count and strip.view.horizontalScrollBar().maximum() > 0)
    laid_out = time.perf_counter() - started
    rows = visible_rows(window)
    wait_for(app, lambda: all(model.index(r).data(STATE_ROLE) != "loading" for r in rows))
    screenful = time.perf_counter() - started
    print(f"{label}: open_folder call {call * 1000:.0f} ms (list + first photo); strip laid out with all "
          f"{count} rows at {laid_out * 1000:.0f} ms; the {len(rows)} thumbnails on screen drawn at {screenful * 1000:.0f} ms")

    # Every thumbnail, while the strip scrolls and a 10 ms timer measures the event loop.
    loader = strip.loader
    loader.max_pending = count + 10
    probe = StallProbe()
    scroller = QTimer()
    scroller.setInterval(20)
    bar = strip.view.horizontalScrollBar()
    scroller.timeout.connect(lambda: bar.setValue(min(bar.maximum(), bar.value() + strip.cell_size().width())))
    made_before = done_count(model)
    probe.start()
    scroller.start()
    started = time.perf_counter()
    loader.request_many(photo.path for photo in window.workspace.folder.photos)
    seconds = wait_for(app, lambda: model.cached_count() + model.error_count() >= count)
    scroller.stop()
    worst, p99 = probe.stop()
    made = count - made_before
    print(f"{label}: all {count} thumbnails in {seconds:.2f} s ({made / seconds:.0f} thumbnails/s on 2 threads); "
          f"GUI event loop meanwhile: longest 10 ms-timer gap {worst:.1f} ms, p99 {p99:.1f} ms; "
          f"unreadable {model.error_count()}")
    window.close()
    window.deleteLater()
    app.processEvents()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="small-to-medium photos (default 1000)")
    parser.add_argument("--large", type=int, default=3, help="24-megapixel photos besides them (default 3)")
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "eval")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    folder = TMP / "photos"
    try:
        started = time.perf_counter()
        size = make_folder(folder, args.count, args.large, args.eval_dir)
        total = args.count + args.large
        print(f"made {total} JPEGs ({size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s; "
              f"thumbnail cache in {TMP / 'cache'}")
        open_and_measure(app, folder, total, "cold cache")
        open_and_measure(app, folder, total, "warm cache (reopened in a new window)")
        cache_files = list((TMP / "cache").rglob("*.jpg"))
        print(f"disk cache: {len(cache_files)} files, {sum(f.stat().st_size for f in cache_files) / 1e6:.1f} MB")

        big = next(folder.glob("*_24mp.jpg"), None)
        if big is not None:
            thumbs, wholes = [], []
            for _ in range(3):
                t = time.perf_counter()
                make_thumbnail(big)
                thumbs.append(time.perf_counter() - t)
                t = time.perf_counter()
                load_image(big)
                wholes.append(time.perf_counter() - t)
            print(f"24 MP JPEG: thumbnail {statistics.median(thumbs) * 1000:.0f} ms (1/8-scale decode) "
                  f"vs load_image {statistics.median(wholes) * 1000:.0f} ms (median of 3)")
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

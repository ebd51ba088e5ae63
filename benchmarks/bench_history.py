"""Undo history on a 24-megapixel photo: memory growth, and the time of every undo and redo.

    python benchmarks/bench_history.py [--seed 0]

Opens a 6000x4000 photo (synthetic, with texture, written as JPEG to the temp
folder) and removes 10 objects the way a user does, in the same process:
- 50 brush strokes (BrushStroke, 20-200 px, 40-point paths), five around each
  object (objects 200-1000 px across, anywhere on the photo), the fifth one
  erasing, then
- 10 fills (OpenCV Telea through the shared pipeline), one per object, each
  added as a result layer, then
- 10 layer operations (opacity, hide, rename, move, duplicate, merge down,
  delete, flatten, ...),
then undoes every step one at a time and redoes them all. Prints:
- the process's resident memory growth over the whole editing session
  (target <= 600 MB) beside the history's own byte count, and what
  whole-image snapshots (composite + mask per step) would have needed;
- undo and redo time per step: median, p95 and max, and the slowest command
  types (target <= 100 ms per step).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaint_studio.core import layer_commands as ops
from inpaint_studio.core.document import Document
from inpaint_studio.core.mask_edit import BrushStroke
from inpaint_studio.core.patch import Patch
from inpaint_studio.engines.opencv_engines import TeleaEngine
from inpaint_studio.engines.pipeline import inpaint_patches
from inpaint_studio.io import load_image

WIDTH, HEIGHT = 6000, 4000
MB = 1 << 20


def rss_bytes() -> int:
    """Resident set size now (Linux /proc); 0 where unavailable."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    except OSError:
        return 0


def make_photo(folder: Path) -> Path:
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (400, 600, 3), np.uint8)
    photo = cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    photo = np.clip(photo + rng.normal(0, 6, photo.shape), 0, 255).astype(np.uint8)
    path = folder / "photo24mp.jpg"
    Image.fromarray(photo).save(path, quality=90)
    return path


def brush_stroke(document: Document, rng: np.random.Generator, centre: tuple[float, float], extent: float, erase: bool) -> None:
    """A scribble over part of the object at `centre`, `extent` pixels across."""
    stroke = BrushStroke(document.mask, float(rng.uniform(20, 200)), hardness=0.8, erase=erase)
    for t in np.linspace(0, 1, 40):
        x = centre[0] + extent * (t - 0.5) + rng.normal(0, extent / 8)
        y = centre[1] + extent * 0.4 * np.sin(6 * t + rng.uniform(0, 6))
        stroke.add_point(float(np.clip(x, 0, WIDTH - 1)), float(np.clip(y, 0, HEIGHT - 1)))
    document.record_mask_edit(stroke.finish(), "Eraser" if stroke.erase else "Brush")


def fill(document: Document) -> None:
    job_mask = document.mask.copy()
    patches = inpaint_patches(TeleaEngine(), document.composite, job_mask)
    document.add_fill(patches, job_mask, "OpenCV Telea", {"engine": "telea"})


LAYER_OPERATIONS = [  # each one changes something, so each is one history step
    lambda d: ops.set_layer_property(d, d.layers[-1], "opacity", 0.6),
    lambda d: ops.set_layer_property(d, d.layers[0], "visible", False),
    lambda d: ops.set_layer_property(d, d.layers[1], "name", "renamed"),
    lambda d: ops.move_layer(d, d.layers[1], len(d.layers) - 1),
    lambda d: ops.duplicate_layer(d, d.layers[2]),
    lambda d: ops.merge_down(d, d.layers[3]),
    lambda d: ops.delete_layer(d, d.layers[4]),
    lambda d: ops.set_layer_property(d, next(layer for layer in d.layers if not layer.visible), "visible", True),
    lambda d: ops.merge_down(d, d.layers[-1]),
    lambda d: ops.flatten(d),
]


def timed_steps(step, count: int) -> list[tuple[float, str]]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        label = step()
        times.append((time.perf_counter() - start, label))
    return times


def summary(times: list[tuple[float, str]]) -> str:
    ms = sorted(t * 1000 for t, _ in times)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):6.1f} ms, p95 {p95:6.1f} ms, max {ms[-1]:6.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    with tempfile.TemporaryDirectory() as folder:
        document = Document(load_image(make_photo(Path(folder))))
        # Load what the app has loaded before any edit (numba for the blend; the default
        # engine needs it too), so the growth below is the document's and history's own.
        Patch(0, 0, np.zeros((1, 1, 3), np.uint8), np.full((1, 1), 255, np.uint8)).composite_onto(document.composite)
        gc.collect()
        start_rss = rss_bytes()
        t0 = time.perf_counter()
        # One object at a time: five strokes, then a fill; layer work at the end.
        for _ in range(10):
            extent = float(rng.uniform(200, 1000))
            centre = (float(rng.uniform(extent, WIDTH - extent)), float(rng.uniform(extent, HEIGHT - extent)))
            for k in range(5):
                brush_stroke(document, rng, centre, extent, erase=k == 4)  # the last one tidies up
            fill(document)
        for operation in LAYER_OPERATIONS:
            operation(document)
        gc.collect()
        grown = rss_bytes() - start_rss
        # A stroke entirely inside earlier ones changes nothing and records no step.
        strokes = sum(label in ("Brush", "Eraser") for label in document.history.steps)
        edit_seconds = time.perf_counter() - t0
        history = document.history
        steps = len(history.steps)

        undo = timed_steps(document.undo, history.position)
        redo = timed_steps(document.redo, len(history.steps))

    snapshot_bytes = steps * (WIDTH * HEIGHT * 4)  # composite (3 bytes) + mask (1 byte) per step
    print(f"photo: {WIDTH}x{HEIGHT} ({WIDTH * HEIGHT / 1e6:.0f} MP); {steps} history steps "
          f"(50 strokes of which {strokes} changed the mask, 10 fills, 10 layer operations), "
          f"edited in {edit_seconds:.1f} s")
    print(f"process memory growth: {grown / MB:7.1f} MB   (target <= 600 MB)")
    print(f"history holds:         {history.nbytes / MB:7.1f} MB   "
          f"(budget {history.budget_bytes / MB:.0f} MB, dropped {history.dropped})")
    print(f"whole-image snapshots: {snapshot_bytes / MB:7.1f} MB   ({snapshot_bytes / max(grown, 1):.1f}x the measured growth)")
    print(f"undo per step: {summary(undo)}   (target <= 100 ms)")
    print(f"redo per step: {summary(redo)}")
    slowest = sorted(undo + redo, reverse=True)[:3]
    print("slowest steps: " + ", ".join(f"{label} {t * 1000:.1f} ms" for t, label in slowest))
    return 0


if __name__ == "__main__":
    sys.exit(main())

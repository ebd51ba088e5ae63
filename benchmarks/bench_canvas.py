"""The canvas with a 24-megapixel photo: time to first paint, and the cost of a brush dab.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_canvas.py [--eval-dir ../shared/eval] [--runs 3]
    QT_SCALE_FACTOR=2 ...   the same on a simulated HiDPI screen (devicePixelRatio 2)

Builds a 6000x4000 JPEG from ../shared/eval/large/volna.jpg (upscaled, with
sensor-like noise so it does not compress trivially) in the temp folder, then
prints for a 1600x1000 canvas:
- open to first paint: `io.load_image` + `CanvasView.set_image` + the first
  finished paintEvent at fit zoom, split into the three, first run and median;
  and what Pillow's reduced JPEG decoding (`Image.draft`) would cost instead
  of a full decode, for a quick preview;
- full-frame repaints (what each pan or zoom step costs) at fit, 100% and 400%;
- a brush stroke of 200 dabs (diameter 60, cv2.circle into the mask, then
  `update_mask_region` and processing the repaint it asks for) at 100% and at
  fit zoom: p50 / p95 / max per dab;
- baselines in the same process: converting the whole photo to a QImage (the
  naive open), and rebuilding a full-size RGBA overlay per dab (the naive dab).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2
import numpy as np
from PIL import Image
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaint_studio.io import load_image
from inpaint_studio.ui.canvas import CanvasView
from inpaint_studio.ui.qimage import array_to_qimage

WIDTH, HEIGHT = 6000, 4000
VIEW_WIDTH, VIEW_HEIGHT = 1600, 1000
DABS, DIAMETER = 200, 60


class TimedCanvas(CanvasView):
    """Counts paint events and records when the last one finished."""

    def __init__(self) -> None:
        super().__init__()
        self.paints = 0
        self.painted_at = 0.0

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        self.paints += 1
        self.painted_at = time.perf_counter()


def make_photo(source: Path, path: Path) -> None:
    rgb = np.asarray(Image.open(source).convert("RGB"))
    big = cv2.resize(rgb, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).normal(0, 4, big.shape[:2] + (1,))  # luminance grain
    big = np.clip(big + noise, 0, 255).astype(np.uint8)
    Image.fromarray(big).save(path, quality=92)


def wait_for_paint(canvas: TimedCanvas, paints_before: int) -> float:
    app = QApplication.instance()
    while canvas.paints == paints_before:
        app.processEvents()
    return canvas.painted_at


def open_to_first_paint(path: Path) -> dict[str, float]:
    canvas = TimedCanvas()
    canvas.resize(VIEW_WIDTH, VIEW_HEIGHT)
    canvas.show()
    wait_for_paint(canvas, 0)  # the empty canvas is on screen, as in the app before opening
    started = time.perf_counter()
    photo = load_image(path)
    loaded = time.perf_counter()
    paints = canvas.paints
    canvas.set_image(photo.rgb)
    shown = time.perf_counter()
    painted = wait_for_paint(canvas, paints)
    canvas.close()
    return {
        "decode": loaded - started,
        "set_image": shown - loaded,
        "first paint": painted - shown,
        "total": painted - started,
    }


def reduced_decodes(path: Path) -> dict[str, float]:
    times = {}
    for label, scale in (("full", 1), ("1/2", 2), ("1/4", 4), ("1/8", 8)):
        started = time.perf_counter()
        with Image.open(path) as im:
            if scale > 1:
                im.draft("RGB", (WIDTH // scale, HEIGHT // scale))
            im.load()
            decoded = im.size
        times[f"{label} {decoded[0]}x{decoded[1]}"] = time.perf_counter() - started
    return times


def full_repaint(canvas: TimedCanvas, runs: int = 10) -> float:
    times = []
    for _ in range(runs):
        paints = canvas.paints
        started = time.perf_counter()
        canvas.update()
        times.append(wait_for_paint(canvas, paints) - started)
    return statistics.median(times)


def stroke_points(canvas: CanvasView) -> list[tuple[int, int]]:
    """200 dabs a quarter of the diameter apart, on a wave through the visible part of the photo."""
    visible = canvas.visible_image_rect()
    centre = visible.center()
    spacing = DIAMETER / 4
    length = min(DABS * spacing, visible.width() - 2 * DIAMETER) if visible.width() > 4 * DIAMETER else DABS * spacing
    xs = centre.x() - length / 2 + np.arange(DABS) * length / DABS
    ys = centre.y() + min(visible.height() / 4, 200) * np.sin(np.arange(DABS) / 15)
    return [(int(x), int(y)) for x, y in zip(xs, ys, strict=True)]


def brush_stroke(canvas: TimedCanvas, mask: np.ndarray) -> tuple[list[float], int]:
    app = QApplication.instance()
    radius = DIAMETER // 2
    times = []
    paints = canvas.paints
    for x, y in stroke_points(canvas):
        started = time.perf_counter()
        cv2.circle(mask, (x, y), radius, 255, -1)
        canvas.update_mask_region((x - radius, y - radius, x + radius + 1, y + radius + 1))
        app.processEvents()
        times.append(time.perf_counter() - started)
    return times, canvas.paints - paints


def naive_dab(canvas: TimedCanvas, mask: np.ndarray, runs: int = 5) -> list[float]:
    """The per-dab cost of rebuilding a full-size RGBA overlay and its QImage, then repainting everything."""
    app = QApplication.instance()
    times = []
    target = QImage(VIEW_WIDTH, VIEW_HEIGHT, QImage.Format.Format_ARGB32_Premultiplied)
    for i in range(runs):
        started = time.perf_counter()
        cv2.circle(mask, (1000 + 20 * i, 1000), DIAMETER // 2, 255, -1)
        overlay = np.zeros(mask.shape + (4,), np.uint8)
        overlay[..., 0] = 255
        overlay[..., 3] = mask // 2
        image = array_to_qimage(overlay).convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
        painter = QPainter(target)
        painter.drawImage(0, 0, image)
        painter.end()
        canvas.update()
        app.processEvents()
        times.append(time.perf_counter() - started)
    return times


def percentiles(times: list[float]) -> str:
    ms = np.array(times) * 1000
    return f"p50 {np.percentile(ms, 50):6.2f} ms   p95 {np.percentile(ms, 95):6.2f} ms   max {ms.max():6.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "eval")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])

    path = Path(tempfile.gettempdir()) / "inpaint_studio_bench_24mp.jpg"
    if not path.exists():
        make_photo(args.eval_dir / "large" / "volna.jpg", path)
    print(f"photo: {path} ({WIDTH}x{HEIGHT}, {path.stat().st_size / 1e6:.1f} MB); canvas {VIEW_WIDTH}x{VIEW_HEIGHT}, "
          f"devicePixelRatio {app.devicePixelRatio():g}; {os.cpu_count()} CPUs; Qt platform {app.platformName()}")

    print("\nopen to first paint (load_image + set_image + first paintEvent at fit):")
    runs = [open_to_first_paint(path) for _ in range(args.runs)]
    for key in runs[0]:
        values = [run[key] for run in runs]
        print(f"  {key:12s} first run {values[0] * 1000:7.1f} ms   median {statistics.median(values) * 1000:7.1f} ms")
    print("  Pillow decode alone, full and reduced (Image.draft):")
    for label, seconds in reduced_decodes(path).items():
        print(f"    {label:18s} {seconds * 1000:7.1f} ms")

    photo = load_image(path).rgb
    started = time.perf_counter()
    array_to_qimage(photo).convertToFormat(QImage.Format.Format_RGB32)
    print(f"  baseline: converting the whole photo to a QImage (RGB32) {(time.perf_counter() - started) * 1000:.1f} ms")

    canvas = TimedCanvas()
    canvas.resize(VIEW_WIDTH, VIEW_HEIGHT)
    canvas.show()
    mask = np.zeros(photo.shape[:2], np.uint8)
    canvas.set_image(photo)
    canvas.set_mask(mask)
    cv2.circle(mask, (3000, 2000), 600, 255, -1)  # some overlay on screen
    canvas.update_mask_region(None)
    wait_for_paint(canvas, canvas.paints)

    print("\nfull-frame repaint (one pan/zoom step), photo + overlay, median:")
    for label, zoom in (("fit", None), ("70%", 0.7), ("100%", 1.0), ("400%", 4.0)):
        canvas.fit_to_window() if zoom is None else canvas.set_zoom(zoom)
        print(f"  {label:5s} zoom {canvas.zoom:.3f}: {full_repaint(canvas) * 1000:6.2f} ms")

    print(f"\nbrush stroke, {DABS} dabs of diameter {DIAMETER} (cv2.circle + update_mask_region + repaint):")
    mask[:] = 0
    canvas.update_mask_region(None)
    for label, zoom in (("100%", 1.0), ("fit", None)):
        canvas.fit_to_window() if zoom is None else canvas.set_zoom(zoom)
        wait_for_paint(canvas, canvas.paints)
        times, paints = brush_stroke(canvas, mask)
        print(f"  {label:5s} zoom {canvas.zoom:.3f}: {percentiles(times)}   ({paints} paint events)")
    print(f"  baseline, full-size RGBA overlay rebuilt per dab: {percentiles(naive_dab(canvas, mask))}")
    canvas.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

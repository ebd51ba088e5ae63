"""PatchMatch on a large hole: total time, first preview, progress spacing; and a small object.

    python benchmarks/bench_large_hole.py [--runs 3] [--seed 0]

Builds a synthetic 4700x3130 (14.7 MP) photo from the bundled public-domain
sample (`resources/sample.jpg`, mirrored tiles at 2x with a slow colour drift
and film grain, so there is texture everywhere) and removes two objects
through the real pipeline (`inpaint_patches` with the default engine's
parameters, progress and preview callbacks, as the GUI's worker calls it):

- large: an 1100x1100 px object (a 1 MP hole) in the 14.7 MP photo;
- strokes: 80 px brush strokes zigzagging across the same photo (1.2 MP),
  so the crop is nearly the whole photo;
- small: a 180x240 px object in a 4000x3000 (12 MP) photo, the common case.

For each it prints the best of --runs (JIT warmed first): time to the first
preview patch, total time, the largest gap between two progress calls (from
the start to the first call and from the last call to the end included), and
how many progress and preview calls there were.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaint_studio.core.patch import Patch
from inpaint_studio.engines.pipeline import inpaint_patches
from inpaint_studio.engines.registry import create_engine


def synthetic_photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A textured stand-in photo: the sample photo mirrored and tiled at 2x, colour drift, grain."""
    sample = cv2.cvtColor(cv2.imread(str(REPO / "resources" / "sample.jpg")), cv2.COLOR_BGR2RGB)
    tile = cv2.resize(sample, (sample.shape[1] * 2, sample.shape[0] * 2), interpolation=cv2.INTER_CUBIC)
    # Mirror tiles so their seams continue the content instead of cutting it.
    tile = np.vstack([np.hstack([tile, tile[:, ::-1]]), np.hstack([tile[::-1], tile[::-1, ::-1]])])
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]), 1)
    photo = np.tile(tile, reps)[:height, :width].astype(np.float32)
    rng = np.random.default_rng(seed)
    drift = cv2.resize(rng.normal(0, 12, (6, 8, 3)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    photo += drift + rng.normal(0, 4, photo.shape).astype(np.float32)
    return np.clip(photo, 0, 255).astype(np.uint8)


def strokes_mask(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A 80 px brush stroke through 12 random points spread over the photo."""
    rng = np.random.default_rng(seed)
    points = (rng.random((12, 2)) * [width - 800, height - 800] + 400).astype(np.int32)
    mask = np.zeros((height, width), np.uint8)
    cv2.polylines(mask, [points.reshape(-1, 1, 2)], False, 255, 80)
    return mask


def object_mask(width: int, height: int, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """An object-shaped mask: a filled ellipse inside the box plus a rectangle for its base."""
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (x0 + w // 2, y0 + h // 2), (w // 2, h // 2), 0, 0, 360, 255, -1)
    cv2.rectangle(mask, (x0 + w // 6, y0 + h // 2), (x0 + w - w // 6, y0 + h - 1), 255, -1)
    return mask


@dataclass
class Timing:
    total: float
    first_preview: float | None
    max_gap: float
    progress_calls: int
    previews: int
    # How far the reported fraction strays from the fraction of the time spent (0 = a perfect time estimate).
    pace_error: float


def timed_run(engine: object, photo: np.ndarray, mask: np.ndarray, seed: int) -> Timing:
    stamps: list[float] = []
    fractions: list[float] = []
    previews: list[float] = []
    started = time.perf_counter()

    def progress(fraction: float) -> None:
        stamps.append(time.perf_counter())
        fractions.append(fraction)

    def preview(patch: Patch) -> None:
        previews.append(time.perf_counter())

    inpaint_patches(engine, photo, mask, {"seed": seed}, progress=progress, preview=preview)  # type: ignore[arg-type]
    ended = time.perf_counter()
    edges = [started, *stamps, ended]
    gap = max(b - a for a, b in zip(edges, edges[1:], strict=False))
    total = ended - started
    pace = max((abs(f - (t - started) / total) for t, f in zip(stamps, fractions, strict=True)), default=0.0)
    return Timing(total, previews[0] - started if previews else None, gap, len(stamps), len(previews), pace)


def best_of(runs: int, engine: object, photo: np.ndarray, mask: np.ndarray, seed: int) -> tuple[Timing, list[Timing]]:
    timings = [timed_run(engine, photo, mask, seed) for _ in range(runs)]
    return min(timings, key=lambda t: t.total), timings


def show(name: str, best: Timing, timings: list[Timing]) -> None:
    first = "none" if best.first_preview is None else f"{best.first_preview:.2f} s"
    totals = ", ".join(f"{t.total:.2f}" for t in timings)
    print(
        f"{name}: total {best.total:.2f} s (runs: {totals}); first preview {first}; "
        f"largest progress gap {best.max_gap:.2f} s; {best.progress_calls} progress calls, {best.previews} previews; "
        f"progress strays at most {best.pace_error:.0%} from the time spent"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    engine = create_engine("patchmatch")
    large_photo = synthetic_photo(4700, 3130)
    large_mask = object_mask(4700, 3130, 1850, 1050, 1100, 1100)
    strokes = strokes_mask(4700, 3130)
    small_photo = large_photo[:3000, :4000].copy()
    small_mask = object_mask(4000, 3000, 2100, 1300, 180, 240)
    print(f"large: {large_photo.shape[1]}x{large_photo.shape[0]} photo, hole {int((large_mask > 0).sum()):,} px")
    print(f"strokes: the same photo, hole {int((strokes > 0).sum()):,} px")
    print(f"small: {small_photo.shape[1]}x{small_photo.shape[0]} photo, hole {int((small_mask > 0).sum()):,} px")

    # Warm-up: compile or load the kernels (every type they are called with), start the thread pool.
    inpaint_patches(engine, small_photo, small_mask)
    inpaint_patches(engine, large_photo[:1200, :1200], object_mask(1200, 1200, 300, 300, 600, 600), preview=lambda patch: None)

    show("small object", *best_of(args.runs, engine, small_photo, small_mask, args.seed))
    show("large hole", *best_of(args.runs, engine, large_photo, large_mask, args.seed))
    show("strokes over the photo", *best_of(args.runs, engine, large_photo, strokes, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The first fill after installing, with and without `inpaint-studio --warm-up`.

    python benchmarks/bench_first_fill.py [--eval-dir ../shared/eval] [--runs 3]

One object in a 14.7-megapixel photo (../shared/eval/large/volna.jpg and its object
mask), filled with the default engine through the shared pipeline, in a new process
each time, as a user's first fill is. numba compiles the engine's kernels on first use
and caches them on disk; each run gets an empty cache folder (NUMBA_CACHE_DIR), so:

- "cold": a fresh install's first fill (compiles), then the same process's second fill;
- "after --warm-up": `inpaint-studio --warm-up` run once into the empty cache, then a
  new process's first fill (loads the kernels) and its second.

Times are the fill itself (engine creation, pipeline, compositing), after the photo is
decoded; the warm-up's own time is its whole command. Medians of --runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def child(photo_path: str, mask_path: str) -> None:
    """In a fresh process: decode, then time two fills; print them as JSON."""
    from inpaint_studio.engines.pipeline import inpaint_image
    from inpaint_studio.engines.registry import DEFAULT_ENGINE, create_engine
    from inpaint_studio.io import load_image, load_mask

    photo = load_image(photo_path)
    mask, _ = load_mask(mask_path, size=(photo.width, photo.height))
    times = []
    for _ in range(2):
        started = time.perf_counter()
        inpaint_image(create_engine(DEFAULT_ENGINE, "cpu"), photo.rgb, mask)
        times.append(time.perf_counter() - started)
    print(json.dumps({"first": times[0], "second": times[1], "pixels": photo.width * photo.height}))


def run_child(photo: Path, mask: Path, cache: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(photo), str(mask)], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def warm_up(cache: str) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "inpaint_studio", "--warm-up"], env=env, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "eval")
    parser.add_argument("--photo", default="large/volna.jpg")
    parser.add_argument("--mask", default="large/volna_object.png")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("PHOTO", "MASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    photo, mask = args.eval_dir / args.photo, args.eval_dir / args.mask
    if not photo.is_file():
        print(f"{photo} is missing (the evaluation photos are in ../shared/eval)", file=sys.stderr)
        return 1

    cold, after, warm_ups = [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
            cold.append(run_child(photo, mask, cache))
        with tempfile.TemporaryDirectory(prefix="numba-warm-") as cache:
            warm_ups.append(warm_up(cache))
            after.append(run_child(photo, mask, cache))

    def median(rows: list[dict], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    print(f"{photo.name}: {cold[0]['pixels'] / 1e6:.1f} MP, default engine, {os.cpu_count()} CPU(s), median of {args.runs}")
    print(f"  cold cache:        first fill {median(cold, 'first'):.2f} s, second fill {median(cold, 'second'):.2f} s")
    print(f"  --warm-up:         {statistics.median(warm_ups):.2f} s (the whole command, into an empty cache)")
    print(f"  after --warm-up:   first fill {median(after, 'first'):.2f} s, second fill {median(after, 'second'):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One object in a 14.7-megapixel photo: engine time and the whole command's time.

    python benchmarks/bench_large.py [--engine ID] [--eval-dir ../shared/eval] [--runs 3]

Prints, for ../shared/eval/large/volna.jpg (5120x2880) with its object mask:
- engine time through the shared pipeline (warm: JIT compiled, in this process),
  and the crop area the pipeline chose as a fraction of the photo;
- `inpaint-studio remove` as a user runs it (new process each time, imports,
  decoding, saving included), median of --runs;
- the same-process floor for comparison: decoding and re-encoding the JPEG alone.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaint_studio.engines.pipeline import inpaint_patches, plan_crops
from inpaint_studio.engines.registry import DEFAULT_ENGINE, create_engine
from inpaint_studio.io import load_image, load_mask, save_image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default=DEFAULT_ENGINE)
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "eval")
    parser.add_argument("--photo", default="large/volna.jpg")
    parser.add_argument("--mask", default="large/volna_object.png")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    photo_path, mask_path = args.eval_dir / args.photo, args.eval_dir / args.mask

    started = time.perf_counter()
    photo = load_image(photo_path)
    load_seconds = time.perf_counter() - started
    mask, _ = load_mask(mask_path, size=(photo.width, photo.height))
    engine = create_engine(args.engine)
    boxes = plan_crops(mask, engine.info)
    crop_fraction = sum(b.width * b.height for b in boxes) / (photo.width * photo.height)

    inpaint_patches(engine, photo.rgb, mask)  # warm-up: JIT compile, caches
    engine_times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        inpaint_patches(engine, photo.rgb, mask)
        engine_times.append(time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        save_image(photo, photo.rgb, Path(tmp) / "floor.jpg")
        save_seconds = time.perf_counter() - started

        cli_times = []
        for run in range(args.runs):
            out = Path(tmp) / f"cli_{run}.jpg"
            command = [
                sys.executable, "-m", "inpaint_studio", "remove", str(photo_path),
                "--mask", str(mask_path), "-o", str(out), "--engine", args.engine,
            ]
            started = time.perf_counter()
            result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
            cli_times.append(time.perf_counter() - started)
            if result.returncode != 0:
                print(result.stderr)
                return 1

    megapixels = photo.width * photo.height / 1e6
    print(f"photo: {photo_path.name} {photo.width}x{photo.height} ({megapixels:.1f} MP); engine: {engine.info.name}")
    print(f"crops: {len(boxes)}, {crop_fraction:.2%} of the photo")
    print(f"engine time (pipeline, warm): median {statistics.median(engine_times):.3f} s, max {max(engine_times):.3f} s")
    print(f"whole CLI run (new process): median {statistics.median(cli_times):.2f} s, max {max(cli_times):.2f} s")
    floor = load_seconds + save_seconds
    print(f"I/O floor in this process (decode {load_seconds:.2f} s + encode {save_seconds:.2f} s): {floor:.2f} s; "
          f"CLI / floor = {statistics.median(cli_times) / floor:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Batch watermark removal: 20 photos of 2560x1600 with one watermark mask.

Builds the folder from the two large evaluation photos (crops, mirrored, a
white watermark stamped into the corner), then times
`inpaint-studio batch --engine telea` as a user runs it (a fresh process,
start-up included) against baselines timed in the same run:
- IOPaint 1.6.0 itself, `iopaint run --model cv2` on the same folder, when
  `--iopaint PATH` points at its executable (benchmarks/README.md says how it
  was installed beside the project without touching its environment);
- always, an in-process stand-in for IOPaint's per-photo work: decode,
  OpenCV inpaint of the whole photo, write a PNG.

    python benchmarks/bench_batch.py [--eval-dir ../shared/eval] [--workers 2] [--count 20] [--iopaint PATH]
    python benchmarks/bench_batch.py --make-folder-only --work /tmp/batch_bench
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 2560, 1600


def watermark_mask() -> np.ndarray:
    """A two-line text watermark in the bottom-right corner, dilated as a user would paint it."""
    canvas = Image.new("L", (WIDTH, HEIGHT), 0)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=64)
    draw.text((WIDTH - 760, HEIGHT - 190), "(c) Stock Photo Co.", fill=255, font=font)
    draw.text((WIDTH - 760, HEIGHT - 110), "www.example-stock.com", fill=255, font=font)
    text = np.asarray(canvas)
    return cv2.dilate(text, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))


def make_folder(eval_dir: Path, folder: Path, count: int) -> Path:
    """`count` JPEGs cropped from the large evaluation photos, each carrying the watermark."""
    folder.mkdir(parents=True, exist_ok=True)
    mask = watermark_mask()
    mask_path = folder.parent / "watermark_mask.png"
    Image.fromarray(mask).save(mask_path)
    sources = [np.asarray(Image.open(eval_dir / "large" / name).convert("RGB")) for name in ("volna.jpg", "wood_full.jpg")]
    text_pixels = cv2.erode(mask, np.ones((9, 9), np.uint8)) > 0
    for index in range(count):
        source = sources[index % 2]
        step = index // 2
        x = (source.shape[1] - WIDTH) * step // max(count // 2 - 1, 1)
        y = (source.shape[0] - HEIGHT) * (step % 3) // 2
        crop = source[y : y + HEIGHT, x : x + WIDTH].copy()
        if step % 2:
            crop = crop[:, ::-1].copy()
        crop[text_pixels] = (0.35 * crop[text_pixels] + 0.65 * 255).astype(np.uint8)
        Image.fromarray(crop).save(folder / f"photo_{index:02d}.jpg", quality=90)
    return mask_path


def iopaint_like_baseline(folder: Path, mask_path: Path, out: Path) -> float:
    """Per image: decode, cv2.inpaint over the whole image, write PNG (IOPaint's cv2 batch path)."""
    out.mkdir(parents=True, exist_ok=True)
    mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    started = time.perf_counter()
    for path in sorted(folder.glob("*.jpg")):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        filled = cv2.inpaint(bgr, mask, 4, cv2.INPAINT_TELEA)
        cv2.imwrite(str(out / (path.stem + ".png")), filled)
    return time.perf_counter() - started


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "eval")
    parser.add_argument("--work", type=Path, default=Path("/tmp/inpaint_studio_batch_bench"))
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", default="telea")
    parser.add_argument("--make-folder-only", action="store_true")
    parser.add_argument("--iopaint", help="path of an `iopaint` executable to time on the same folder")
    args = parser.parse_args()

    photos = args.work / "photos"
    mask_path = make_folder(args.eval_dir, photos, args.count)
    print(f"folder: {photos} ({args.count} photos {WIDTH}x{HEIGHT}, {folder_bytes(photos) / 1e6:.1f} MB), mask: {mask_path}")
    if args.make_folder_only:
        return 0

    baseline_out = args.work / "baseline_out"
    baseline = iopaint_like_baseline(photos, mask_path, baseline_out)

    ours_out = args.work / "ours_out"
    ours = timed([sys.executable, "-m", "inpaint_studio", "batch", str(photos), "--mask", str(mask_path), "-o", str(ours_out),
                  "--engine", args.engine, "--workers", str(args.workers)])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    n = args.count
    print(f"inpaint-studio batch --engine {args.engine} --workers {args.workers} (whole command): {ours:.2f} s, "
          f"{ours / n:.3f} s/photo, {n / ours:.2f} photos/s, output {folder_bytes(ours_out) / 1e6:.1f} MB, "
          f"peak RSS of one process {peak_mb:.0f} MB")
    print(f"in-process stand-in (decode + whole-photo cv2.inpaint + PNG, 1 process): {baseline:.2f} s, "
          f"{baseline / n:.3f} s/photo, output {folder_bytes(baseline_out) / 1e6:.1f} MB -> {baseline / ours:.1f}x slower")
    if args.iopaint:
        iopaint_out = args.work / "iopaint_out"
        iopaint = timed([args.iopaint, "run", "--model", "cv2", "--device", "cpu", "--image", str(photos),
                         "--mask", str(mask_path), "--output", str(iopaint_out)])
        print(f"iopaint run --model cv2 (whole command): {iopaint:.2f} s, {iopaint / n:.3f} s/photo, "
              f"output {folder_bytes(iopaint_out) / 1e6:.1f} MB -> {iopaint / ours:.1f}x slower than inpaint-studio")
    return 0


if __name__ == "__main__":
    sys.exit(main())

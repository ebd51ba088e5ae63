"""Peak memory of a streamed batch, by number of photos: 1,000 against 100,000 small photos.

Builds a tree of small synthetic JPEGs (96x64, a text watermark; folders of 1,000, each file a
hard link to one of 50 distinct photos, so the tree takes little disk), then runs
`inpaint-studio batch TREE --recursive --mask ... --report REPORT.jsonl` as a user does (a fresh
process: the folders are walked into a manifest, which the run reads back as a stream, and each
result is appended to the report) while sampling, every 50 ms, the memory of the command and
every process below it (bench_batch_memory.py's sampler: RSS and PSS sums, the main process).
The memory is flat when the peak for 100,000 photos is about the peak for 1,000.

    python benchmarks/bench_manifest_memory.py [--counts 1000 100000] [--workers 2] [--backend local|ray]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch_memory import load_average, measure

SIZE = (96, 64)
PER_FOLDER = 1000
DISTINCT = 50


def make_tree(root: Path, count: int) -> Path:
    """`count` photos in folders of PER_FOLDER below `root` (kept between runs); the mask's path."""
    root.parent.mkdir(parents=True, exist_ok=True)
    mask_path = root.parent / "small_mask.png"
    canvas = Image.new("L", SIZE, 0)
    ImageDraw.Draw(canvas).text((SIZE[0] - 60, SIZE[1] - 16), "(c) shop", fill=255, font=ImageFont.load_default(size=12))
    canvas.save(mask_path)
    sources = root.parent / "sources"
    if not sources.is_dir():
        sources.mkdir(parents=True)
        rng = np.random.default_rng(0)
        y, x = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
        text = np.asarray(canvas) > 0
        for index in range(DISTINCT):
            pixels = np.stack([x * 2 + index, y * 3, (x + y + 5 * index) % 256], -1) + rng.normal(0, 6, (*SIZE[::-1], 3))
            pixels = np.clip(pixels, 0, 255).astype(np.uint8)
            pixels[text] = 240
            Image.fromarray(pixels).save(sources / f"s{index:02d}.jpg", quality=88)
    marker = root / f".complete-{count}"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        for index in range(count):
            folder = root / f"d{index // PER_FOLDER:04d}"
            if index % PER_FOLDER == 0:
                folder.mkdir(parents=True)
            os.link(sources / f"s{index % DISTINCT:02d}.jpg", folder / f"p{index:06d}.jpg")
        marker.touch()
    return mask_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/inpaint_studio_manifest_memory"))
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", default="telea")
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    args = parser.parse_args()
    print(f"load average before: {load_average()}, {os.cpu_count()} CPUs", flush=True)

    results = {}
    mb = 1 / 2**20
    for count in args.counts:
        tree = args.work / f"tree_{count}"
        mask = make_tree(tree, count)
        out, report = args.work / "out", args.work / "report.jsonl"
        shutil.rmtree(out, ignore_errors=True)
        report.unlink(missing_ok=True)
        command = [sys.executable, "-m", "inpaint_studio", "batch", str(tree), "--recursive", "--mask", str(mask),
                   "-o", str(out), "--report", str(report), "--engine", args.engine, "--workers", str(args.workers),
                   "--backend", args.backend]
        result = measure(command)
        with open(report, "rb") as file:
            lines = sum(1 for _ in file)
        assert result["count"] == count == lines, (result["count"], count, lines)
        results[count] = result
        print(f"{count:>7} photos ({args.backend}, {args.workers} workers): whole command {result['wall']:.1f} s = "
              f"{count / result['wall']:.0f} photos/s; peak RSS sum {result['peak_rss'] * mb:.0f} MiB, "
              f"PSS sum {result['peak_pss'] * mb:.0f} MiB, main process {result['peak_main'] * mb:.0f} MiB, "
              f"largest other {result['peak_worker'] * mb:.0f} MiB ({result['processes']} processes); "
              f"report {report.stat().st_size / 1e6:.1f} MB, {lines} lines", flush=True)
        shutil.rmtree(out, ignore_errors=True)

    if len(results) > 1:
        few, many = results[min(results)], results[max(results)]
        print(f"peak for {max(results)} / peak for {min(results)}: RSS sum {many['peak_rss'] / few['peak_rss']:.2f}x, "
              f"PSS sum {many['peak_pss'] / few['peak_pss']:.2f}x, main process {many['peak_main'] / few['peak_main']:.2f}x")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

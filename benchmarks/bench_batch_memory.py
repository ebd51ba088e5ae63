"""Batch throughput and peak memory: photos per second and the memory of the whole process tree.

Runs `inpaint-studio batch` as a user does (a fresh process, start-up included; the
GUI's batch dialog runs the same `plan_batch` + `run_batch`) and samples, every
50 ms, the resident memory of the command and every process below it (its
worker processes and multiprocessing's resource tracker) from /proc:

- RSS sum: the sum of each process's resident set (VmRSS). Pages shared between
  processes (Python, numpy, OpenCV libraries) are counted once per process, so
  this overstates what the machine gives up;
- PSS sum: the sum of proportional set sizes (/proc/PID/smaps_rollup), shared
  pages split between the processes that share them: what the tree really costs.

It also prints the CPU time of the whole tree (user + system, start-up included),
which depends much less than wall time on what else the machine is running.

Folders:
(a) the watermark batch of bench_batch.py: 20 JPEGs of 2560x1600 cut from the two
    large evaluation photos, one mask;
(b) 500 small photos: 640x480 JPEGs cut from the same photos (shifted, mirrored),
    each with a small text watermark, one mask; the first 100 of them as a
    second folder, to show that memory does not grow with the folder.

    python benchmarks/bench_batch_memory.py [--eval-dir ../shared/eval] [--workers 1 --workers 2] [--engine telea]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import make_folder as make_watermark_folder

REPO = Path(__file__).resolve().parent.parent
SMALL = (640, 480)
PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_SECONDS = 0.05


def small_watermark_mask() -> np.ndarray:
    width, height = SMALL
    canvas = Image.new("L", SMALL, 0)
    ImageDraw.Draw(canvas).text((width - 230, height - 40), "(c) example.com", fill=255, font=ImageFont.load_default(size=22))
    return cv2.dilate(np.asarray(canvas), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))


def make_small_folder(eval_dir: Path, folder: Path, count: int) -> Path:
    """`count` 640x480 JPEGs cut from the large evaluation photos (generated when they are absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    mask = small_watermark_mask()
    mask_path = folder.parent / "small_watermark_mask.png"
    Image.fromarray(mask).save(mask_path)
    width, height = SMALL
    names = ("volna.jpg", "wood_full.jpg")
    if all((eval_dir / "large" / n).is_file() for n in names):
        sources = [np.asarray(Image.open(eval_dir / "large" / n).convert("RGB")) for n in names]
    else:  # no evaluation photos: smooth gradients with noise
        rng = np.random.default_rng(0)
        y, x = np.mgrid[0:1920, 0:2560]
        base = np.stack([x / 10, y / 7.5, (x + y) / 17.5], -1) % 256
        sources = [np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)]
    text = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0
    for index in range(count):
        source = sources[index % len(sources)]
        step = index // len(sources)
        columns = (source.shape[1] - width) // 97
        rows = (source.shape[0] - height) // 89
        x = (step * 97) % (columns * 97 or 1)
        y = ((step // max(columns, 1)) * 89 + step * 13) % (rows * 89 or 1)
        crop = source[y : y + height, x : x + width].copy()
        if step % 2:
            crop = crop[:, ::-1].copy()
        crop[text] = (0.35 * crop[text] + 0.65 * 255).astype(np.uint8)
        Image.fromarray(crop).save(folder / f"small_{index:04d}.jpg", quality=88)
    return mask_path


def linked_subset(folder: Path, subset: Path, count: int) -> None:
    """The first `count` photos of `folder` as hard links in `subset` (no copies)."""
    shutil.rmtree(subset, ignore_errors=True)
    subset.mkdir(parents=True)
    for path in sorted(folder.iterdir())[:count]:
        os.link(path, subset / path.name)


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process, from /proc/PID/stat."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as file:
                    stat = file.read()
            except OSError:
                continue
            parents[int(name)] = int(stat[stat.rindex(")") + 2 :].split()[1])  # the field after the state
    return parents


def process_tree(root: int) -> list[int]:
    """`root` and every process below it (root first)."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as file:
            return int(file.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as file:
            for line in file:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def measure(command: list[str]) -> dict:
    """Run `command`, sampling its process tree's memory; wall time, peaks and the command's own output."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_rss = peak_pss = peak_main = peak_worker = peak_count = 0
    while process.poll() is None:
        tree = process_tree(process.pid)
        rss = [rss_bytes(pid) for pid in tree]
        peak_rss = max(peak_rss, sum(rss))
        peak_pss = max(peak_pss, sum(pss_bytes(pid) for pid in tree))
        peak_main = max(peak_main, rss[0])
        peak_worker = max([peak_worker, *rss[1:]])
        peak_count = max(peak_count, len(tree))
        time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - started
    stdout, stderr = process.communicate()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers' time reaches us through the command
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stdout}\n{stderr}")
    match = re.search(r"Processed (\d+) photo\(s\) in ([\d.]+) s", stdout)
    return {
        "wall": wall,
        "count": int(match.group(1)),
        "batch_seconds": float(match.group(2)),  # run_batch alone: no interpreter start-up or imports
        "peak_rss": peak_rss,
        "peak_pss": peak_pss,
        "peak_main": peak_main,
        "peak_worker": peak_worker,
        "processes": peak_count,
        "cpu": cpu,
    }


def run_case(label: str, photos: Path, mask: Path, out: Path, engine: str, workers: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "inpaint_studio", "batch", str(photos), "--mask", str(mask), "-o", str(out),
               "--engine", engine, "--workers", str(workers)]
    result = measure(command)
    n = result["count"]
    mb = 1 / 2**20
    print(f"{label:<28} workers {workers}: {n} photos, whole command {result['wall']:.2f} s = {n / result['wall']:.2f} photos/s "
          f"(batch alone {result['batch_seconds']:.2f} s = {n / result['batch_seconds']:.2f}/s); "
          f"peak RSS sum {result['peak_rss'] * mb:.0f} MiB, PSS sum {result['peak_pss'] * mb:.0f} MiB "
          f"(main {result['peak_main'] * mb:.0f}, largest worker {result['peak_worker'] * mb:.0f} MiB, "
          f"{result['processes']} processes); CPU {result['cpu']:.1f} s = {result['cpu'] / n * 1000:.0f} ms/photo", flush=True)
    return result


def load_average() -> str:
    """The 1, 5 and 15-minute load averages (other work on the machine skews every figure)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "eval")
    parser.add_argument("--work", type=Path, default=Path("/tmp/inpaint_studio_batch_memory"))
    parser.add_argument("--engine", default="telea")
    parser.add_argument("--workers", type=int, action="append", help="worker counts to run (default: 1 and 2)")
    parser.add_argument("--small-count", type=int, default=500)
    parser.add_argument("--subset", type=int, default=100, help="the smaller folder for the memory-bound check")
    parser.add_argument("--skip-large", action="store_true", help="only the small-photo folders")
    args = parser.parse_args()
    workers_list = args.workers or [1, 2]
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {load_average()}, {os.cpu_count()} CPUs")

    results = {}
    if not args.skip_large:
        if not (args.eval_dir / "large" / "volna.jpg").is_file():
            print("(a) skipped: the watermark folder is cut from ../shared/eval/large, which is absent")
        else:
            photos = args.work / "watermark"
            mask = make_watermark_folder(args.eval_dir, photos, 20)
            for workers in workers_list:
                results["large", workers] = run_case(
                    "(a) 20 x 2560x1600", photos, mask, args.work / "out_watermark", args.engine, workers
                )

    small = args.work / f"small_{args.small_count}"
    if not small.is_dir() or len(list(small.iterdir())) != args.small_count:
        shutil.rmtree(small, ignore_errors=True)
        mask = make_small_folder(args.eval_dir, small, args.small_count)
    else:
        mask = small.parent / "small_watermark_mask.png"
    subset = args.work / f"small_{args.subset}"
    linked_subset(small, subset, args.subset)
    for workers in workers_list:
        results["small", workers] = run_case(
            f"(b) {args.small_count} x 640x480", small, mask, args.work / "out_small", args.engine, workers
        )
        results["subset", workers] = run_case(
            f"(b) {args.subset} x 640x480", subset, mask, args.work / "out_subset", args.engine, workers
        )

    print("memory bound (peak for the large folder / peak for the small one):")
    for workers in workers_list:
        big, few = results["small", workers], results["subset", workers]
        print(f"  workers {workers}: {args.small_count} vs {args.subset} photos: "
              f"RSS sum {big['peak_rss'] / few['peak_rss']:.2f}x, "
              f"PSS sum {big['peak_pss'] / few['peak_pss']:.2f}x, main process {big['peak_main'] / few['peak_main']:.2f}x")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scratch and dust detection: accuracy, false finds, restored quality and speed.

On the 12 photos of ../shared/eval/images (read in place, never copied):

- each photo is damaged by `restore.degrade` (scratches, hairs, dust; seeds
  1000 * run + photo index) and the detector's mask is scored against the
  generator's exact mask: precision, recall and F1 with a 1-pixel tolerance
  (a pixel counts as matched when the other mask has a pixel within 1 px,
  chessboard distance) and with exact pixels;
- the undamaged photo is run through the detector: the share of its pixels
  flagged is the false-positive rate;
- the detected mask (grown as the detector asks, as `inpaint-studio restore`
  fills it), the true mask and the true mask grown by 1 px are filled with the
  same engine, and PSNR is measured inside the true damage mask against the
  clean photo;
- a sweep over sensitivities (F1, clean false positives, PSNR) shows where the
  default comes from;
- detection time, accuracy and clean false positives on a 6000x4000 (24 MP)
  photo, whose generated damage is up to 24 px wide.

    python benchmarks/bench_restore.py [--detector learned] [--engine patchmatch] [--runs 3] [--large-runs 3]

`--photos DIR` scores other photos instead (scaled to a 512 px short side and
centre-cropped, as the evaluation set was made): the learned detector's
sensitivity scale was set on its training script's validation photos this way;
`tools/detector_photos.py` builds a larger validation folder.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaint_studio.engines.pipeline import inpaint_image
from inpaint_studio.engines.registry import create_engine
from inpaint_studio.restore import (
    DEFAULT_SENSITIVITY,
    damage_map,
    degrade,
    score_detection,
)
from inpaint_studio.restore.detect import DEFAULT_DETECTOR, DETECTORS, fill_mask

EVAL = REPO.parent / "shared" / "eval"
SWEEP = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def load_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def psnr_inside(result: np.ndarray, clean: np.ndarray, mask: np.ndarray) -> float:
    inside = mask > 127
    error = np.mean((result[inside].astype(np.float64) - clean[inside]) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(255.0**2 / error)


def as_eval_photo(rgb: np.ndarray) -> np.ndarray:
    """Scaled to a 512 px short side and centre-cropped to 512x512, as the evaluation photos were made."""
    height, width = rgb.shape[:2]
    scale = 512 / min(height, width)
    rgb = cv2.resize(rgb, (max(512, round(width * scale)), max(512, round(height * scale))), interpolation=cv2.INTER_AREA)
    top, left = (rgb.shape[0] - 512) // 2, (rgb.shape[1] - 512) // 2
    return np.ascontiguousarray(rgb[top : top + 512, left : left + 512])


def accuracy(photos: list[tuple[str, np.ndarray]], runs: int, engine, detector: str) -> None:
    print(f"Detector {detector}, default sensitivity {DEFAULT_SENSITIVITY:g}; {runs} damaged version(s) per photo; "
          f"PSNR inside the true mask after filling with {engine.info.name}\n")
    header = (f"{'photo':13s} {'P':>6s} {'R':>6s} {'F1':>6s} {'F1 exact':>9s} {'clean FP':>9s} {'PSNR det':>9s} "
              f"{'PSNR true':>9s} {'true+1px':>9s} {'damaged':>8s}")
    print(header)
    print("-" * len(header))
    sweep: dict[float, list[float]] = {s: [] for s in SWEEP}
    sweep_fp: dict[float, list[float]] = {s: [] for s in SWEEP}
    sweep_psnr: dict[float, list[float]] = {s: [] for s in SWEEP}
    rows = []
    for index, (name, clean) in enumerate(photos):
        scores, exact, psnr_detected, psnr_true, psnr_grown, psnr_damaged = [], [], [], [], [], []
        clean_map = damage_map(clean, detector)
        false_rate = float(np.count_nonzero(clean_map.mask(DEFAULT_SENSITIVITY))) / clean.shape[0] / clean.shape[1]
        for s in SWEEP:
            sweep_fp[s].append(float(np.count_nonzero(clean_map.mask(s))) / clean_map.evidence.size)
        for run in range(runs):
            damaged = degrade(clean, seed=1000 * run + index)
            truth = damaged.mask
            evidence = damage_map(damaged.image, detector)
            # One fill per sensitivity: the default's is shared with the sweep.
            psnr_at = {
                s: psnr_inside(inpaint_image(engine, damaged.image, evidence.fill_mask(s)), clean, truth)
                for s in {*SWEEP, DEFAULT_SENSITIVITY}
            }
            for s in SWEEP:
                sweep[s].append(score_detection(evidence.mask(s), truth).f1)
                sweep_psnr[s].append(psnr_at[s])
            detected = evidence.mask(DEFAULT_SENSITIVITY)
            scores.append(score_detection(detected, truth))
            exact.append(score_detection(detected, truth, tolerance=0).f1)
            psnr_detected.append(psnr_at[DEFAULT_SENSITIVITY])
            psnr_true.append(psnr_inside(inpaint_image(engine, damaged.image, truth), clean, truth))
            psnr_grown.append(psnr_inside(inpaint_image(engine, damaged.image, fill_mask(truth, 1)), clean, truth))
            psnr_damaged.append(psnr_inside(damaged.image, clean, truth))
        row = (
            statistics.mean(s.precision for s in scores),
            statistics.mean(s.recall for s in scores),
            statistics.mean(s.f1 for s in scores),
            statistics.mean(exact),
            false_rate,
            statistics.mean(psnr_detected),
            statistics.mean(psnr_true),
            statistics.mean(psnr_grown),
            statistics.mean(psnr_damaged),
        )
        rows.append(row)
        print(f"{name:13s} {row[0]:6.3f} {row[1]:6.3f} {row[2]:6.3f} {row[3]:9.3f} {row[4]:8.3%} "
              f"{row[5]:9.2f} {row[6]:9.2f} {row[7]:9.2f} {row[8]:8.2f}")
    mean = [statistics.mean(column) for column in zip(*rows, strict=True)]
    print("-" * len(header))
    print(f"{'mean':13s} {mean[0]:6.3f} {mean[1]:6.3f} {mean[2]:6.3f} {mean[3]:9.3f} {mean[4]:8.3%} "
          f"{mean[5]:9.2f} {mean[6]:9.2f} {mean[7]:9.2f} {mean[8]:8.2f}")
    print(f"\nPSNR inside the true mask: detected mask {mean[5]:.2f} dB vs true mask {mean[6]:.2f} dB "
          f"({mean[5] - mean[6]:+.2f} dB); true mask grown by 1 px {mean[7]:.2f} dB; "
          f"the damaged photo itself {mean[8]:.2f} dB")
    print("\nSensitivity sweep (mean over all cases):")
    print(f"{'sensitivity':>11s} {'F1':>6s} {'clean FP':>9s} {'PSNR det':>9s}")
    for s in SWEEP:
        marker = "  <- default" if s == DEFAULT_SENSITIVITY else ""
        print(f"{s:11.1f} {statistics.mean(sweep[s]):6.3f} {statistics.mean(sweep_fp[s]):8.3%} "
              f"{statistics.mean(sweep_psnr[s]):9.2f}{marker}")


def large_timing(runs: int, detector: str) -> None:
    source = EVAL / "large" / "volna.jpg"
    base = load_rgb(source) if source.is_file() else load_rgb(next((EVAL / "images").glob("*.png")))
    photo = cv2.resize(base, (6000, 4000), interpolation=cv2.INTER_CUBIC)
    damaged = degrade(photo, seed=7)
    damage_map(damaged.image[:512, :512], detector)  # warm caches, the thread pool and the network
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        mask = damage_map(damaged.image, detector).mask(DEFAULT_SENSITIVITY)
        times.append(time.perf_counter() - started)
    score = score_detection(mask, damaged.mask)
    clean_rate = float(np.count_nonzero(damage_map(photo, detector).mask(DEFAULT_SENSITIVITY))) / mask.size
    print(f"\n24 MP ({photo.shape[1]}x{photo.shape[0]}, from {source.name if source.is_file() else 'an eval photo'}): "
          f"detection median {statistics.median(times):.2f} s, max {max(times):.2f} s over {runs} run(s); "
          f"P {score.precision:.3f} R {score.recall:.3f} F1 {score.f1:.3f} on damage scaled to the photo "
          f"(up to 24 px wide); clean FP {clean_rate:.3%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, choices=sorted(DETECTORS), help=f"default: {DEFAULT_DETECTOR}")
    parser.add_argument("--photos", type=Path, help="score these photos instead of the evaluation set")
    parser.add_argument("--engine", default="patchmatch", help="engine that fills both masks (default: patchmatch)")
    parser.add_argument("--runs", type=int, default=3, help="damaged versions per photo (default: 3)")
    parser.add_argument("--large-runs", type=int, default=3, help="timed runs on the 24 MP photo (default: 3; 0 skips it)")
    args = parser.parse_args()
    folder = args.photos or EVAL / "images"
    images = sorted(p for p in folder.glob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    if not images:
        print(f"skipped: {folder} is not available")
        return 0
    photos = [(path.stem[:13], as_eval_photo(load_rgb(path))) for path in images]
    accuracy(photos, args.runs, create_engine(args.engine), args.detector)
    if args.large_runs > 0:
        large_timing(args.large_runs, args.detector)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Object selection from a box: IoU on objects pasted into the evaluation photos, and time on 12 MP.

    python benchmarks/bench_select.py [--seeds 3] [--runs 3]

Accuracy: each of the 12 evaluation photos (`../shared/eval/images`, 512 px)
gets an object cut from another of them along a random soft blob
(`selection.paste`), of three sizes (share 0.06, 0.12, 0.2 of the shorter
side, --seeds placements each). The box is the object's bounding box with a
small margin, as a user drags it; the truth is the pasted alpha > 0.5.
Reported: the mean, median and worst IoU of `select_object`, and of the magic
wand clicked at the object's centre (a weaker baseline tool).

Speed: a 4240x2832 (12.0 MP) crop of `../shared/eval/large/volna.jpg` with an
object pasted at the same shares (the largest is a 1130 px object): the time
of `select_object` (best of --runs), against a baseline run in the same
process: plain `cv2.grabCut` on the same crop at full resolution, which is
what GrabCut costs without the scaled work crop.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaint_studio.core.boxes import Box
from inpaint_studio.selection.grabcut import ITERATIONS, _with_margin, select_object
from inpaint_studio.selection.paste import iou, paste_object
from inpaint_studio.selection.wand import magic_wand

EVAL = REPO.parent / "shared" / "eval"
SHARES = (0.06, 0.12, 0.2)
TWELVE_MP = (4240, 2832)


def accuracy(seeds: int) -> None:
    photos = sorted((EVAL / "images").glob("*.png"))
    images = [np.asarray(Image.open(path).convert("RGB")) for path in photos]
    grabcut, wand, times = [], [], []
    for index, photo in enumerate(images):
        source = images[(index + 5) % len(images)]
        for share in SHARES:
            for seed in range(seeds):
                pasted = paste_object(photo, source, seed=1000 * index + 10 * seed + int(share * 100), share=share)
                start = time.perf_counter()
                mask = select_object(pasted.image, pasted.box)
                times.append(time.perf_counter() - start)
                grabcut.append(iou(mask, pasted.truth))
                ys, xs = np.nonzero(pasted.truth)
                centre_y, centre_x = int(np.median(ys)), int(np.median(xs))
                wand.append(iou(magic_wand(pasted.image, centre_x, centre_y), pasted.truth))
    print(f"{len(grabcut)} objects pasted into {len(images)} evaluation photos (512 px)")
    for name, scores in (("box -> GrabCut", grabcut), ("wand at the centre", wand)):
        print(
            f"  {name:20s} IoU mean {np.mean(scores):.3f}  median {statistics.median(scores):.3f}  "
            f"worst {min(scores):.3f}  >= 0.9: {np.mean(np.array(scores) >= 0.9):.0%}"
        )
    print(f"  GrabCut time per selection: mean {1000 * np.mean(times):.0f} ms")


def plain_grabcut(image: np.ndarray, box: Box) -> np.ndarray:
    """The baseline: GrabCut on the same margin crop, at full resolution, initialised from the box."""
    height, width = image.shape[:2]
    crop = _with_margin(box, width, height)
    work = np.ascontiguousarray(cv2.cvtColor(image[crop.slices], cv2.COLOR_RGB2BGR))
    labels = np.zeros(work.shape[:2], np.uint8)
    rect = (box.x0 - crop.x0, box.y0 - crop.y0, box.width, box.height)
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(work, labels, rect, background, foreground, ITERATIONS, cv2.GC_INIT_WITH_RECT)
    mask = np.zeros((height, width), np.uint8)
    mask[crop.slices] = np.where(np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)), 255, 0).astype(np.uint8)
    return mask


def best_time(function, runs: int) -> tuple[float, np.ndarray]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def speed(runs: int) -> None:
    large = np.asarray(Image.open(EVAL / "large" / "volna.jpg").convert("RGB"))
    photo = np.ascontiguousarray(large[: TWELVE_MP[1], : TWELVE_MP[0]])
    source = np.asarray(Image.open(EVAL / "large" / "wood_full.jpg").convert("RGB"))
    print(f"\n12 MP photo ({photo.shape[1]}x{photo.shape[0]}), best of {runs}")
    for share in SHARES:
        pasted = paste_object(photo, source, seed=7, share=share)
        ours, mask = best_time(lambda pasted=pasted: select_object(pasted.image, pasted.box), runs)
        base, base_mask = best_time(lambda pasted=pasted: plain_grabcut(pasted.image, pasted.box), 1)
        print(
            f"  object {pasted.box.width}x{pasted.box.height} px: "
            f"select_object {ours:.2f} s (IoU {iou(mask, pasted.truth):.3f}); "
            f"plain GrabCut at full size {base:.2f} s (IoU {iou(base_mask, pasted.truth):.3f}); {base / ours:.1f}x"
        )
    wand_time, _ = best_time(lambda: magic_wand(photo, photo.shape[1] // 2, photo.shape[0] // 2), runs)
    print(f"  magic wand (contiguous) on the whole photo: {wand_time:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not EVAL.is_dir():
        sys.exit(f"{EVAL} is missing: this benchmark needs the shared evaluation photos.")
    accuracy(args.seeds)
    speed(args.runs)


if __name__ == "__main__":
    main()

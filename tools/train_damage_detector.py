"""Train the learned damage detector (`inpaint_studio/restore/damage_net.py`) on the CPU.

Training pairs are made, not collected: `restore.degrade` draws scratches,
hairs and dust over clean photos and returns the exact mask. To make the
network robust to more than the benchmark's exact conditions, the damage is
drawn at 1-2.2x the evaluation scale, over photos scaled down 1-3x, with
0.5-2x the usual amount (and none on 8 % of the crops), and some crops are then
JPEG-compressed or given film grain.

The photos must not be those the detector is evaluated on
(`../shared/eval`): the shipped weights were trained on the photos of Debian's
`ukui-wallpapers`, `lomiri-wallpapers`, `lomiri-wallpapers-16.04` and
`lomiri-wallpapers-20.04` packages and the sample images bundled with
scikit-image (except astronaut and coffee, which are evaluation photos),
scikit-learn and matplotlib; none of them ship with Inpaint Studio.
`tools/detector_photos.py` gathers about that set again (without the samples).

    python tools/train_damage_detector.py PHOTO_DIR [--minutes 45] [--out resources/damage_detector.safetensors]

The last `--validation` photos (sorted by name) are held out: the loss and F1
on them are printed as training goes, and the weights with the best F1 are kept.
`--init WEIGHTS` goes on from a `--checkpoint` of an earlier run, or from shipped
weights (trained on without batch normalisation), with a lower `--lr` to
fine-tune; `--near-weight` makes clean pixels beside damage count more.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaint_studio.restore import degrade
from inpaint_studio.restore.damage_net import (
    build_network,
    fold_batch_norm,
    network_input,
)

CROP = 192  # stored training crop; batches take random 160 px windows of it
WINDOW = 160
NEAR_DAMAGE = 4  # px: clean pixels this close to damage weigh --near-weight in the loss


def load_photo(path: Path) -> np.ndarray | None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # grey and RGBA become 3-channel BGR
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def damaged_crops(path: Path, seed: int, variants: int, crops_per_variant: int):
    """(damaged, mask, change) uint8 crops of CROP px from `variants` damaged versions of one photo."""
    rng = np.random.default_rng(seed)
    photo = load_photo(path)
    out_image, out_mask, out_change = [], [], []
    if photo is None:
        return out_image, out_mask, out_change
    for _variant in range(variants):
        unit = 1.0 if rng.random() < 0.5 else rng.uniform(1.0, 2.2)
        side = round(512 * unit)
        short = min(photo.shape[:2])
        scaled = photo
        target = max(side, round(side * math.exp(rng.uniform(0, math.log(3)))))
        if short > target:
            factor = target / short
            scaled = cv2.resize(photo, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        h, w = scaled.shape[:2]
        side = min(side, h, w)
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        clean = np.ascontiguousarray(scaled[y : y + side, x : x + side])
        amount = rng.uniform(0.5, 2.0)
        area = min(1.0, side / 512) ** 2  # in 512x512 photos at this damage scale, as degrade counts it
        if rng.random() < 0.08:
            counts = dict(scratches=0, hairs=0, dust=0)
        else:
            counts = dict(
                scratches=max(0, round(rng.integers(3, 8) * area * amount)),
                hairs=round(rng.integers(0, 3) * area * amount),
                dust=round(rng.integers(20, 60) * area * amount),
            )
        result = degrade(clean, seed=int(rng.integers(1 << 31)), **counts)
        image, mask = result.image, result.mask
        change = np.abs(image.astype(np.int16) - clean).max(axis=2).astype(np.uint8)
        if rng.random() < 0.2:
            grain = rng.normal(0, rng.uniform(1, 4), image.shape)
            image = np.clip(image + grain, 0, 255).astype(np.uint8)
        if rng.random() < 0.25:
            quality = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 96))]
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), quality)
            image = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        if side < CROP:
            continue
        damage = np.argwhere(mask)
        for _ in range(crops_per_variant):
            if len(damage) and rng.random() < 0.4:
                cy, cx = damage[rng.integers(len(damage))]
                top = int(np.clip(cy - CROP // 2, 0, side - CROP))
                left = int(np.clip(cx - CROP // 2, 0, side - CROP))
            else:
                top, left = rng.integers(0, side - CROP + 1), rng.integers(0, side - CROP + 1)
            window = np.s_[top : top + CROP, left : left + CROP]
            out_image.append(image[window])
            out_mask.append(mask[window])
            out_change.append(change[window])
    return out_image, out_mask, out_change


def build_set(paths: list[Path], variants: int, crops: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with ProcessPoolExecutor(2) as pool:
        seeds = [seed + i for i in range(len(paths))]
        parts = list(pool.map(damaged_crops, paths, seeds, [variants] * len(paths), [crops] * len(paths)))
    images = np.stack([c for part in parts for c in part[0]])
    masks = np.stack([c for part in parts for c in part[1]])
    changes = np.stack([c for part in parts for c in part[2]])
    return images, masks, changes


def batch(rng: np.random.Generator, images, masks, changes, size: int, near_weight: float = 1.0):
    import torch

    near = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * NEAR_DAMAGE + 1, 2 * NEAR_DAMAGE + 1))
    x = np.empty((size, 5, WINDOW, WINDOW), np.float32)
    y = np.empty((size, 1, WINDOW, WINDOW), np.float32)
    w = np.empty((size, 1, WINDOW, WINDOW), np.float32)
    for row, index in enumerate(rng.integers(0, len(images), size)):
        top, left = rng.integers(0, CROP - WINDOW + 1, 2)
        window = np.s_[top : top + WINDOW, left : left + WINDOW]
        image, mask, change = images[index][window], masks[index][window], changes[index][window]
        flip = rng.integers(8)  # one of the 8 symmetries of the square
        image, mask, change = (_symmetry(a, flip) for a in (image, mask, change))
        x[row] = network_input(image)
        positive = mask > 0
        y[row, 0] = positive
        # Damage that changed the photo more costs more when missed (a missed white
        # scratch on a dark coat is tens of levels of error): weigh it up.
        w[row, 0] = np.where(positive, 1.0 + change / 48.0, 1.0)
        # A clean pixel flagged beside a scratch widens the hole the fill must bridge, which
        # costs the fill of the scratch itself: weigh such false finds up too.
        if near_weight != 1.0:
            w[row, 0][(cv2.dilate(mask, near) > 0) & ~positive] = near_weight
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(w)


def _symmetry(array: np.ndarray, index: int) -> np.ndarray:
    if index & 4:
        array = array.swapaxes(0, 1)
    return np.ascontiguousarray(np.rot90(array, index & 3))


def validation_f1(network, images, masks) -> tuple[float, float]:
    """Mean exact-pixel F1 of probability > 0.5 over the held-out crops, and the best threshold's F1."""
    import torch

    network.eval()
    with torch.inference_mode():
        probs = []
        for start in range(0, len(images), 16):
            x = torch.from_numpy(np.stack([network_input(image) for image in images[start : start + 16]]))
            probs.append(torch.sigmoid(network(x))[:, 0].numpy())
    network.train()
    prob = np.concatenate(probs)
    truth = masks > 0
    scores = {}
    for threshold in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        found = prob > threshold
        tp = np.count_nonzero(found & truth)
        scores[threshold] = 2 * tp / max(1, np.count_nonzero(found) + np.count_nonzero(truth))
    return scores[0.5], max(scores.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path, help="folder of clean training photos (not the evaluation photos)")
    parser.add_argument("--out", type=Path, default=REPO / "resources" / "damage_detector.safetensors")
    parser.add_argument("--minutes", type=float, default=45.0, help="training time (default: 45)")
    parser.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: only the time limit)")
    parser.add_argument("--validation", type=int, default=6, help="photos held out for validation (default: 6)")
    parser.add_argument("--variants", type=int, default=20, help="damaged versions per photo (default: 20)")
    parser.add_argument("--crops", type=int, default=8, help="training crops per damaged version (default: 8)")
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument(
        "--lr", type=float, default=3e-3, help="peak learning rate (default: 3e-3; lower to fine-tune from --init)"
    )
    parser.add_argument("--near-weight", type=float, default=1.0,
                        help=f"loss weight of clean pixels within {NEAR_DAMAGE} px of damage (default: 1, like any pixel)")
    parser.add_argument("--check-every", type=int, default=200, help="steps between validations (default: 200)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--checkpoint", type=Path, help="also keep the unfolded network (with batch normalisation) here")
    parser.add_argument(
        "--init", type=Path, help="start from these weights (a --checkpoint, or shipped weights) instead of random ones"
    )
    args = parser.parse_args()

    import torch
    from safetensors.torch import load_file, save_file

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    paths = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if len(paths) <= args.validation:
        print(f"need more than {args.validation} photos in {args.photos}", file=sys.stderr)
        return 2
    train_paths, val_paths = paths[: -args.validation], paths[-args.validation :]
    started = time.perf_counter()
    images, masks, changes = build_set(train_paths, args.variants, args.crops, args.seed)
    val_images, val_masks, _ = build_set(val_paths, 4, 4, args.seed + 10_000)
    print(f"{len(images)} training crops from {len(train_paths)} photos, {len(val_images)} validation crops "
          f"from {len(val_paths)}; damage on {np.mean(masks > 0):.2%} of pixels; made in {time.perf_counter() - started:.0f} s",
          flush=True)

    initial = load_file(str(args.init)) if args.init else None
    # A --checkpoint keeps batch normalisation; shipped weights have it folded into the convolutions.
    normalised = initial is None or any(key.endswith("running_mean") for key in initial)
    network = build_network(normalise=normalised)
    if initial is not None:
        network.load_state_dict(initial)
        f1, best_f1 = validation_f1(network, val_images, val_masks)
        print(f"starting from {args.init}: validation F1 {f1:.3f} (best threshold {best_f1:.3f})", flush=True)
    print(f"{sum(p.numel() for p in network.parameters()):,} parameters", flush=True)
    optimiser = torch.optim.AdamW(network.parameters(), lr=args.lr, weight_decay=1e-4)
    budget = args.minutes * 60
    started = time.perf_counter()
    best, step, losses = -1.0, 0, []
    while True:
        elapsed = time.perf_counter() - started
        if elapsed > budget or (args.steps and step >= args.steps):
            break
        # Cosine learning rate over the time budget (the step count is not known ahead).
        fraction = min(1.0, elapsed / budget) if not args.steps else step / args.steps
        for group in optimiser.param_groups:
            group["lr"] = 1e-4 + (args.lr - 1e-4) * 0.5 * (1 + math.cos(math.pi * fraction))
        x, y, w = batch(rng, images, masks, changes, args.batch, args.near_weight)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(network(x), y, weight=w)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        step += 1
        if step % args.check_every == 0 or (args.steps and step == args.steps):
            f1, best_f1 = validation_f1(network, val_images, val_masks)
            print(f"step {step} ({elapsed / 60:.1f} min): loss {np.mean(losses[-args.check_every:]):.4f}, "
                  f"validation F1 {f1:.3f} (best threshold {best_f1:.3f})", flush=True)
            if f1 > best:
                best = f1
                args.out.parent.mkdir(parents=True, exist_ok=True)
                state = {key: value.contiguous() for key, value in network.state_dict().items()}
                shipped = fold_batch_norm(network) if normalised else state
                save_file(shipped, str(args.out), metadata={"step": str(step), "validation_f1": f"{f1:.4f}"})
                if args.checkpoint:
                    save_file(state, str(args.checkpoint))
    print(f"best validation F1 {best:.3f}; weights in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

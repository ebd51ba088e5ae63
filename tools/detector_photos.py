"""Gather the photos the damage detector is trained and validated on, from Debian packages.

    python tools/detector_photos.py OUT_DIR [--packages DIR]

Downloads (`apt-get download`, no root needed) and unpacks the packages into
`--packages` (default: OUT_DIR/packages), then writes

- OUT_DIR/train: the wallpapers of `ukui-wallpapers` and `lomiri-wallpapers*`,
  the paper textures of `mypaint-data-extras`, and the landscapes and textures
  of `stellarium-data` and `extremetuxracer-data`, each at most 2048 px on its
  short side (for `tools/train_damage_detector.py`);
- OUT_DIR/validation: 512x512 crops (two per photo, from opposite corners,
  after scaling to a 512 px short side as the evaluation photos were made) of
  the photographs among the wallpapers of `plasma-workspace-wallpapers` and
  `mate-backgrounds` (for `benchmarks/bench_restore.py --photos`).

The evaluation photos (`../shared/eval/images`) come from those last two
packages: photos with their names are left out, so validation never sees them.
The shipped weights were trained on about these photos (and the sample images of
scikit-image, scikit-learn and matplotlib); see resources/README.md. None of
them ship with Inpaint Studio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import cv2

TRAIN_PACKAGES = (
    "ukui-wallpapers", "lomiri-wallpapers", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04",
    "mypaint-data-extras", "stellarium-data", "extremetuxracer-data",
)
VALIDATION_PACKAGES = ("plasma-workspace-wallpapers", "mate-backgrounds")
# Photographs (not renders) in the validation packages that are not evaluation photos.
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "DarkestHour", "FallenLeaf", "Kite", "MilkyWay", "OneStandsOut", "summer_1am")
MATE_PHOTOS = ("Garden", "TwoWings", "Storm", "GreenMeadow", "Blinds", "YellowFlower")
EVALUATION_NAMES = {"aqua", "astronaut", "coffee", "colorfulcups", "dune", "eveningglow", "freshflower", "grey",
                    "ladybird", "path", "raindrops", "wood", "volna"}
TRAIN_SHORT_SIDE = 2048
MIN_SHORT_SIDE = 384
SIDE = 512


def unpack(packages: tuple[str, ...], folder: Path, into: str) -> Path:
    """Download `packages` into `folder` (once) and unpack them into folder/`into`."""
    folder.mkdir(parents=True, exist_ok=True)
    missing = [name for name in packages if not any(folder.glob(f"{name}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=folder, check=True)
    root = folder / into
    for name in packages:
        for deb in folder.glob(f"{name}_*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def training_sources(root: Path) -> list[tuple[str, Path]]:
    """(name, path) of every training picture in the unpacked packages."""
    sources = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png"}:
            continue
        if "dontUse" in path.name or "_bump" in path.name or path.stem in {"elev", "terrain"}:  # not pictures
            continue
        parts = path.parts
        if "mypaint" in parts:
            sources.append((f"paper_{path.stem}", path))
        elif "backgrounds" in parts:
            sources.append((f"photo_{path.stem}", path))  # sorted last: the trainer holds out the last few
        elif "landscapes" in parts or "scenery3d" in parts or ("games" in parts and "etr" in parts):
            sources.append((f"extra_{path.parent.name}_{path.stem}", path))
    return sources


def validation_sources(root: Path) -> list[tuple[str, Path]]:
    sources = []
    for name in PLASMA_PHOTOS:
        images = sorted((root / "usr/share/wallpapers" / name / "contents/images").glob("*"),
                        key=lambda p: int(p.stem.split("x")[0]))
        if images:
            sources.append((name.lower(), images[-1]))  # the largest size
    for name in MATE_PHOTOS:
        path = root / "usr/share/backgrounds/mate/nature" / f"{name}.jpg"
        if path.is_file():
            sources.append((name.lower(), path))
    return sources


def corner_crops(image, side: int = SIDE) -> list:
    """Two side x side crops (top-left, bottom-right) of `image` scaled to a `side` px short side."""
    height, width = image.shape[:2]
    scale = side / min(height, width)
    size = (max(side, round(width * scale)), max(side, round(height * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return [image[:side, :side], image[-side:, -side:]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--packages", type=Path, help="where the packages are downloaded and unpacked (default: OUT/packages)")
    args = parser.parse_args()
    packages = args.packages or args.out / "packages"
    # Apart, so that no validation or evaluation photo is taken for training.
    train_root = unpack(TRAIN_PACKAGES, packages, "train_root")
    validation_root = unpack(VALIDATION_PACKAGES, packages, "validation_root")

    train = args.out / "train"
    train.mkdir(parents=True, exist_ok=True)
    for name, path in training_sources(train_root):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None or min(image.shape[:2]) < MIN_SHORT_SIDE:
            continue
        scale = min(1.0, TRAIN_SHORT_SIDE / min(image.shape[:2]))
        if scale < 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(train / f"{name}.png"), image)

    validation = args.out / "validation"
    validation.mkdir(parents=True, exist_ok=True)
    for name, path in validation_sources(validation_root):
        if name in EVALUATION_NAMES:
            raise SystemExit(f"{path} is an evaluation photo")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        for tag, crop in zip("ab", corner_crops(image), strict=True):
            cv2.imwrite(str(validation / f"{name}_{tag}.png"), crop)
    print(f"{len(list(train.glob('*.png')))} training photos in {train}, "
          f"{len(list(validation.glob('*.png')))} validation crops in {validation}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""tools/detector_photos.py: which pictures of the unpacked packages train and validate the detector."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("detector_photos", REPO / "tools" / "detector_photos.py")
detector_photos = importlib.util.module_from_spec(spec)
spec.loader.exec_module(detector_photos)


def write(path: Path, height: int = 8, width: int = 12) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((height, width, 3), np.uint8))


def test_training_pictures_are_wallpapers_papers_and_landscapes_not_maps(tmp_path):
    write(tmp_path / "usr/share/backgrounds/Wine.jpg")
    write(tmp_path / "usr/share/mypaint/backgrounds/canvas.png")
    write(tmp_path / "usr/share/stellarium/landscapes/garching/gl1.png")
    write(tmp_path / "usr/share/stellarium/landscapes/garching/gl1_bump.png")
    write(tmp_path / "usr/share/stellarium/scenery3d/test/Stone_dontUse.png")
    write(tmp_path / "usr/share/games/etr/courses/penguins/elev.png")
    write(tmp_path / "usr/share/games/etr/textures/snow1.png")
    write(tmp_path / "usr/share/stellarium/skycultures/western/chart.png")
    names = [name for name, _ in detector_photos.training_sources(tmp_path)]
    assert sorted(names) == ["extra_garching_gl1", "extra_textures_snow1", "paper_canvas", "photo_Wine"]
    assert sorted(names)[-1].startswith("photo_")  # the trainer holds out the last names: photos


def test_validation_takes_the_largest_size_of_the_listed_photos_only(tmp_path):
    images = tmp_path / "usr/share/wallpapers/Kite/contents/images"
    write(images / "1920x1080.jpg")
    write(images / "2560x1600.jpg")
    write(tmp_path / "usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg")  # an evaluation photo
    write(tmp_path / "usr/share/backgrounds/mate/nature/Storm.jpg")
    write(tmp_path / "usr/share/backgrounds/mate/nature/Aqua.jpg")  # an evaluation photo
    sources = dict(detector_photos.validation_sources(tmp_path))
    assert set(sources) == {"kite", "storm"}
    assert sources["kite"].name == "2560x1600.jpg"
    assert not set(sources) & detector_photos.EVALUATION_NAMES


def test_corner_crops_are_two_512_squares_from_opposite_corners():
    image = np.zeros((1000, 1600, 3), np.uint8)
    image[:] = np.linspace(0, 255, 1600).astype(np.uint8)[None, :, None]  # dark left, bright right
    first, second = detector_photos.corner_crops(image)
    assert first.shape == second.shape == (512, 512, 3)
    assert first[:, 0].max() < 2 and second[:, -1].min() > 253

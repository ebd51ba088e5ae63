"""`inpaint-studio select`: a mask from a box or points, written for `remove` and `batch`."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image
from test_selection import textured

from inpaint_studio.cli import main
from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.selection.paste import iou, paste_object
from inpaint_studio.selection.prompts import Point, SelectMethod, parse_box, parse_point, select


@pytest.fixture
def pasted(tmp_path):
    """A photo with an object pasted in, saved as PNG: (path, the pasted object)."""
    result = paste_object(gradient_photo(240, 320, seed=2), textured(240, 320, seed=4), seed=3)
    path = tmp_path / "photo.png"
    Image.fromarray(result.image).save(path)
    return path, result


def read_mask(path):
    return np.asarray(Image.open(path))


def test_a_box_selects_the_object_and_the_mask_works_with_remove(pasted, tmp_path, capsys):
    path, result = pasted
    box = ",".join(str(value) for value in result.box)
    assert main(["select", str(path), "--box", box, "-o", str(tmp_path / "mask.png")]) == 0
    assert "grabcut" in capsys.readouterr().out
    mask = read_mask(tmp_path / "mask.png")
    assert mask.shape == result.truth.shape and iou(mask, result.truth) > 0.9
    # The mask is what `remove` takes.
    assert main(["remove", str(path), "--mask", str(tmp_path / "mask.png"), "--engine", "telea"]) == 0


def test_points_select_colour_regions_with_the_wand(tmp_path):
    image = np.full((60, 90, 3), 200, np.uint8)
    image[10:30, 10:30] = (20, 40, 200)  # two blue squares apart, and a red one
    image[10:30, 60:80] = (20, 40, 200)
    image[40:55, 40:55] = (200, 30, 30)
    path = tmp_path / "squares.png"
    Image.fromarray(image).save(path)
    out = tmp_path / "wand.png"
    assert main(["select", str(path), "--point", "15,15", "-o", str(out)]) == 0
    assert np.count_nonzero(read_mask(out)) == 400  # the clicked square only: contiguous
    assert main(["select", str(path), "--point", "15,15", "--non-contiguous", "-o", str(out), "--overwrite"]) == 0
    assert np.count_nonzero(read_mask(out)) == 800  # both blue squares
    # A not-the-object point takes its region away again; a box bounds the result.
    both = ["--point", "15,15", "--point", "45,45", "--point", "45,45,0"]
    assert main(["select", str(path), *both, "-o", str(out), "--overwrite"]) == 0
    assert np.count_nonzero(read_mask(out)) == 400
    bounded = ["--point", "15,15", "--non-contiguous", "--box", "0,0,40,40"]
    assert main(["select", str(path), *bounded, "-o", str(out), "--overwrite"]) == 0
    assert np.count_nonzero(read_mask(out)[:, 40:]) == 0 and np.count_nonzero(read_mask(out)) == 400


def test_coordinates_are_those_of_the_upright_photo(tmp_path):
    image = np.full((40, 100, 3), 180, np.uint8)
    image[:10, :10] = (10, 10, 10)  # dark top-left corner as stored
    path = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise: the stored top-left goes to the top-right
    Image.fromarray(image).save(path, exif=exif, quality=95)
    out = tmp_path / "mask.png"
    assert main(["select", str(path), "--point", "35,3", "-o", str(out)]) == 0
    mask = read_mask(out)
    assert mask.shape == (100, 40)
    assert mask[:8, 32:].all() and not mask[20:].any()


def test_an_existing_file_is_kept_unless_overwrite(pasted, tmp_path, capsys):
    path, result = pasted
    before = path.read_bytes()
    assert main(["select", str(path), "--point", "5,5", "-o", str(path)]) == 1  # the photo itself
    assert "already exists" in capsys.readouterr().err and path.read_bytes() == before
    mask = tmp_path / "mask.png"
    mask.write_bytes(b"an earlier mask")
    assert main(["select", str(path), "--point", "5,5", "-o", str(mask)]) == 1
    assert mask.read_bytes() == b"an earlier mask"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--point", "300"], "A point looks like X,Y"),
        (["--point", "1,2,5"], "A point looks like X,Y"),
        (["--box", "10,10,5,40"], "is empty"),
        (["--box", "a,b,c,d"], "A box looks like"),
        (["--point", "999,5"], "outside the 320x240 photo"),
        (["--box", "400,300,500,400"], "outside the 320x240 photo"),
        ([], "Say what to select"),
        (["--method", "grabcut", "--point", "5,5"], "GrabCut needs a --box"),
        (["--point", "5,5,0"], "at least one point on the object"),
    ],
)
def test_bad_prompts_are_one_clear_line_and_write_nothing(pasted, tmp_path, capsys, args, message):
    path, _ = pasted
    out = tmp_path / "mask.png"
    assert main(["select", str(path), *args, "-o", str(out)]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_mask_needs_a_lossless_name_and_a_readable_photo(pasted, tmp_path, capsys):
    path, _ = pasted
    assert main(["select", str(path), "--point", "5,5", "-o", str(tmp_path / "mask.jpg")]) == 1
    assert "lossless" in capsys.readouterr().err
    broken = tmp_path / "broken.png"
    broken.write_bytes(path.read_bytes()[:200])
    assert main(["select", str(broken), "--point", "5,5", "-o", str(tmp_path / "mask.png")]) == 1
    assert "broken.png" in capsys.readouterr().err and not (tmp_path / "mask.png").exists()


def test_prompt_parsing_and_the_box_is_clipped_to_the_photo():
    assert parse_point("3, 4") == Point(3, 4, True) and parse_point("3,4,0") == Point(3, 4, False)
    assert tuple(parse_box("1,2,30,40")) == (1, 2, 30, 40)
    with pytest.raises(InpaintStudioError):
        parse_point("3.5,4")
    image = np.zeros((20, 30, 3), np.uint8)
    mask = select(image, SelectMethod.WAND, [Point(5, 5)], parse_box("-10,-10,10,10"))
    assert np.count_nonzero(mask) == 100

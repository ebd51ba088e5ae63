"""Heal transparency: Select > From Transparency masks the transparent parts; filled, they export opaque."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image
from test_session_fills import RecordingRunner

from inpaint_studio.core.document import Document
from inpaint_studio.core.patch import Patch
from inpaint_studio.io.image_file import load_image, save_image
from inpaint_studio.session.settings import Settings
from inpaint_studio.session.workspace import Workspace


def transparent_photo(tmp_path, name="cutout.png"):
    """A 40x60 RGBA PNG: opaque, but a transparent 10x20 hole and a half-transparent column."""
    alpha = np.full((40, 60), 255, np.uint8)
    alpha[10:20, 20:40] = 0
    alpha[:, 55] = 128
    path = tmp_path / name
    Image.fromarray(np.dstack([gradient_photo(40, 60), alpha])).save(path)
    return path, alpha


def solid(x, y, width, height, alpha=255) -> Patch:
    return Patch(x, y, np.full((height, width, 3), 200, np.uint8), np.full((height, width), alpha, np.uint8))


def test_fills_paint_over_transparency_like_paint_on_glass(tmp_path):
    path, alpha = transparent_photo(tmp_path)
    document = Document(load_image(path))
    assert np.array_equal(document.output_alpha(), alpha)
    mask = np.zeros_like(alpha)
    mask[10:20, 20:40] = 255
    layer = document.add_fill([solid(20, 10, 20, 10)], mask, "Remove 1 · A", {})
    document.add_fill([solid(0, 0, 5, 5, alpha=128)], mask, "Remove 2 · A", {})
    out = document.output_alpha()
    assert (out[10:20, 20:40] == 255).all()  # the filled hole is opaque
    assert (out[:5, :5] == 255).all()  # half a fill over opaque stays opaque
    assert np.array_equal(out[25:], alpha[25:])  # elsewhere the photo's own
    from inpaint_studio.core.layer_commands import set_layer_property

    set_layer_property(document, layer, "visible", False)
    assert (document.output_alpha()[10:20, 20:40] == 0).all()  # a hidden fill covers nothing
    opaque = Document(load_image(_opaque(tmp_path)))
    assert opaque.output_alpha() is None


def _opaque(tmp_path):
    path = tmp_path / "opaque.png"
    Image.fromarray(gradient_photo(40, 60)).save(path)
    return path


@pytest.mark.parametrize("kind", ["rgba", "palette", "rgba16"])
def test_an_export_writes_the_alpha_it_is_given_whatever_the_source_kept_it_in(tmp_path, kind):
    path = tmp_path / "in.png"
    alpha = np.full((40, 60), 255, np.uint8)
    alpha[10:20, 20:40] = 0
    rgb = gradient_photo(40, 60)
    if kind == "rgba":
        Image.fromarray(np.dstack([rgb, alpha])).save(path)
    elif kind == "palette":
        image = Image.fromarray(rgb).quantize(64)
        pixels = np.array(image)
        pixels[10:20, 20:40] = 63  # the transparent palette entry
        image = Image.fromarray(pixels, "P")
        image.putpalette(Image.fromarray(rgb).quantize(64).getpalette())
        image.save(path, transparency=63)
    else:
        deep = np.dstack([rgb.astype(np.uint16) * 257, alpha.astype(np.uint16) * 257])
        cv2.imwrite(str(path), deep[..., [2, 1, 0, 3]])
    loaded = load_image(path)
    assert loaded.alpha is not None and (loaded.alpha[10:20, 20:40] == 0).all()
    healed = loaded.alpha.copy()
    healed[10:20, 20:40] = 255
    out_path = save_image(loaded, loaded.rgb, tmp_path / "out.png", alpha=healed)
    written = cv2.imread(str(out_path), cv2.IMREAD_UNCHANGED)
    assert written.shape[2] == 4
    top = 65535 if kind == "rgba16" else 255
    assert (written[10:20, 20:40, 3] == top).all()
    assert np.array_equal(written[..., 3] > 0, healed > 0)
    assert loaded.alpha[10:20, 20:40].max() == 0  # the loaded photo is untouched


def test_from_transparency_masks_every_pixel_that_is_not_opaque(tmp_path, private_autosave_folder):
    path, alpha = transparent_photo(tmp_path)
    workspace = Workspace(Settings(), RecordingRunner(), autosave_folder=private_autosave_folder)
    try:
        document = workspace.open(path)
        document.mask[0:3, 0:3] = 255  # masked already: kept
        assert workspace.mask_transparency()
        assert np.array_equal(document.mask > 0, (alpha < 255) | (np.arange(40)[:, None] < 3) & (np.arange(60) < 3))
        assert set(np.unique(document.mask)) == {0, 255}  # whole, not soft
        assert document.history.undo_label == "Mask from transparency"
        workspace.open(_opaque(tmp_path))
        assert not workspace.mask_transparency()
    finally:
        workspace.close()


def test_from_the_select_menu_then_remove_then_save_gives_an_opaque_photo(qtbot, window, tmp_path):
    path, alpha = transparent_photo(tmp_path)
    assert window.open_file(path, confirm=False)
    window.layers_panel.list.setFocus()  # the menu command works wherever the focus is
    window.masks.transparency_action.trigger()
    assert np.array_equal(window.document.mask > 0, alpha < 255)
    window.run_fill()
    qtbot.waitUntil(lambda: len(window.document.layers) == 1 and not window.workspace.fills.busy, timeout=10000)
    written = window.workspace.export(tmp_path / "healed.png", overwrite=False)
    assert (np.asarray(Image.open(written))[..., 3] == 255).all()
    assert np.array_equal(np.asarray(Image.open(path))[..., 3], alpha)  # the original is untouched


def test_from_transparency_on_an_opaque_photo_says_so(qtbot, window):
    messages = []
    window.masks.status = lambda text, timeout: messages.append(text)
    window.masks.transparency_action.trigger()
    assert messages == ["This photo has no transparent parts."] and not window.document.mask.any()

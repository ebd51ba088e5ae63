"""The clone stamp and the healing brush, Qt-free: copy from an offset into one Retouch layer, one step a stroke."""

from __future__ import annotations

import numpy as np
from PIL import Image

from inpaint_studio.core.document import Document
from inpaint_studio.core.patch import Patch
from inpaint_studio.core.retouch import RETOUCH_LAYER, RetouchMode, RetouchStroke, add_to_retouch, retouch_layer
from inpaint_studio.io.image_file import load_image


def document(tmp_path, rgb):
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    return Document(load_image(path))


def stroke(doc, offset, points, mode=RetouchMode.CLONE, diameter=12, hardness=1.0):
    retouch = RetouchStroke(doc, offset, diameter, hardness, mode)
    for x, y in points:
        retouch.add_point(x, y)
    return retouch.finish()


def test_the_clone_stamp_copies_from_the_offset_into_one_retouch_layer(tmp_path):
    rgb = np.zeros((80, 120, 3), np.uint8)
    rgb[:, :60] = (200, 50, 50)  # red left half, black right half
    doc = document(tmp_path, rgb)
    assert stroke(doc, (-50, 0), [(90, 20), (90, 60)])  # copy from 50 px to the left
    assert (doc.composite[40, 90] == (200, 50, 50)).all()  # red painted over black
    assert (doc.composite[40, 110] == 0).all() and (doc.original[40, 90] == 0).all()
    assert stroke(doc, (-50, 0), [(100, 20), (100, 60)])
    assert [layer.name for layer in doc.layers] == [RETOUCH_LAYER]  # one layer for every stroke
    assert len(retouch_layer(doc).patches) == 2 and doc.history.undo_label == "Clone stamp"
    doc.undo()
    assert (doc.composite[40, 100] == 0).all() and (doc.composite[40, 90] == (200, 50, 50)).all()
    doc.undo()
    assert doc.layers == [] and np.array_equal(doc.composite, doc.original)


def test_the_healing_brush_keeps_the_target_light_and_takes_the_source_texture(tmp_path):
    rng = np.random.default_rng(1)
    rgb = np.full((100, 160, 3), 60, np.uint8)
    rgb[:, :80] = np.clip(170 + rng.normal(0, 12, (100, 80, 3)), 0, 255).astype(np.uint8)  # bright, textured
    doc = document(tmp_path, rgb)
    assert stroke(doc, (-80, 0), [(120, 30), (120, 70)], RetouchMode.HEAL, diameter=20)
    healed = doc.composite[40:60, 115:125].astype(float)
    assert abs(healed.mean() - 60) < 15  # the dark target's light, not the bright source's
    assert healed.std() > 4  # with the source's grain
    assert doc.history.undo_label == "Healing brush"


def test_a_stroke_whose_source_lies_outside_the_photo_paints_nothing(tmp_path):
    doc = document(tmp_path, np.full((40, 40, 3), 99, np.uint8))
    assert not stroke(doc, (500, 0), [(20, 20), (25, 25)])
    assert doc.layers == [] and not doc.history.can_undo


def test_spot_healing_results_join_the_retouch_layer(tmp_path):
    doc = document(tmp_path, np.full((40, 40, 3), 99, np.uint8))
    patch = Patch(5, 5, np.zeros((4, 4, 3), np.uint8), np.full((4, 4), 255, np.uint8))
    assert add_to_retouch(doc, [patch], "Spot healing (Fake)")
    assert retouch_layer(doc).patches == [patch] and (doc.composite[6, 6] == 0).all()
    doc.undo()
    assert doc.layers == []

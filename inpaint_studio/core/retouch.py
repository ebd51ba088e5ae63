"""Retouching by hand: the clone stamp and the healing brush, painted into one "Retouch" layer.

A stroke copies the photo as it was when the stroke began from a source
point's offset (Photoshop's "aligned" sampling; a fixed source restarts at
the source point for every stroke). The clone stamp pastes the pixels as
they are; the healing brush then blends them into the target's colour and
light (Poisson, OpenCV's seamless cloning), so a patch of sky copied over a
spot takes on the sky's shading there. Strokes go into a single layer named
"Retouch" (made by the first one), not a layer each: the Layers panel stays
readable, the retouching can be hidden, faded or erased, and each stroke is
one undo step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from inpaint_studio.core.boxes import Box, union
from inpaint_studio.core.document import Document, DocumentEvent, ResultLayer
from inpaint_studio.core.mask_edit import BrushStroke
from inpaint_studio.core.patch import Patch

RETOUCH_LAYER = "Retouch"
HEAL_MARGIN = 4  # pixels of the target around a healed stroke that the blending reads


class RetouchMode(StrEnum):
    CLONE = "clone"  # copy the source as it is
    HEAL = "heal"  # copy the source's texture, keep the target's colour and light


def retouch_layer(document: Document) -> ResultLayer | None:
    """The document's retouch layer, if a stroke made one."""
    return next((layer for layer in document.layers if layer.provenance.get("tool") == "retouch"), None)


@dataclass
class RetouchCommand:
    """One stroke: the retouch layer's patches before and after (and the layer itself, if the stroke made it)."""

    layer: ResultLayer
    before: list[Patch]
    after: list[Patch]
    box: Box
    created: bool
    label: str

    @property
    def nbytes(self) -> int:
        old = {id(p) for p in self.before}
        return sum(p.rgb.nbytes + p.alpha.nbytes for p in self.after if id(p) not in old)

    def undo(self, document: Document) -> None:
        self.layer.patches = list(self.before)
        if self.created:
            document.layers.remove(self.layer)
        document.recomposite(self.box)
        document.notify(DocumentEvent.LAYERS, None)

    def redo(self, document: Document) -> None:
        if self.created:
            document.layers.append(self.layer)
        self.layer.patches = list(self.after)
        document.recomposite(self.box)
        document.notify(DocumentEvent.LAYERS, None)


class RetouchStroke:
    """One press-drag-release of the clone stamp or the healing brush."""

    def __init__(
        self, document: Document, offset: tuple[float, float], diameter: float, hardness: float, mode: RetouchMode
    ) -> None:
        self.document, self.mode = document, mode
        self.dx, self.dy = int(round(offset[0])), int(round(offset[1]))  # source = target + offset
        self.source = document.composite.copy()  # the photo as the stroke began: never its own output
        self._coverage: np.ndarray = np.zeros(document.mask.shape, np.uint8)  # only the pages the brush touches cost memory
        self._brush = BrushStroke(self._coverage, diameter, hardness, record=False)
        self._rgb = np.zeros_like(self.source)
        self._box: Box | None = None
        layer = retouch_layer(document)
        self.created = layer is None
        self.layer = layer or ResultLayer(RETOUCH_LAYER, [], {"tool": "retouch"})
        self._before = list(self.layer.patches)
        if self.created:
            document.layers.append(self.layer)  # shown while painting; recorded with the stroke

    def add_point(self, x: float, y: float) -> Box | None:
        """Paint up to (x, y): copy the source under the new dabs; returns the box of the photo that changed."""
        box = self._brush.add_point(x, y)
        if box is None:
            return None
        height, width = self.source.shape[:2]
        # Where the source lies outside the photo, nothing is copied (the coverage is cleared there).
        x0, y0, x1, y1 = box
        sx0, sy0 = max(x0 + self.dx, 0), max(y0 + self.dy, 0)
        sx1, sy1 = min(x1 + self.dx, width), min(y1 + self.dy, height)
        covered = np.zeros((y1 - y0, x1 - x0), bool)
        if sx0 < sx1 and sy0 < sy1:
            tx0, ty0 = sx0 - self.dx, sy0 - self.dy
            self._rgb[ty0 : sy1 - self.dy, tx0 : sx1 - self.dx] = self.source[sy0:sy1, sx0:sx1]
            covered[ty0 - y0 : sy1 - self.dy - y0, tx0 - x0 : sx1 - self.dx - x0] = True
        self._coverage[y0:y1, x0:x1][~covered] = 0
        self._box = box if self._box is None else union([self._box, box])
        self._show(self._box)
        return box

    def finish(self) -> bool:
        """End the stroke and record it as one step; False (and nothing recorded) if it painted nothing."""
        box = self._painted_box()
        if box is None:
            self.layer.patches = list(self._before)
            if self.created:
                self.document.layers.remove(self.layer)
            if self._box is not None:
                self.document.recomposite(self._box)
            return False
        rgb = self._rgb[box.slices]
        if self.mode == RetouchMode.HEAL:
            rgb = self._healed(box)
        patch = Patch(box.x0, box.y0, np.ascontiguousarray(rgb), np.ascontiguousarray(self._coverage[box.slices]))
        after = [*self._before, patch]
        self.layer.patches = list(after)
        shown = self._box if self._box is not None else box
        label = "Healing brush" if self.mode == RetouchMode.HEAL else "Clone stamp"
        command = RetouchCommand(self.layer, self._before, after, union([shown, box]), self.created, label)
        self.document.recomposite(command.box)
        self.document.history.push(command)
        self.document.notify(DocumentEvent.LAYERS, None)
        return True

    def _show(self, box: Box) -> None:
        """The stroke so far, as the layer's last patch (replaced at every step, like the layer eraser's)."""
        preview = Patch(box.x0, box.y0, self._rgb[box.slices], self._coverage[box.slices])
        self.layer.patches = [*self._before, preview]
        self.document.recomposite(box)

    def _painted_box(self) -> Box | None:
        if self._box is None:
            return None
        ys, xs = np.nonzero(self._coverage[self._box.slices])
        if ys.size == 0:
            return None
        x0, y0 = self._box.x0, self._box.y0
        return Box(x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1)

    def _healed(self, box: Box) -> np.ndarray:
        """The copied pixels in `box` blended into the target's colour and light (Poisson)."""
        height, width = self.source.shape[:2]
        area = Box(max(box.x0 - HEAL_MARGIN, 0), max(box.y0 - HEAL_MARGIN, 0),
                   min(box.x1 + HEAL_MARGIN, width), min(box.y1 + HEAL_MARGIN, height))
        target = np.ascontiguousarray(self.source[area.slices])
        copied = np.ascontiguousarray(np.where(self._coverage[area.slices][..., None] > 0, self._rgb[area.slices], target))
        inside = np.where(self._coverage[area.slices] > 0, np.uint8(255), np.uint8(0))
        inside[[0, -1], :] = 0  # the blend needs the target's pixels all around
        inside[:, [0, -1]] = 0
        ys, xs = np.nonzero(inside)
        if ys.size == 0:
            return self._rgb[box.slices]
        centre = ((int(xs.min()) + int(xs.max()) + 1) // 2, (int(ys.min()) + int(ys.max()) + 1) // 2)
        blended = cv2.seamlessClone(copied, target, inside, centre, cv2.NORMAL_CLONE)
        oy, ox = box.y0 - area.y0, box.x0 - area.x0
        return blended[oy : oy + box.height, ox : ox + box.width]


def add_to_retouch(document: Document, patches: list[Patch], label: str) -> bool:
    """Add a fill's patches (spot healing) to the retouch layer as one step; False if there were none."""
    if not patches:
        return False
    layer = retouch_layer(document)
    created = layer is None
    layer = layer or ResultLayer(RETOUCH_LAYER, [], {"tool": "retouch"})
    before = list(layer.patches)
    command = RetouchCommand(layer, before, [*before, *patches], union([p.box for p in patches]), created, label)
    command.redo(document)
    document.history.push(command)
    return True

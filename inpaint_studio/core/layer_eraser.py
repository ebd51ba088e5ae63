"""Erasing part of a fill layer with a brush, to bring back what lies under it.

The brush paints an "erased amount" into a scratch canvas; each touched patch
of the layer gets a new alpha (its alpha at the start of the stroke, scaled
down by the amount), so a soft brush fades a fill out gradually and the photo
shows through. Patches are replaced, never changed in place: duplicated layers
share patches, and the history keeps the old ones for undo. A stroke is one
history step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inpaint_studio.core.boxes import Box, intersection, union
from inpaint_studio.core.document import Document, DocumentEvent, ResultLayer
from inpaint_studio.core.mask_edit import BrushStroke
from inpaint_studio.core.patch import Patch


@dataclass
class ReplacePatchesCommand:
    """Swap a layer's patches between two lists; only the replaced patches' alpha is new memory."""

    layer: ResultLayer
    before: list[Patch]
    after: list[Patch]
    box: Box
    label: str

    @property
    def nbytes(self) -> int:
        old = {id(p) for p in self.before}
        return sum(p.alpha.nbytes for p in self.after if id(p) not in old)

    def undo(self, document: Document) -> None:
        self.layer.patches = list(self.before)
        document.recomposite(self.box)
        document.notify(DocumentEvent.LAYERS, None)

    def redo(self, document: Document) -> None:
        self.layer.patches = list(self.after)
        document.recomposite(self.box)
        document.notify(DocumentEvent.LAYERS, None)


class LayerEraseStroke:
    """One press-drag-release of the layer eraser on `layer`."""

    def __init__(self, document: Document, layer: ResultLayer, diameter: float, hardness: float = 0.8) -> None:
        self.document = document
        self.layer = layer
        self._before = list(layer.patches)
        self._boxes = [p.box for p in self._before]
        # np.zeros is allocated lazily by the OS: only pages the brush touches cost
        # memory (the brush keeps no "before" copy of this scratch canvas).
        self._erased: np.ndarray | None = np.zeros(document.mask.shape, np.uint8)
        self._brush = BrushStroke(self._erased, diameter, hardness, record=False)
        self._replaced: dict[int, Patch] = {}  # index in the layer -> the patch with the new alpha
        self._changed: Box | None = None

    def add_point(self, x: float, y: float) -> Box | None:
        """Extend the stroke to (x, y); returns the box of the composite that changed."""
        box = self._brush.add_point(x, y)
        erased = self._erased
        if box is None or erased is None:
            return None
        dirty = None
        for index, (patch, patch_box) in enumerate(zip(self._before, self._boxes, strict=True)):
            overlap = intersection(box, patch_box)
            if overlap is None:
                continue
            replacement = self._replaced.get(index)
            if replacement is None:
                replacement = Patch(patch.x, patch.y, patch.rgb, patch.alpha.copy())
                self._replaced[index] = replacement
                self.layer.patches[index] = replacement
            x0, y0, x1, y1 = overlap
            local = (slice(y0 - patch.y, y1 - patch.y), slice(x0 - patch.x, x1 - patch.x))
            keep = 255 - erased[y0:y1, x0:x1].astype(np.uint16)
            replacement.alpha[local] = (patch.alpha[local] * keep + 127) // 255
            dirty = overlap if dirty is None else union([dirty, overlap])
        if dirty is not None:
            self._changed = dirty if self._changed is None else union([self._changed, dirty])
            self.document.recomposite(dirty)
        return dirty

    def finish(self) -> bool:
        """End the stroke and record it; False if it erased nothing."""
        self._brush.finish()
        self._erased = None
        changed = [i for i, p in self._replaced.items() if not np.array_equal(p.alpha, self._before[i].alpha)]
        if not changed or self._changed is None:
            self.layer.patches = list(self._before)
            return False
        after = list(self._before)
        for index in changed:
            after[index] = self._replaced[index]
        self.layer.patches = after
        command = ReplacePatchesCommand(self.layer, self._before, after, self._changed, f"Erase from '{self.layer.name}'")
        self.document.history.push(command)
        self.document.notify(DocumentEvent.LAYERS, None)
        return True


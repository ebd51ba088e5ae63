"""An open photo being edited: the original, the mask, the fills as layers, and the history.

Qt-free, so the GUI, tests and future scripting share it. The photo's pixels
are never changed; each fill is a `ResultLayer` of patches composited on top,
and `composite` caches what the canvas shows and export writes. Listeners
hear what changed and where, so a view repaints only that region.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from inpaint_studio.core.boxes import Box, merge_overlapping, union
from inpaint_studio.core.history import History
from inpaint_studio.core.mask_edit import MaskEdit, edit_between
from inpaint_studio.core.patch import Patch
from inpaint_studio.core.photo import Photo
from inpaint_studio.core.sampling import SamplingArea, SamplingMark


class DocumentEvent(StrEnum):
    """What changed in a document, as its listeners hear it."""

    MASK = "mask"  # mask pixels, in the box given
    IMAGE = "image"  # composite pixels, in the box given
    HISTORY = "history"  # a step was done, undone or redone, or the saved state moved
    LAYERS = "layers"  # the layer list or a layer's properties, not (yet) its pixels
    SAMPLING = "sampling"  # the sampling area's pixels (include or exclude), in the box given


# Listener arguments: what changed and the box, or None for all of it.
Listener = Callable[[DocumentEvent, "Box | None"], None]

_layer_ids = itertools.count(1)


@dataclass(frozen=True, eq=False)
class MaskCrop:
    """Part of a mask placed at (x, y): the mask a fill was made from, kept for provenance."""

    x: int
    y: int
    pixels: np.ndarray  # uint8 (h, w), 255 = filled


@dataclass(frozen=True, eq=False)
class FillTry:
    """One result for a fill layer's mask: "Try again" adds another, the user picks which one shows."""

    patches: list[Patch]
    provenance: dict[str, Any]

    @property
    def nbytes(self) -> int:
        return sum(p.rgb.nbytes + p.alpha.nbytes for p in self.patches)


@dataclass(eq=False)  # layers are compared by identity: two fills can look alike
class ResultLayer:
    """One fill: the patches it painted plus where it came from.

    `provenance` is JSON-friendly (engine, device, params, seed); `fill_masks`
    is the mask the engine filled, cropped to each patch.
    """

    name: str
    patches: list[Patch]
    provenance: dict[str, Any] = field(default_factory=dict)
    visible: bool = True
    opacity: float = 1.0  # 0..1, multiplies the patches' alpha
    fill_masks: list[MaskCrop] = field(default_factory=list)
    # Every result of this mask once "Try again" was used ([] until then); tries[shown_try] is the one
    # in `patches` and `provenance`.
    tries: list[FillTry] = field(default_factory=list)
    shown_try: int = 0
    id: int = field(default_factory=lambda: next(_layer_ids))

    @property
    def box(self) -> Box:
        return union(self.patch_boxes)

    @property
    def nbytes(self) -> int:
        mask_bytes = sum(crop.pixels.nbytes for crop in self.fill_masks)
        hidden_tries = sum(attempt.nbytes for index, attempt in enumerate(self.tries) if index != self.shown_try)
        return sum(p.rgb.nbytes + p.alpha.nbytes for p in self.patches) + mask_bytes + hidden_tries

    @property
    def patch_boxes(self) -> list[Box]:
        """Where the layer changes the image: tighter than `box` when its patches lie far apart."""
        return [p.box for p in self.patches]


@dataclass
class MaskCommand:
    edit: MaskEdit
    label: str

    @property
    def nbytes(self) -> int:
        return self.edit.nbytes

    def undo(self, document: Document) -> None:
        self.edit.undo(document.mask)
        document.notify(DocumentEvent.MASK, self.edit.box)

    def redo(self, document: Document) -> None:
        self.edit.redo(document.mask)
        document.notify(DocumentEvent.MASK, self.edit.box)


@dataclass
class SamplingCommand:
    """A stroke of the sampling brush (or clearing the area): edits of the include and exclude masks."""

    edits: list[tuple[SamplingMark, MaskEdit]]
    label: str

    @property
    def nbytes(self) -> int:
        return sum(edit.nbytes for _, edit in self.edits)

    def undo(self, document: Document) -> None:
        for mark, edit in reversed(self.edits):
            edit.undo(document.sampling_mask(mark))
            document.notify(DocumentEvent.SAMPLING, edit.box)

    def redo(self, document: Document) -> None:
        for mark, edit in self.edits:
            edit.redo(document.sampling_mask(mark))
            document.notify(DocumentEvent.SAMPLING, edit.box)


@dataclass
class FillCommand:
    """A fill: adds its layer and clears the mask pixels it filled, as one step."""

    layer: ResultLayer
    mask_edits: list[MaskEdit]  # one per patch: far-apart regions never cost their union box
    label: str

    @property
    def nbytes(self) -> int:
        return self.layer.nbytes + sum(edit.nbytes for edit in self.mask_edits)

    def undo(self, document: Document) -> None:
        document.layers.remove(self.layer)
        document.recomposite_boxes(self.layer.patch_boxes)
        for edit in reversed(self.mask_edits):
            edit.undo(document.mask)
            document.notify(DocumentEvent.MASK, edit.box)

    def redo(self, document: Document) -> None:
        document.layers.append(self.layer)
        document.recomposite_boxes(self.layer.patch_boxes)
        for edit in self.mask_edits:
            edit.redo(document.mask)
            document.notify(DocumentEvent.MASK, edit.box)


class Document:
    def __init__(self, photo: Photo, history_budget: int | None = None) -> None:
        self.photo = photo
        self.composite = photo.rgb.copy()
        self.mask: np.ndarray = np.zeros(photo.rgb.shape[:2], np.uint8)
        self.layers: list[ResultLayer] = []
        # Where fills may copy from (see core.sampling); made on the first stroke of the sampling brush.
        self._sampling: dict[SamplingMark, np.ndarray] = {}
        self.history = History() if history_budget is None else History(history_budget)
        self.listeners: list[Listener] = []
        self._revision = 0
        self._saved_revision = 0
        self.history.listeners.append(self._history_changed)

    # ------------------------------------------------------------ state

    @property
    def original(self) -> np.ndarray:
        return self.photo.rgb

    @property
    def modified(self) -> bool:
        return self._revision != self._saved_revision

    @property
    def revision(self) -> int:
        """Grows with every change (undo included): compare two values to see if anything changed."""
        return self._revision

    def snapshot(self) -> Document:
        """A copy to save in the background while editing goes on: no history, no listeners.

        Pixels that edits change (composite, mask) are copied; the photo is
        shared (it never changes) and so are patches (replaced, never modified).
        """
        copy = Document(self.photo, history_budget=0)
        copy.composite[...] = self.composite
        copy.mask[...] = self.mask
        copy.layers = [dataclasses.replace(layer, patches=list(layer.patches)) for layer in self.layers]
        return copy

    def mark_unsaved(self) -> None:
        """Count the current state as not saved anywhere (e.g. recovered from an autosave)."""
        self._saved_revision = -1
        self.notify(DocumentEvent.HISTORY, None)

    def mark_saved(self) -> None:
        self._saved_revision = self._revision
        self.notify(DocumentEvent.HISTORY, None)

    def notify(self, what: DocumentEvent, box: Box | None) -> None:
        for listener in list(self.listeners):
            listener(what, box)

    def _history_changed(self) -> None:
        self._revision += 1
        self.notify(DocumentEvent.HISTORY, None)

    # ------------------------------------------------------------ edits

    def record_mask_edit(self, edit: MaskEdit | None, label: str) -> None:
        """Record an edit already applied to `self.mask` (strokes, shapes, operations)."""
        if edit is None:
            return
        self.history.push(MaskCommand(edit, label))
        self.notify(DocumentEvent.MASK, edit.box)

    def sampling_mask(self, mark: SamplingMark) -> np.ndarray:
        """The include or exclude mask of the sampling area, made (empty) when first asked for."""
        if mark not in self._sampling:
            self._sampling[mark] = np.zeros_like(self.mask)  # pages are touched only where painted
        return self._sampling[mark]

    def sampling_area(self) -> SamplingArea | None:
        """Where fills may copy from, or None for anywhere (nothing painted)."""
        return SamplingArea.of(self._sampling.get(SamplingMark.INCLUDE), self._sampling.get(SamplingMark.EXCLUDE))

    def record_sampling_edits(self, edits: list[tuple[SamplingMark, MaskEdit | None]], label: str) -> None:
        """Record edits already applied to the sampling masks (one stroke of the sampling brush) as one step."""
        done = [(mark, edit) for mark, edit in edits if edit is not None]
        if done:
            self.history.push(SamplingCommand(done, label))
            for _, edit in done:
                self.notify(DocumentEvent.SAMPLING, edit.box)

    def clear_sampling_area(self) -> bool:
        """Back to copying from anywhere, as one undo step; False if nothing was painted."""
        edits = [(mark, edit_between(array, np.zeros_like(array))) for mark, array in self._sampling.items()]
        for mark, edit in edits:
            if edit is not None:
                edit.redo(self._sampling[mark])
        self.record_sampling_edits(edits, "Clear sampling area")
        return any(edit is not None for _, edit in edits)

    def replace_mask(self, new_mask: np.ndarray, label: str) -> None:
        """Set the whole mask (e.g. loaded or detected), as one undoable step."""
        edit = edit_between(self.mask, new_mask)
        if edit is not None:
            edit.redo(self.mask)
            self.record_mask_edit(edit, label)

    def add_fill(
        self, patches: list[Patch], filled_mask: np.ndarray, name: str, provenance: dict[str, Any]
    ) -> ResultLayer | None:
        """Add a fill result as a new top layer and clear the mask pixels it filled.

        `filled_mask` is the mask the job ran with; strokes painted since then
        stay in the mask for the next run.
        """
        if not patches:
            return None
        layer = ResultLayer(name, patches, dict(provenance))
        # Every filled pixel lies inside the layer's patches: look no further than their boxes.
        mask_edits = []
        for x0, y0, x1, y1 in layer.patch_boxes:
            filled = filled_mask[y0:y1, x0:x1]
            layer.fill_masks.append(MaskCrop(x0, y0, np.array(filled)))
            region = self.mask[y0:y1, x0:x1]
            edit = edit_between(region, np.where(filled > 0, np.uint8(0), region))
            if edit is not None:
                bx0, by0, bx1, by1 = edit.box
                edit = MaskEdit(Box(bx0 + x0, by0 + y0, bx1 + x0, by1 + y0), edit.before, edit.after)
                edit.redo(self.mask)  # patches may overlap: the next one must see this one's result
                mask_edits.append(edit)
        for edit in reversed(mask_edits):
            edit.undo(self.mask)  # the command applies them all below
        command = FillCommand(layer, mask_edits, name)
        command.redo(self)
        self.history.push(command)
        return layer

    def undo(self) -> str | None:
        command = self.history.undo(self)
        return command.label if command else None

    def redo(self) -> str | None:
        command = self.history.redo(self)
        return command.label if command else None

    # ------------------------------------------------------------ pixels

    def recomposite_boxes(self, boxes: list[Box]) -> None:
        """Recomposite several regions, each pixel once even where they overlap."""
        for box in merge_overlapping(boxes):
            self.recomposite(box)

    def recomposite(self, box: Box) -> None:
        """Rebuild `composite` inside `box` from the original and the visible layers."""
        box = Box(*box)
        self._render(self.composite[box.slices], box)
        self.notify(DocumentEvent.IMAGE, box)

    def output_alpha(self) -> np.ndarray | None:
        """The result's transparency: None for an opaque photo; otherwise the photo's alpha with the visible
        layers painted over it like paint on glass ("over": a + below * (1 - a)), so a filled transparent
        area becomes opaque and a soft edge stays as soft as it is painted."""
        if self.photo.alpha is None:
            return None
        result = self.photo.alpha.astype(np.float32) / 255
        for layer in self.layers:
            if not layer.visible or layer.opacity <= 0:
                continue
            for patch in layer.patches:
                region = result[patch.box.slices]
                cover = patch.alpha.astype(np.float32) * (layer.opacity / 255)
                region[...] = cover + region * (1 - cover)
        return np.rint(result * 255).astype(np.uint8)

    def composite_without(self, layer: ResultLayer) -> np.ndarray:
        """A copy of the composite as it would be with `layer` hidden: what a new try of its fill starts from."""
        image = self.composite.copy()
        for box in merge_overlapping(layer.patch_boxes):
            self._render(image[box.slices], box, without=layer)
        return image

    def _render(self, region: np.ndarray, box: Box, without: ResultLayer | None = None) -> None:
        """Write the original and the visible layers (but `without`) inside `box` into `region`."""
        region[...] = self.original[box.slices]
        for layer in self.layers:
            if not layer.visible or layer.opacity <= 0 or layer is without:
                continue
            for patch in layer.patches:
                _composite_clipped(region, patch, box.x0, box.y0, layer.opacity)


def _composite_clipped(region: np.ndarray, patch: Patch, x0: int, y0: int, opacity: float = 1.0) -> None:
    """Blend the part of `patch` that falls inside `region` (whose top-left is x0, y0)."""
    height, width = region.shape[:2]
    px0, py0 = max(patch.x, x0), max(patch.y, y0)
    px1, py1 = min(patch.x + patch.width, x0 + width), min(patch.y + patch.height, y0 + height)
    if px0 >= px1 or py0 >= py1:
        return
    alpha = patch.alpha[py0 - patch.y : py1 - patch.y, px0 - patch.x : px1 - patch.x]
    if opacity < 1.0:
        alpha = np.rint(alpha * opacity).astype(np.uint8)
    piece = Patch(px0 - x0, py0 - y0, patch.rgb[py0 - patch.y : py1 - patch.y, px0 - patch.x : px1 - patch.x], alpha)
    piece.composite_onto(region)

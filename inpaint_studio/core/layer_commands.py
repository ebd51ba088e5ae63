"""Undoable operations on fill layers: show/hide, opacity, rename, reorder, delete,
duplicate, merge down, flatten.

Each function applies its change, records one command in the document's
history and recomposites only the layers' boxes. Commands keep references to
the layers they move or remove (their pixels already exist), so most cost
nothing beyond bookkeeping; merges keep the merged layer they create.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inpaint_studio.core.boxes import Box, overlap_groups, union
from inpaint_studio.core.document import Document, DocumentEvent, ResultLayer
from inpaint_studio.core.patch import Patch

_PROPERTIES = ("name", "visible", "opacity")


def _refresh(document: Document, layers: list[ResultLayer]) -> None:
    """Recomposite where `layers` paint (patch by patch, never their union) and tell the panels."""
    document.recomposite_boxes([box for layer in layers for box in layer.patch_boxes])
    document.notify(DocumentEvent.LAYERS, None)


@dataclass
class _SetProperty:
    layer: ResultLayer
    name: str
    old: Any
    new: Any
    label: str
    nbytes: int = 0

    def undo(self, document: Document) -> None:
        self._set(document, self.old)

    def redo(self, document: Document) -> None:
        self._set(document, self.new)

    def _set(self, document: Document, value: Any) -> None:
        setattr(self.layer, self.name, value)
        if self.name == "name":
            document.notify(DocumentEvent.LAYERS, None)  # no pixel changes
        else:
            _refresh(document, [self.layer])


@dataclass
class _ReplaceLayers:
    """Swap the whole layer list between two states: covers reorder, delete, add, merge, flatten."""

    before: list[ResultLayer]
    after: list[ResultLayer]
    label: str
    moved: list[ResultLayer] = field(default_factory=list)  # set for a pure reorder

    @property
    def nbytes(self) -> int:
        # Only layers that exist on one side alone are kept alive by this command.
        only_one_side = {id(layer): layer for layer in self.before + self.after}
        shared = {id(layer) for layer in self.before} & {id(layer) for layer in self.after}
        return sum(layer.nbytes for key, layer in only_one_side.items() if key not in shared)

    def undo(self, document: Document) -> None:
        self._show(document, self.before)

    def redo(self, document: Document) -> None:
        self._show(document, self.after)

    def _show(self, document: Document, layers: list[ResultLayer]) -> None:
        document.layers[:] = layers
        _refresh(document, self.changed)

    @property
    def changed(self) -> list[ResultLayer]:
        """Layers whose pixels appear or disappear; for a pure reorder, the moved ones."""
        if self.moved:
            return self.moved
        before, after = {id(layer) for layer in self.before}, {id(layer) for layer in self.after}
        return [layer for layer in self.before + self.after if (id(layer) in before) != (id(layer) in after)]


def set_layer_property(document: Document, layer: ResultLayer, name: str, value: Any) -> None:
    """Change `name` ('name', 'visible' or 'opacity') of `layer` as one undo step."""
    if name not in _PROPERTIES:
        raise ValueError(f"unknown layer property {name!r}")
    if name == "opacity":
        value = float(min(max(value, 0.0), 1.0))
    old = getattr(layer, name)
    if old == value:
        return
    labels = {"name": "Rename layer", "visible": "Show layer" if value else "Hide layer", "opacity": "Layer opacity"}
    command = _SetProperty(layer, name, old, value, labels[name])
    command.redo(document)
    document.history.push(command)


def _replace(document: Document, after: list[ResultLayer], label: str, moved: list[ResultLayer] | None = None) -> None:
    command = _ReplaceLayers(list(document.layers), after, label, moved or [])
    command.redo(document)
    document.history.push(command)


def move_layer(document: Document, layer: ResultLayer, new_index: int) -> None:
    """Move `layer` to `new_index` in bottom-to-top order."""
    layers = list(document.layers)
    old_index = layers.index(layer)
    new_index = min(max(new_index, 0), len(layers) - 1)
    if new_index == old_index:
        return
    layers.insert(new_index, layers.pop(old_index))
    _replace(document, layers, "Move layer", moved=[layer])


def delete_layer(document: Document, layer: ResultLayer) -> None:
    _replace(document, [other for other in document.layers if other is not layer], f"Delete layer '{layer.name}'")


def duplicate_layer(document: Document, layer: ResultLayer) -> ResultLayer:
    duplicate = ResultLayer(
        f"{layer.name} copy",
        list(layer.patches),  # patches are never modified in place, so sharing them is safe
        copy.deepcopy(layer.provenance),
        layer.visible,
        layer.opacity,
        list(layer.fill_masks),  # never modified in place either
    )
    layers = list(document.layers)
    layers.insert(layers.index(layer) + 1, duplicate)
    _replace(document, layers, "Duplicate layer")
    return duplicate


def _flattened(layers: list[ResultLayer], name: str) -> ResultLayer:
    """One layer that looks exactly like `layers` (bottom to top) composited over anything.

    It gets one patch per group of overlapping patches, so merging fills in
    opposite corners does not create a photo-sized layer.
    """
    visible = [layer for layer in layers if layer.visible and layer.opacity > 0]
    pieces = [(patch, layer.opacity) for layer in visible for patch in layer.patches]  # bottom to top
    boxes = [p.box for p, _ in pieces]
    patches = [_flatten_group([pieces[i] for i in sorted(group)], union(boxes[i] for i in group))
               for group in overlap_groups(boxes)]
    provenance = {"merged_from": [layer.provenance for layer in visible]}
    return ResultLayer(name, patches, provenance)


def _flatten_group(pieces: list[tuple[Patch, float]], box: Box) -> Patch:
    x0, y0, x1, y1 = box
    colour = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
    coverage = np.zeros((y1 - y0, x1 - x0), np.float32)
    for patch, opacity in pieces:
        ys = slice(patch.y - y0, patch.y - y0 + patch.height)
        xs = slice(patch.x - x0, patch.x - x0 + patch.width)
        a = patch.alpha.astype(np.float32)[..., None] / 255 * opacity
        # Premultiplied "over": new = patch + old * (1 - a).
        colour[ys, xs] = patch.rgb * a + colour[ys, xs] * (1 - a)
        coverage[ys, xs] = a[..., 0] + coverage[ys, xs] * (1 - a[..., 0])
    rgb = np.where(coverage[..., None] > 0, colour / np.maximum(coverage[..., None], 1e-6), 0)
    return Patch(x0, y0, np.clip(np.rint(rgb), 0, 255).astype(np.uint8), np.rint(coverage * 255).astype(np.uint8))


def merge_down(document: Document, layer: ResultLayer) -> ResultLayer | None:
    """Merge `layer` into the fill layer below it (the original photo is never merged into)."""
    layers = list(document.layers)
    index = layers.index(layer)
    if index == 0:
        return None
    below = layers[index - 1]
    if not any(each.visible and each.opacity > 0 for each in (below, layer)):
        return None
    merged = _flattened([below, layer], below.name)
    layers[index - 1 : index + 1] = [merged]
    _replace(document, layers, "Merge down")
    return merged


def flatten(document: Document) -> ResultLayer | None:
    """Merge every visible fill into one layer over the original; hidden layers are dropped."""
    if not any(layer.visible and layer.opacity > 0 for layer in document.layers):
        return None
    merged = _flattened(document.layers, "Flattened fills")
    _replace(document, [merged], "Flatten")
    return merged

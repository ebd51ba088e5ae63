"""Try again: several results for one fill layer's mask, and which of them the layer shows.

A fill rarely comes out right the first time on a hard spot. "Try again"
fills the layer's mask once more (another seed, or another engine) from the
photo as it is under the layer, and adds the result to the same layer rather
than a new one; the user flips between the tries and keeps the one that looks
best, as with Photoshop's variations. Adding a try and choosing one are each
one undo step; an edit of the shown try (the layer eraser) stays with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from inpaint_studio.core.document import Document, DocumentEvent, FillTry, ResultLayer
from inpaint_studio.core.patch import Patch


def is_fill(layer: ResultLayer | None) -> bool:
    """A layer that can be tried again: a fill that remembers the mask it filled."""
    return layer is not None and bool(layer.fill_masks)


def try_count(layer: ResultLayer) -> int:
    return max(len(layer.tries), 1)


def fill_mask_of(layer: ResultLayer, shape: tuple[int, int]) -> np.ndarray:
    """The mask `layer` was filled from, at the photo's size (`shape` is height, width)."""
    mask = np.zeros(shape, np.uint8)
    for crop in layer.fill_masks:
        height, width = crop.pixels.shape
        region = mask[crop.y : crop.y + height, crop.x : crop.x + width]
        np.maximum(region, crop.pixels, out=region)
    return mask


def next_seed(layer: ResultLayer, seed: int) -> int:
    """A seed no try of `layer` used yet, starting after `seed` (the one asked for): each try differs."""
    used = {attempt.provenance.get("seed") for attempt in _tries(layer)}
    while seed in used:
        seed = (seed + 1) % 2**31
    return seed


@dataclass(frozen=True)
class _State:
    tries: list[FillTry]
    shown: int


@dataclass
class _TriesCommand:
    """Swap a layer between two states of its tries (a try added, or another one shown)."""

    layer: ResultLayer
    before: _State
    after: _State
    label: str
    nbytes: int = 0  # the added try's pixels, when one is added

    def undo(self, document: Document) -> None:
        _show(document, self.layer, self.before)

    def redo(self, document: Document) -> None:
        _show(document, self.layer, self.after)


def add_try(document: Document, layer: ResultLayer, patches: list[Patch], provenance: dict[str, Any]) -> None:
    """Add a new result for `layer`'s mask and show it: one undo step."""
    before = _State(_tries(layer), layer.shown_try)
    new = FillTry(list(patches), dict(provenance))
    after = _State([*before.tries, new], len(before.tries))
    _run(document, _TriesCommand(layer, before, after, "Try again", new.nbytes))


def show_try(document: Document, layer: ResultLayer, index: int) -> None:
    """Show `layer`'s try number `index` (0-based, wrapping around): one undo step."""
    tries = _tries(layer)
    index %= len(tries)
    if index == layer.shown_try or len(tries) < 2:
        return
    label = f"Show try {index + 1} of {len(tries)}"
    _run(document, _TriesCommand(layer, _State(tries, layer.shown_try), _State(tries, index), label))


def _tries(layer: ResultLayer) -> list[FillTry]:
    """The layer's tries, the shown one as it is now (an erased part stays erased when the user flips)."""
    tries = list(layer.tries) or [FillTry(layer.patches, layer.provenance)]
    shown = min(layer.shown_try, len(tries) - 1)
    tries[shown] = FillTry(list(layer.patches), layer.provenance)
    return tries


def _run(document: Document, command: _TriesCommand) -> None:
    command.redo(document)
    document.history.push(command)


def _show(document: Document, layer: ResultLayer, state: _State) -> None:
    old_boxes = layer.patch_boxes
    shown = state.tries[state.shown]
    layer.tries, layer.shown_try = list(state.tries), state.shown
    layer.patches, layer.provenance = list(shown.patches), dict(shown.provenance)
    document.recomposite_boxes(old_boxes + layer.patch_boxes)
    document.notify(DocumentEvent.LAYERS, None)

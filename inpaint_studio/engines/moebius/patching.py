"""Forwards of chosen modules replaced within a block: how the fast CPU paths take over layers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from torch import nn


@contextlib.contextmanager
def replaced_forwards(modules: Iterable[nn.Module], make_forward: Callable[[Any], Callable[..., Any]]) -> Iterator[int]:
    """Within the block, each of `modules` runs `make_forward(module)` instead of its class's forward; yields how many.

    A module whose forward is replaced already keeps it (and gets it back as it was).
    """
    patched = [module for module in modules if "forward" not in vars(module)]
    for module in patched:
        module.forward = make_forward(module)  # patched per instance
    try:
        yield len(patched)
    finally:
        for module in patched:
            del module.forward  # back to the class's forward

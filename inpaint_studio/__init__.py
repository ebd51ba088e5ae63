"""Inpaint Studio: remove objects and repair damaged photos with local inpainting engines.

The scripting API is `inpaint_studio.api` (`remove`, `restore`, `select`). `remove` and
`select` are here too, looked up on first use, so importing the package stays instant:
no numpy, OpenCV, torch or Qt until a function runs. `restore` cannot be: the name
belongs to the damage-detection package `inpaint_studio.restore`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
APP_NAME = "Inpaint Studio"
LICENCE = "Apache-2.0"

_API = ("remove", "select")  # inpaint_studio.restore is a package (damage detection)
__all__ = ["APP_NAME", "LICENCE", "__version__", *_API]


def __getattr__(name: str) -> Any:
    # By name through importlib, not an import statement: every module below reads __version__
    # from here, and must not appear to depend on the API above it (import-linter follows statements).
    if name in _API:
        return getattr(importlib.import_module("inpaint_studio.api"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])

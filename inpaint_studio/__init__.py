"""Inpaint Studio: remove objects and repair damaged photos with local inpainting engines.

The scripting API is `inpaint_studio.api` (`remove`, `restore`, `select`). `remove` and
`select` are here too, looked up on first use, so importing the package stays instant:
no numpy, OpenCV, torch or Qt until a function runs. `restore` cannot be: the name
belongs to the damage-detection package `inpaint_studio.restore`.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# torch's OpenMP threads sleep between parallel regions instead of spinning: the Moebius VAE
# alternates torch's products with numba tile transforms on the same cores, and the spinning
# threads took cores from them (encode 20 % slower in float32, 5-10 % in bfloat16; measured,
# benchmarks/README.md). It has to be set before torch loads, so it is set on the package's
# import; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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

"""Which engines exist, by id.

An explicit list, not package entry points: a frozen (PyInstaller) app has no
package metadata to discover plugins from. Engine modules keep heavy imports
(numba, torch) inside their methods, so listing engines stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from inpaint_studio.core.errors import EngineError
from inpaint_studio.engines.base import Engine

DEFAULT_ENGINE = "patchmatch"

_BUILTIN: dict[str, str] = {
    "patchmatch": "inpaint_studio.engines.patchmatch:PatchMatchEngine",
    "telea": "inpaint_studio.engines.opencv_engines:TeleaEngine",
    "ns": "inpaint_studio.engines.opencv_engines:NavierStokesEngine",
    "lama": "inpaint_studio.engines.lama:LamaEngine",
    "migan": "inpaint_studio.engines.migan:MiganEngine",
    "moebius": "inpaint_studio.engines.moebius_engine:MoebiusEngine",
}
_extra: dict[str, type[Engine]] = {}


def register_engine(engine_class: type[Engine]) -> None:
    """Make an engine class available by its id (tests register the fake engine)."""
    _extra[engine_class.info.id] = engine_class


def unregister_engine(engine_id: str) -> None:
    _extra.pop(engine_id, None)


def engine_ids() -> list[str]:
    return list(_BUILTIN) + [i for i in _extra if i not in _BUILTIN]


def engine_class(engine_id: str) -> type[Engine]:
    if engine_id in _extra:
        return _extra[engine_id]
    if engine_id not in _BUILTIN:
        raise EngineError(f"Unknown engine '{engine_id}'. Available: {', '.join(engine_ids())}.")
    module_name, class_name = _BUILTIN[engine_id].split(":")
    cls: type[Engine] = getattr(importlib.import_module(module_name), class_name)
    return cls


def create_engine(engine_id: str, device: str = "cpu", model_store: Any = None) -> Engine:
    """A new engine on `device`; engines that need model files find them in `model_store`."""
    cls = engine_class(engine_id)
    if cls.info.models:
        return cls(device, model_store=model_store)
    # Engines without models may predate the model_store argument (test engines).
    return cls(device)

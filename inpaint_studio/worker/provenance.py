"""What a fill layer remembers about how it was made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inpaint_studio.engines.base import Engine


def fill_provenance(engine_class: type[Engine], params: Mapping[str, Any], device: str) -> dict[str, Any]:
    """Engine, device and every parameter (defaults included), with the seed on its own.

    `device` is where the fill really ran (the CPU after a GPU ran out of
    memory). Storing the defaults too means the fill can be reproduced even
    after a later version changes what the defaults are. `params` are those
    of a job the engine ran, so they are valid.
    """
    resolved = engine_class.resolve_params(params)
    provenance: dict[str, Any] = {"engine": engine_class.info.id, "device": str(device), "params": resolved}
    if "seed" in resolved:
        provenance["seed"] = resolved["seed"]
    return provenance

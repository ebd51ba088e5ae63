"""What a fill layer remembers about how it was made."""

from __future__ import annotations

from typing import Any

from inpaint_studio.engines.base import Engine


def fill_provenance(engine_class: type[Engine], request: Any) -> dict[str, Any]:
    """Engine, device and every parameter (defaults included), with the seed on its own.

    Storing the defaults too means the fill can be reproduced even after a
    later version changes what the defaults are. `request` is a FillRequest
    the engine ran, so its parameters are valid.
    """
    params = engine_class.resolve_params(request.params)
    provenance: dict[str, Any] = {"engine": engine_class.info.id, "device": request.device, "params": params}
    if "seed" in params:
        provenance["seed"] = params["seed"]
    return provenance

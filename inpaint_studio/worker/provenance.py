"""What a fill layer remembers about how it was made."""

from __future__ import annotations

from typing import Any

from inpaint_studio.engines.base import EngineInfo


def fill_provenance(info: EngineInfo, request: Any) -> dict[str, Any]:
    """Engine, device and every parameter (defaults included), with the seed on its own.

    Storing the defaults too means the fill can be reproduced even after a
    later version changes what the defaults are. `request` is a FillRequest.
    """
    params = {p.name: p.default for p in info.params}
    params.update(request.params)
    provenance: dict[str, Any] = {"engine": info.id, "device": request.device, "params": params}
    if "seed" in params:
        provenance["seed"] = params["seed"]
    return provenance

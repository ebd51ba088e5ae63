"""What a fill layer remembers about how it was made."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inpaint_studio.engines.base import Engine

if TYPE_CHECKING:
    from inpaint_studio.worker.engine_worker import FillRequest


def fill_provenance(engine_class: type[Engine], request: FillRequest, device: str | None = None) -> dict[str, Any]:
    """Engine, device and every parameter (defaults included), with the seed on its own.

    `device` is where the fill really ran (the CPU after a GPU ran out of
    memory); the requested device when not given. Storing the defaults too
    means the fill can be reproduced even after a later version changes what
    the defaults are. `request` is a FillRequest the engine ran, so its
    parameters are valid.
    """
    params = engine_class.resolve_params(request.params)
    ran_on = str(device or request.device)
    provenance: dict[str, Any] = {"engine": engine_class.info.id, "device": ran_on, "params": params}
    if "seed" in params:
        provenance["seed"] = params["seed"]
    return provenance

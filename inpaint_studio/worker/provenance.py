"""What a fill layer remembers about how it was made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inpaint_studio.engines.base import Engine


def fill_provenance(
    engine_class: type[Engine], params: Mapping[str, Any], device: str, precision: str | None = None
) -> dict[str, Any]:
    """Engine, device and every parameter (defaults included), with the seed on its own.

    `device` is where the fill really ran (the CPU after a GPU ran out of
    memory), `precision` what the network computed in where the engine chose
    it (Moebius's "auto" becomes "bfloat16" or "float32"). Storing the defaults
    too means the fill can be reproduced even after a later version changes
    what the defaults are. `params` are those of a job the engine ran, so they
    are valid.
    """
    resolved = engine_class.resolve_params(params)
    provenance: dict[str, Any] = {"engine": engine_class.info.id, "device": str(device), "params": resolved}
    if "seed" in resolved:
        provenance["seed"] = resolved["seed"]
    if precision is not None:
        provenance["precision"] = precision
    return provenance


def provenance_summary(provenance: Mapping[str, Any]) -> str:
    """One line on how a fill was made, e.g. "moebius, seed 7, on cpu in bfloat16"; "" for layers no engine made."""
    if "engine" not in provenance:
        return ""
    parts = [str(provenance["engine"])]
    if "seed" in provenance:
        parts.append(f"seed {provenance['seed']}")
    where = f"on {provenance['device']}" if provenance.get("device") else ""
    if provenance.get("precision"):
        where = f"{where} in {provenance['precision']}".strip()
    return ", ".join(parts + ([where] if where else []))

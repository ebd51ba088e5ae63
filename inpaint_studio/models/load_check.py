"""Does an installed model load the way its engine loads it? The last step of `models verify`.

A checksum says that a file is the one installed; for a file imported without a
published checksum it cannot say that the file is a model at all. This check reads
each file through the loaders the engines use (`models.safe_load`), chosen by the
catalogue's format: a TorchScript archive (LaMa, MI-GAN) is loaded as the engine
loads it, and only when trusted, since loading it can run code; a state dict is read
as plain tensors and must hold the network's top-level parts the catalogue names
(`ModelInfo.parts`); a configuration must be a JSON object. Building the network
itself belongs to the engines, a floor above, so a state dict with the right parts
but wrong shapes is still found only when the engine loads it. torch is imported
by the loaders, when a check runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from inpaint_studio.core.errors import ModelError
from inpaint_studio.models.catalogue import ModelInfo
from inpaint_studio.models.safe_load import load_state_dict, load_torchscript


def check_loads(info: ModelInfo, folder: Path, *, trusted: bool) -> str:
    """How the model's files in `folder` load ("they load as TorchScript"), or ModelError saying why not.

    `trusted`: the files matched the catalogue or the user imported them; TorchScript is loaded only then.
    """
    check = _CHECKS.get(info.format)
    if check is None:
        raise ModelError(f"{info.name} has the format '{info.format}', which this version cannot check.")
    return check(info, folder, trusted)


def _torchscript(info: ModelInfo, folder: Path, trusted: bool) -> str:
    for file in info.files:
        load_torchscript(folder / file.name, trusted=trusted)  # the call TorchEngine.load makes
    return "it loads as TorchScript, as the engine loads it"


def _tensors(info: ModelInfo, folder: Path, trusted: bool) -> str:
    counted = 0
    for file in info.files:
        path = folder / file.name
        if path.suffix.lower() == ".json":
            _config(path)
            continue
        state = load_state_dict(path)  # weights only: nothing in the file runs
        parts = {name.split(".", 1)[0] for name in state}
        missing = [part for part in info.parts if part not in parts]
        if not state:
            raise ModelError(f"{path} holds no tensors.")
        if missing:
            found = ", ".join(sorted(parts)[:5])
            raise ModelError(
                f"{path} holds the tensors of another network: {info.name} needs {', '.join(info.parts)}; the file has {found}."
            )
        counted += len(state)
    tensors = f"{counted:,} tensor" + ("" if counted == 1 else "s")
    return f"it loads as plain weights ({tensors}) with the parts {info.name} needs"


def _config(path: Path) -> None:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ModelError(f"The configuration {path} is damaged ({error}).") from None
    if not isinstance(config, dict) or not config:
        raise ModelError(f"The configuration {path} is not a JSON object of settings.")


def _configs(info: ModelInfo, folder: Path, trusted: bool) -> str:
    for file in info.files:
        _config(folder / file.name)
    return "its configuration reads as JSON"


_CHECKS: dict[str, Callable[[ModelInfo, Path, bool], str]] = {
    "torchscript": _torchscript,
    "state_dict": _tensors,
    "safetensors": _tensors,
    "config": _configs,
}

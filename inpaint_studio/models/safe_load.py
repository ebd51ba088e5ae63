"""Loading model files without letting them run code.

A `.bin`/`.pt` state dict is a pickle, and unpickling can call any function the
file names. `load_state_dict` therefore reads safetensors files (plain tensors by
design) or uses torch's weights-only unpickler, which refuses anything but
tensors and plain containers. TorchScript archives are programs; `load_torchscript`
loads one only when the caller says the file is trusted (see ModelStore.is_trusted).
torch is imported here, inside the functions, so the rest of the app starts fast.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inpaint_studio.core.errors import ModelError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def load_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """Tensors by name from a `.safetensors` file or a weights-only PyTorch file, on the CPU.

    Raises ModelError naming the file when it is missing, damaged, not a
    mapping of names, or holds objects other than tensors (which would run code).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"The model file {path} does not exist.")
    if path.suffix.lower() == ".safetensors":
        state = _load_safetensors(path)
    else:
        state = _load_weights_only(path)
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise ModelError(f"The model file {path} does not hold a state dict (a mapping of parameter names to tensors).")
    return state


def state_dict_mismatch(module: torch.nn.Module, state: Mapping[str, Any]) -> str:
    """What keeps `state` from loading into `module` strictly, as one readable phrase ("" if nothing):
    which names are missing or unexpected and which shapes differ, a few of each.

    torch's own error lists every name on many lines; a message cut to its first line says
    only "Error(s) in loading state_dict".
    """
    expected = module.state_dict()
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    reshaped = [
        f"{name}: {_shape(state[name])} in the file, {_shape(tensor)} expected"
        for name, tensor in expected.items()
        if name in state and _shape(state[name]) != _shape(tensor)
    ]
    parts = []
    if missing:
        parts.append(f"{_count(missing, 'tensor is', 'tensors are')} missing from the file ({_some(missing)})")
    if unexpected:
        parts.append(f"{_count(unexpected, 'tensor is', 'tensors are')} not in the network ({_some(unexpected)})")
    if reshaped:
        parts.append(f"{_count(reshaped, 'tensor has', 'tensors have')} another shape ({_some(reshaped, '; ')})")
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return parts[0] if parts else ""


def _shape(tensor: Any) -> list[int]:
    return list(getattr(tensor, "shape", ()))


def _count(items: list[str], one: str, many: str) -> str:
    return f"1 {one}" if len(items) == 1 else f"{len(items)} {many}"


def _some(items: list[str], separator: str = ", ", shown: int = 3) -> str:
    listed = separator.join(items[:shown])
    return listed + (f" and {len(items) - shown} more" if len(items) > shown else "")


def _load_safetensors(path: Path) -> dict[str, Any]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ModelError(f"Loading {path} needs the 'safetensors' package; install it with pip.") from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        log.warning("loading %s failed: %s", path, error)
        raise ModelError(f"The model file {path} is damaged or not a safetensors file.") from None


def _load_weights_only(path: Path) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelError(
            f"Refused to load the model file {path}: it is damaged or holds objects other than tensors, "
            "which could run code on this computer. Use a safetensors or weights-only file."
        ) from None
    except Exception as error:  # noqa: BLE001 - torch reports damage as RuntimeError, EOFError, ValueError...
        log.warning("loading %s failed: %s", path, error)
        raise ModelError(f"The model file {path} is damaged or not a PyTorch file.") from None


def load_torchscript(path: Path | str, *, trusted: bool, map_location: str = "cpu") -> Any:
    """A TorchScript module in eval mode, or ModelError if the file is untrusted, missing or damaged."""
    path = Path(path)
    if not trusted:
        raise ModelError(
            f"Refused to load the model file {path}: its checksum does not match the catalogue; "
            "import it explicitly to use it (`inpaint-studio models import ID FILE --allow-unknown`)."
        )
    if not path.is_file():
        raise ModelError(f"The model file {path} does not exist.")
    import torch

    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript; LaMa and MI-GAN are distributed as TorchScript.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location=map_location)
    except Exception as error:  # noqa: BLE001 - torch reports damage as RuntimeError and others
        log.warning("loading %s failed: %s", path, error)
        raise ModelError(f"The model file {path} is damaged or not a TorchScript file.") from None
    return module.eval()

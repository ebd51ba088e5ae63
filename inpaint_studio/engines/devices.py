"""Which compute devices this machine has, and running on a GPU with a way back to the CPU.

torch is imported only when an engine could use a GPU, so classical engines
and the CLI's start-up never pay for it.
"""

from __future__ import annotations

import functools
import gc
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from inpaint_studio.core.devices import DEVICE_CHOICES
from inpaint_studio.core.errors import DeviceError

T = TypeVar("T")


def gpu_devices() -> list[str]:
    """GPU backends usable on this machine, in order of preference."""
    try:
        import torch
    except ImportError:
        return []
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


# /proc/cpuinfo flags of x86 processors that compute bfloat16 natively: AVX512-BF16 (AMD Zen 4 and
# later, Intel Cooper Lake, Sapphire Rapids and later) and AMX (Intel Sapphire Rapids and later).
_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.lru_cache(maxsize=1)
def cpu_computes_bfloat16() -> bool:
    """True when this CPU has native bfloat16 arithmetic that PyTorch uses (through oneDNN).

    x86 only: AVX512-BF16 or AMX, asked of torch's own CPU probe where it has one
    (torch.cpu._is_avx512_bf16_supported / _is_amx_tile_supported), else read from
    /proc/cpuinfo. Elsewhere (ARM, Apple silicon's CPU, no oneDNN) bfloat16 would be
    emulated, slower than float32: False.
    """
    try:
        import torch
    except ImportError:
        return False
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return False
    if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        return False
    avx512_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    if callable(avx512_bf16) and callable(amx):
        try:
            return bool(avx512_bf16()) or bool(amx())
        except RuntimeError:
            pass
    return bool(_cpuinfo_flags() & _BF16_CPU_FLAGS)


def _cpuinfo_flags(path: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The first processor's flags in a Linux /proc/cpuinfo; empty where there is none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def resolve_device(requested: str, supported: tuple[str, ...], engine_name: str) -> str:
    """The concrete device for an engine: 'auto' picks CUDA, then MPS, then CPU."""
    if requested not in DEVICE_CHOICES:
        raise DeviceError(f"Unknown device '{requested}'; choose one of {', '.join(DEVICE_CHOICES)}.")
    gpus_wanted = [d for d in supported if d != "cpu"]
    if requested == "auto":
        if gpus_wanted:
            for device in gpu_devices():
                if device in gpus_wanted:
                    return device
        return "cpu"
    if requested not in supported:
        raise DeviceError(f"{engine_name} runs on {', '.join(supported)} only, not '{requested}'. Use --device auto.")
    if requested != "cpu" and requested not in gpu_devices():
        raise DeviceError(f"The '{requested}' device is not available on this machine. Use --device cpu or auto.")
    return requested


def is_out_of_memory(error: BaseException) -> bool:
    """True for a GPU allocation failure (CUDA or MPS), which a CPU run can recover from.

    torch raises `torch.OutOfMemoryError` for CUDA, but a plain RuntimeError
    ("... out of memory ...") from some kernels and from the MPS backend.
    """
    torch = sys.modules.get("torch")
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom_type is not None and isinstance(error, oom_type):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def try_on_gpu(device: str, attempt: Callable[[], T], fall_back: Callable[[], None]) -> T | None:
    """`attempt()` when `device` is a GPU; if it runs out of memory, call `fall_back()` and return None.

    Any other error propagates. On the CPU nothing is attempted (None). The
    fall-back runs outside the `except` block, whose traceback would keep the
    failed attempt's GPU tensors alive.
    """
    if device == "cpu":
        return None
    try:
        return attempt()
    except Exception as error:
        if not is_out_of_memory(error):
            raise
    fall_back()
    return None


def free_device_memory(device: str) -> None:
    """Return freed tensors' memory to the system, so another model or app can use it.

    Without `empty_cache` torch keeps freed GPU blocks cached for itself. Does
    not import torch: if it was never imported there is nothing to free.
    """
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if device == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        torch.mps.empty_cache()

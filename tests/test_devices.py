"""Device choice and GPU memory helpers, with torch's GPU probes monkeypatched (no GPU here)."""

from __future__ import annotations

import pytest
import torch

from inpaint_studio.core.errors import DeviceError
from inpaint_studio.engines.devices import (
    free_device_memory,
    is_out_of_memory,
    resolve_device,
)

LEARNED = ("cpu", "cuda", "mps")


@pytest.fixture
def gpus(monkeypatch):
    """Set which GPU backends torch reports: gpus("cuda", "mps"), gpus() for none."""

    def set_available(*names: str) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: "cuda" in names)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: "mps" in names)

    set_available()
    return set_available


def test_auto_prefers_cuda_then_mps_then_cpu(gpus):
    gpus("cuda", "mps")
    assert resolve_device("auto", LEARNED, "LaMa") == "cuda"
    gpus("mps")
    assert resolve_device("auto", LEARNED, "LaMa") == "mps"
    gpus()
    assert resolve_device("auto", LEARNED, "LaMa") == "cpu"


def test_auto_only_picks_a_gpu_the_engine_supports(gpus):
    gpus("cuda", "mps")
    assert resolve_device("auto", ("cpu",), "Telea") == "cpu"
    assert resolve_device("auto", ("cpu", "mps"), "Some engine") == "mps"


def test_explicit_devices_are_checked(gpus):
    gpus("cuda")
    assert resolve_device("cuda", LEARNED, "LaMa") == "cuda"
    assert resolve_device("cpu", LEARNED, "LaMa") == "cpu"
    with pytest.raises(DeviceError, match="not available"):
        resolve_device("mps", LEARNED, "LaMa")
    with pytest.raises(DeviceError, match="runs on cpu only"):
        resolve_device("cuda", ("cpu",), "Telea")
    with pytest.raises(DeviceError, match="Unknown device"):
        resolve_device("tpu", LEARNED, "LaMa")


def test_out_of_memory_is_recognised_for_cuda_and_mps_only():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1.2 GB)"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not is_out_of_memory(RuntimeError("CUDA error: device-side assert triggered"))
    assert not is_out_of_memory(ValueError("out of memory"))  # not a torch error


def test_free_device_memory_empties_the_gpu_cache(gpus, monkeypatch):
    emptied = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append("cuda"))
    monkeypatch.setattr(torch.mps, "empty_cache", lambda: emptied.append("mps"))
    free_device_memory("cuda")  # no GPU: nothing to empty, no error
    free_device_memory("cpu")
    assert emptied == []
    gpus("cuda", "mps")
    free_device_memory("cuda")
    free_device_memory("mps")
    free_device_memory("cpu")
    assert emptied == ["cuda", "mps"]

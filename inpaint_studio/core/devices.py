"""The compute devices an engine can run on, as one vocabulary for settings, engines and provenance.

Finding which ones this machine has needs torch: that lives with the engines
(`engines.devices`); this module names them only.
"""

from __future__ import annotations

from enum import StrEnum


class Device(StrEnum):
    """A compute device, or AUTO: a request, resolved to one of the others before a job runs."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"

    @property
    def label(self) -> str:
        """The name a user reads in a menu or a status bar."""
        return _LABELS[self]


_LABELS = {Device.AUTO: "Automatic", Device.CPU: "CPU", Device.CUDA: "CUDA (GPU)", Device.MPS: "Apple MPS"}

DEVICE_CHOICES = tuple(device.value for device in Device)

"""Checks on what callers hand the network and the sampler, with messages a user can act on.

The reference silently accepts some wrong shapes (a non-square latent of the
right area is re-read as a square and scrambled, SPEC §4), so every shape is
checked here before any layer runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from inpaint_studio.core.errors import EngineError

if TYPE_CHECKING:
    import torch


class MoebiusInputError(EngineError, ValueError):
    """A tensor handed to the Moebius network or sampler has the wrong shape or type."""


class MoebiusConfigError(EngineError, ValueError):
    """A Moebius config describes a network this implementation cannot build."""


def _shape(tensor: torch.Tensor) -> str:
    return "[" + ", ".join(str(size) for size in tensor.shape) + "]"


def check_tensor(name: str, value: object, expected: Sequence[int | None], floating: bool = True) -> torch.Tensor:
    """`value` if it is a tensor of shape `expected` (None = any size), else a MoebiusInputError."""
    import torch

    wanted = "[" + ", ".join("batch" if size is None else str(size) for size in expected) + "]"
    if not isinstance(value, torch.Tensor):
        raise MoebiusInputError(f"Moebius needs {name} as a tensor of shape {wanted}, not {type(value).__name__}.")
    mismatch = any(want is not None and got != want for got, want in zip(value.shape, expected, strict=False))
    if value.ndim != len(expected) or mismatch:
        raise MoebiusInputError(f"Moebius needs {name} of shape {wanted}; got {_shape(value)}.")
    if floating and not value.is_floating_point():
        raise MoebiusInputError(f"Moebius needs {name} as floating-point values; got {value.dtype}.")
    if not floating and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise MoebiusInputError(f"Moebius needs {name} as integers; got {value.dtype}.")
    return value


def check_latent_side(name: str, value: torch.Tensor, side: int, channels: int) -> torch.Tensor:
    """`value` if it is [batch, channels, side, side]; the message explains the fixed image size."""
    import torch

    is_latent = isinstance(value, torch.Tensor) and value.ndim == 4 and value.shape[1] == channels
    if is_latent and tuple(value.shape[2:]) != (side, side):
        raise MoebiusInputError(
            f"This Moebius model only takes square latents of {side}x{side} "
            f"(images of {side * 8}x{side * 8} pixels); {name} is {value.shape[2]}x{value.shape[3]}."
        )
    return check_tensor(name, value, (None, channels, side, side))


def batch_timesteps(timesteps: object, batch: int) -> torch.Tensor:
    """The timesteps as a float-castable [batch] tensor; a single value is shared by the batch."""
    import torch

    if not isinstance(timesteps, torch.Tensor):
        if isinstance(timesteps, bool) or not isinstance(timesteps, (int, float)):
            raise MoebiusInputError(
                f"Moebius needs the timestep as a number or a tensor, not {type(timesteps).__name__}."
            )
        timesteps = torch.tensor([timesteps])
    if timesteps.ndim == 0:
        timesteps = timesteps[None]
    if timesteps.ndim != 1 or timesteps.shape[0] not in (1, batch):
        raise MoebiusInputError(
            f"Moebius needs one timestep or one per batch row ({batch}); got a tensor of shape {_shape(timesteps)}."
        )
    return timesteps.expand(batch)

"""The Moebius fill's fixed numbers and its presets, shared by the engine and the runtime."""

from __future__ import annotations

from dataclasses import dataclass

SIZE = 512  # the model's window, in pixels
NOISE_OFFSET = 0.0357  # SPEC §9.5
# The `precision` parameter: auto = bfloat16 on a CPU that computes it natively (and CUDA's
# autocast on a GPU), float32 elsewhere; the runtime resolves it (runtime.resolve_precision).
PRECISIONS = ("auto", "float32", "bfloat16")


@dataclass(frozen=True)
class Preset:
    steps: int
    # Below 1 the sampler starts from the encoded photo plus noise (SPEC §9.5); at 1
    # from pure noise, and the unmasked photo need not be encoded at all.
    strength: float
    window_margin: int | None  # latent cells decoded around the mask; None = the whole crop


PRESETS = {
    "exact": Preset(steps=20, strength=0.99, window_margin=None),
    "fast": Preset(steps=4, strength=1.0, window_margin=8),
}

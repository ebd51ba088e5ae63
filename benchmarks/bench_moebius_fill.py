"""A whole Moebius fill of one 512x512 crop on this machine: exact and fast presets, phase by phase, float32 and bfloat16.

    python benchmarks/bench_moebius_fill.py [--threads 2] [--presets exact fast]
        [--precisions float32 bfloat16] [--skip-baseline] [--repeat 1]

Builds the official-size UNet (226M parameters) and the VAE of SPEC §9.3
(84M) with random weights (speed does not depend on them), and runs the
engine's own fill (`MoebiusRuntime.fill`) on a 512x512 crop of the bundled
sample photo with its mask. Prints, per preset and precision, the time of the
VAE encode, the UNet steps and the decode, and the total. The float32 fills
run first, then the bfloat16 ones, in the same process (the first fill in a
precision builds the UNet's derived weights; bfloat16 ones are kept for the
fills after it), and each bfloat16 fill is compared with the float32 one: final latents (largest and mean difference,
against the latents' spread) and the 8-bit result over the pixels the paste
uses. The baseline (unless --skip-baseline) is the first working version in
the same process: the UNet as of commit b8d0901 (from bench_moebius_step.py),
the VAE's 3x3 convolutions run by PyTorch instead of Winograd, and glibc's
default allocator settings, in float32.

Each of those fills is a first fill of the crop (the runtime's cache of
encodes is emptied before it); with --repeat N each runs N times and the
median is shown with the range (this machine's speed varies by several per
cent from minute to minute). Then each preset runs once more with another
seed and the encodes kept, as Try Again runs it.

Also prints how far the fast preset's windowed decode is from a full decode
of the same latents, in 8-bit levels over the pixels the paste uses.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

# isort: off
import inpaint_studio  # noqa: F401 - before torch, as in the app: it sets OpenMP's wait policy, read when torch loads
import torch

# isort: on
from inpaint_studio.engines.base import EngineContext
from inpaint_studio.engines.devices import cpu_computes_bfloat16
from inpaint_studio.engines.moebius import runtime as moebius_runtime
from inpaint_studio.engines.moebius import vae as vae_ops
from inpaint_studio.engines.moebius.config import official_config
from inpaint_studio.engines.moebius.network import build_model
from inpaint_studio.engines.moebius_engine import MoebiusEngine

TARGETS = {("exact", "float32"): 90.0, ("fast", "float32"): 30.0, ("exact", "bfloat16"): 40.0, ("fast", "bfloat16"): 10.0}


def sample_crop() -> tuple[np.ndarray, np.ndarray]:
    """A 512x512 crop of the sample photo around its mask, as the pipeline would cut it."""
    photo = np.asarray(Image.open(REPO / "resources" / "sample.jpg").convert("RGB"))
    mask = np.asarray(Image.open(REPO / "resources" / "sample_mask.png").convert("L"))
    ys, xs = np.nonzero(mask > 127)
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    side = min(photo.shape[:2])
    y0 = int(np.clip(cy - side // 2, 0, photo.shape[0] - side))
    x0 = int(np.clip(cx - side // 2, 0, photo.shape[1] - side))
    crop = photo[y0 : y0 + side, x0 : x0 + side]
    crop_mask = mask[y0 : y0 + side, x0 : x0 + side]
    image = np.asarray(Image.fromarray(crop).resize((512, 512), Image.Resampling.BICUBIC))
    hole = np.asarray(Image.fromarray(crop_mask).resize((512, 512), Image.Resampling.NEAREST))
    return np.ascontiguousarray(image), np.where(hole > 127, 255, 0).astype(np.uint8)


class PhaseClock:
    """Wraps the runtime's encode, sampler and decode to time them; keeps the sampler's final latents."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.latents: torch.Tensor | None = None

    @contextlib.contextmanager
    def installed(self):
        originals = moebius_runtime.vae_ops.encode_moments, moebius_runtime.denoise, moebius_runtime.vae_ops.decode
        encode, denoise, decode = originals

        def timed(name, fn):
            def run(*args, **kwargs):
                start = time.perf_counter()
                try:
                    result = fn(*args, **kwargs)
                    if name == "steps":
                        self.latents = result.float().clone()
                    return result
                finally:
                    self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

            return run

        moebius_runtime.vae_ops.encode_moments = timed("encode", encode)
        moebius_runtime.denoise = timed("steps", denoise)
        moebius_runtime.vae_ops.decode = timed("decode", decode)
        try:
            yield self
        finally:
            moebius_runtime.vae_ops.encode_moments, moebius_runtime.denoise, moebius_runtime.vae_ops.decode = originals


class Fill:
    """One timed fill: phases, UNet steps, total seconds, the result, the final latents, what it ran in."""

    def __init__(self, runtime, image, mask, preset: str, precision: str, seed: int | None = None, cold: bool = True) -> None:
        chosen = {"preset": preset, "precision": precision} | ({} if seed is None else {"seed": seed})
        params = MoebiusEngine.resolve_params(chosen)
        if cold:  # a first fill of this crop: nothing from earlier fills' encodes
            runtime.encoded.clear()
        clock = PhaseClock()
        with clock.installed():
            start = time.perf_counter()
            self.result = runtime.fill(image, mask, params, EngineContext())
            self.total = time.perf_counter() - start
        settings = moebius_runtime.PRESETS[preset]
        self.steps = len(moebius_runtime.timesteps_for(params["steps"] or settings.steps, settings.strength))
        self.phases, self.latents, self.ran_in = clock.seconds, clock.latents, runtime.precision
        self.seed = int(params["seed"])

    def line(self, label: str) -> str:
        split = ", ".join(f"{name} {self.phases.get(name, 0.0):.1f} s" for name in ("encode", "steps", "decode"))
        per_step = self.phases["steps"] / self.steps
        return f"{label:>16}: {self.total:6.1f} s  ({self.steps} UNet steps, {per_step:.2f} s/step; {split})"


def precision_cost(fill: Fill, reference: Fill, weights: np.ndarray) -> str:
    """How far a fill is from the float32 one: latents, and 8-bit levels where the paste weights are > 0."""
    latent_diff = (fill.latents - reference.latents).abs()
    levels = np.abs(fill.result.astype(int) - reference.result.astype(int))[weights]
    return (
        f"latents: max {latent_diff.max().item():.3f}, mean {latent_diff.mean().item():.4f} "
        f"(their std {reference.latents.std().item():.2f}); 8-bit over {weights.sum()} pasted pixels: max {levels.max()}, "
        f"mean {levels.mean():.2f}, 99th percentile {np.percentile(levels, 99):.0f}, "
        f"{100 * (levels > 2).mean():.2f} % of values more than 2 apart"
    )


@contextlib.contextmanager
def as_first_version():
    """The VAE's convolutions as PyTorch runs them (no Winograd) and glibc's default allocator settings."""
    saved = vae_ops.winograd_convolutions, moebius_runtime.reusing_freed_memory
    vae_ops.winograd_convolutions = lambda vae: contextlib.nullcontext(0)
    moebius_runtime.reusing_freed_memory = contextlib.nullcontext
    try:
        yield
    finally:
        vae_ops.winograd_convolutions, moebius_runtime.reusing_freed_memory = saved


def window_decode_error(vae, image, mask) -> tuple[float, float, int]:
    """Max and mean 8-bit difference, windowed vs full decode, where the paste weights are > 0."""
    preset = moebius_runtime.PRESETS["fast"]
    photo = torch.from_numpy(np.array(image.transpose(2, 0, 1))).float()[None] / 127.5 - 1
    with torch.inference_mode():
        mean, _ = vae_ops.encode_moments(vae, photo)
        latents = vae_ops.to_latents(vae, mean)
        hole = torch.from_numpy(mask > 127)
        window = vae_ops.decode_window_for(hole[::8, ::8], preset.window_margin)
        full = vae_ops.decode(vae, latents)
        part = vae_ops.decode(vae, latents, window)
    rows, cols = window.pixels
    to_bytes = lambda t: ((t[0] + 1) / 2).clamp(0, 1).mul(255).permute(1, 2, 0).numpy()  # noqa: E731
    difference = np.abs(to_bytes(full)[rows, cols] - to_bytes(part))
    weights = MoebiusEngine().paste_alpha(mask)[rows, cols] > 0
    return float(difference[weights].max()), float(difference[weights].mean()), int(weights.sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--presets", nargs="+", default=["exact", "fast"], choices=["exact", "fast"])
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--skip-baseline", action="store_true", help="leave out the first working version")
    parser.add_argument("--repeat", type=int, default=1, help="first fills per preset and precision; the median is shown")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    runtime = moebius_runtime.MoebiusRuntime("cpu")
    runtime.unet = build_model(official_config()).eval()
    runtime.vae = vae_ops.build_vae(vae_ops.published_config())
    image, mask = sample_crop()
    weights = MoebiusEngine().paste_alpha(mask) > 0
    native = "native" if cpu_computes_bfloat16() else "NOT native (emulated)"
    print(f"Moebius fill of one 512x512 crop, official sizes, {args.threads} threads "
          f"(mask covers {100 * (mask > 0).mean():.1f} % of the crop); bfloat16 on this CPU: {native}; "
          f"load average before: {os.getloadavg()[0]:.2f}")

    # Warm-up: the first calls pick kernels, compile the numba kernels and allocate.
    for precision in args.precisions:
        Fill(runtime, image, mask, "fast", precision)
    # One precision after the other, as a user's fills run: the first fill in a precision builds the
    # UNet's derived weights (bfloat16 ones are then kept for the next fills, runtime._derived_weights).
    fills = {}
    last = args.precisions[-1]
    for precision in args.precisions:
        for preset in args.presets:
            runs = sorted((Fill(runtime, image, mask, preset, precision) for _ in range(args.repeat)), key=lambda f: f.total)
            fill = fills[preset, precision] = runs[len(runs) // 2]  # the median run
            target = TARGETS[preset, precision]
            met = "met" if fill.total <= target else "NOT met"
            spread = f" (median of {len(runs)}: {runs[0].total:.1f}-{runs[-1].total:.1f} s)" if len(runs) > 1 else ""
            label = f"{preset} {precision}"
            print(f"{fill.line(label)}; target <= {target:.0f} s: {met}{spread}  [ran in {fill.ran_in}]", flush=True)
            if precision == last:
                again = Fill(runtime, image, mask, preset, last, seed=fill.seed + 1, cold=False)
                print(f"{again.line(f'{preset} again')}  (Try Again: another seed, same crop, {last}; encodes kept)", flush=True)
    for preset in args.presets:
        if len(args.precisions) == 2:
            bf16, fp32 = fills[preset, "bfloat16"], fills[preset, "float32"]
            print(f"{preset:>16}: bfloat16 {fp32.total / bf16.total:.2f}x faster; {precision_cost(bf16, fp32, weights)}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if not args.skip_baseline:
        from bench_moebius_step import first_version

        with first_version(runtime), as_first_version():
            baseline = Fill(runtime, image, mask, "exact", "float32")
        print(baseline.line("first version"))
    worst, mean, count = window_decode_error(runtime.vae, image, mask)
    print(f"fast preset's windowed decode vs full decode over {count} pasted pixels: max {worst:.1f}, mean {mean:.2f} levels")
    return 0


if __name__ == "__main__":
    sys.exit(main())

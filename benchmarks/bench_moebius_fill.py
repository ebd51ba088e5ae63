"""A whole Moebius fill of one 512x512 crop on this machine: exact and fast presets, phase by phase.

    python benchmarks/bench_moebius_fill.py [--threads 2] [--presets exact fast] [--skip-baseline]

Builds the official-size UNet (226M parameters) and the VAE of SPEC §9.3
(84M) with random weights (speed does not depend on them), and runs the
engine's own fill (`MoebiusRuntime.fill`) on a 512x512 crop of the bundled
sample photo with its mask. Prints, per preset, the time of the VAE encode,
the UNet steps and the decode, and the total. The baseline is the first
working version in the same process: the UNet as of commit b8d0901 (from
bench_moebius_step.py), the VAE's 3x3 convolutions run by PyTorch instead of
Winograd, and glibc's default allocator settings.

Also prints how far the fast preset's windowed decode is from a full decode
of the same latents, in 8-bit levels over the pixels the paste uses.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.engines.moebius import runtime as moebius_runtime
from inpaint_studio.engines.moebius import vae as vae_ops
from inpaint_studio.engines.moebius.config import official_config
from inpaint_studio.engines.moebius.network import build_model
from inpaint_studio.engines.moebius_engine import MoebiusEngine

VAE_CONFIG = {  # SPEC §9.3: the PixelHacker VAE's config.json
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.13025,
}
TARGETS = {"exact": 90.0, "fast": 30.0}


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
    """Wraps the runtime's encode, sampler and decode to time them."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.steps = 0

    @contextlib.contextmanager
    def installed(self):
        originals = moebius_runtime.vae_ops.encode_moments, moebius_runtime.denoise, moebius_runtime.vae_ops.decode
        encode, denoise, decode = originals

        def timed(name, fn):
            def run(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
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


def run_fill(runtime, image, mask, preset: str) -> tuple[dict[str, float], int, float, np.ndarray]:
    params = MoebiusEngine.resolve_params({"preset": preset})
    clock = PhaseClock()
    with clock.installed():
        start = time.perf_counter()
        result = runtime.fill(image, mask, params, lambda f: None, CancelToken(), None)
        total = time.perf_counter() - start
    settings = moebius_runtime.PRESETS[preset]
    steps = len(moebius_runtime.timesteps_for(params["steps"] or settings.steps, settings.strength))
    return clock.seconds, steps, total, result


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
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    runtime = moebius_runtime.MoebiusRuntime("cpu")
    runtime.unet = build_model(official_config()).eval()
    runtime.vae = vae_ops.build_vae(VAE_CONFIG)
    image, mask = sample_crop()
    print(f"Moebius fill of one 512x512 crop, official sizes, fp32, {args.threads} threads "
          f"(mask covers {100 * (mask > 0).mean():.1f} % of the crop)")

    # Warm-up: the first call picks kernels and allocates.
    run_fill(runtime, image, mask, "fast")
    results = {}
    for preset in args.presets:
        phases, steps, total, results[preset] = run_fill(runtime, image, mask, preset)
        split = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())
        print(f"{preset:>6}: {total:6.1f} s  ({steps} UNet steps, {phases['steps'] / steps:.2f} s/step; {split}); "
              f"target <= {TARGETS[preset]:.0f} s")
    if not args.skip_baseline:
        from bench_moebius_step import first_version

        with first_version(runtime), as_first_version():
            phases, steps, total, baseline = run_fill(runtime, image, mask, "exact")
        split = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())
        print(f" first: {total:6.1f} s  ({steps} UNet steps, {phases['steps'] / steps:.2f} s/step; {split})")
        if "exact" in results:
            diff = np.abs(baseline.astype(int) - results["exact"].astype(int)).max()
            print(f"exact preset vs first version: max difference {diff} levels (8-bit)")
    worst, mean, count = window_decode_error(runtime.vae, image, mask)
    print(f"fast preset's windowed decode vs full decode over {count} pasted pixels: max {worst:.1f}, mean {mean:.2f} levels")
    return 0


if __name__ == "__main__":
    sys.exit(main())

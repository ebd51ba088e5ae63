"""One guided Moebius UNet step at the official size on this machine, against earlier versions.

    python benchmarks/bench_moebius_step.py [--repeat 5] [--threads 2] [--against REV ...] [--no-bfloat16]

Builds the full-size network (226M parameters, random weights: speed does not
depend on them; random BatchNorm statistics, so folding them is exercised) in
float32, eval mode, and times one classifier-free-guided step on a 9x64x64
latent as the sampler runs it: `guided_noise` inside `frozen_weights` (derived
weights built once per sampling loop), and the guidance-1 step (conditional
half only). The earlier versions are the network package as committed at REV
(default: the first working version), imported from git under another name in
the same process with the same weights, and run as they were called: one
forward on the batch of 2. Timings are interleaved (current, earlier, current,
...) and medians reported, because other work on this 2-core machine makes
single timings noisy. Also prints the largest output difference and where the
current step spends its time. Unless --no-bfloat16, the current step also runs
as a fill runs it in bfloat16 (autocast over the whole loop, derived weights
kept in bfloat16), interleaved with the others, with its difference from the
float32 step; on a CPU without native bfloat16 that is emulated and slow.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import copy
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaint_studio.engines.devices import cpu_computes_bfloat16
from inpaint_studio.engines.moebius import blocks, lambda_layers, transformer
from inpaint_studio.engines.moebius.config import official_config
from inpaint_studio.engines.moebius.network import build_model
from inpaint_studio.engines.moebius.sampler import guidance_ids

PACKAGE = "inpaint_studio/engines/moebius"
FIRST_VERSION = "b8d0901"  # the first working version: Conv3d position lambdas, [b, n, dk, dv] cross lambdas
TARGET_SECONDS = 5.0
PARTS = {
    lambda_layers.LocalSelfLambda: "self-lambda (attn1)",
    lambda_layers.CrossLambda: "cross-lambda (attn2)",
    transformer.MixFFN: "Mix-FFN",
    blocks.DWResnetBlock: "DW resnets",
    blocks.Upsample: "upsamplers",
    blocks.Downsample: "downsamplers",
}


def import_version(revision: str, folder: Path) -> object:
    """The moebius package as committed at `revision`, importable as its own module."""
    name = "moebius_" + "".join(c if c.isalnum() else "_" for c in revision)
    if name in sys.modules:
        return sys.modules[name]
    target = folder / name
    target.mkdir()
    git = ["git", "-C", str(REPO)]
    files = subprocess.run([*git, "ls-tree", "--name-only", f"{revision}:{PACKAGE}"], capture_output=True, text=True)
    if files.returncode:
        raise SystemExit(f"Cannot read {PACKAGE} at {revision} from git: {files.stderr.strip()}")
    for file in files.stdout.split():
        source = subprocess.run([*git, "show", f"{revision}:{PACKAGE}/{file}"], capture_output=True, text=True).stdout
        # Modules of the package that have moved since (errors went to core).
        source = source.replace("inpaint_studio.errors", "inpaint_studio.core.errors")
        (target / file).write_text(source.replace("inpaint_studio.engines.moebius", name))
    sys.path.insert(0, str(folder))
    return importlib.import_module(name)


@contextlib.contextmanager
def first_version(runtime, revision: str = FIRST_VERSION):
    """`runtime.unet` (an official-size model) swapped for the network at `revision` with the same weights.

    For whole-fill benchmarks (bench_moebius_fill.py); the sampler calls it as it
    calls any model without `guided_noise`: one forward on both halves.
    """
    current = runtime.unet
    parameter = next(current.parameters())
    with tempfile.TemporaryDirectory() as folder:
        old = import_version(revision, Path(folder)).build_model(official_config())
    old.load_state_dict(current.state_dict())
    runtime.unet = old.to(parameter.device, parameter.dtype).eval()
    try:
        yield runtime
    finally:
        runtime.unet = current


def random_batchnorm_statistics(model: torch.nn.Module) -> None:
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))


def interleaved(steps: dict, repeat: int) -> dict[str, float]:
    """Median seconds of each step, run in turn `repeat` times after one warm-up each."""
    times = collections.defaultdict(list)
    for step in steps.values():
        step()  # first calls allocate and pick kernels (and build the frozen derived weights)
    for _ in range(repeat):
        for label, step in steps.items():
            start = time.perf_counter()
            step()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in times.items()}


def split(model: torch.nn.Module, step, runs: int = 3) -> dict[str, float]:
    """Median seconds per part of a step over `runs` runs, from forward hooks (parts do not nest)."""
    spent, started = collections.Counter(), {}
    handles = []
    for module in model.modules():
        part = PARTS.get(type(module))
        if part is not None:
            mark_start = lambda m, i: started.__setitem__(id(m), time.perf_counter())  # noqa: E731
            handles.append(module.register_forward_pre_hook(mark_start))
            handles.append(
                module.register_forward_hook(
                    lambda m, i, o, part=part: spent.update({part: time.perf_counter() - started[id(m)]})
                )
            )
    samples = collections.defaultdict(list)
    try:
        for _ in range(runs):
            spent.clear()
            start = time.perf_counter()
            step()
            spent["rest (norms, projections, concatenations, ...)"] = time.perf_counter() - start - sum(spent.values())
            for part, seconds in spent.items():
                samples[part].append(seconds)
    finally:
        for handle in handles:
            handle.remove()
    return {part: statistics.median(values) for part, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--against", action="append", metavar="REV", help=f"git revision (default {FIRST_VERSION})")
    parser.add_argument("--no-bfloat16", action="store_true", help="time the float32 step only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = build_model(official_config())
    random_batchnorm_statistics(model)
    latents = torch.randn(1, 9, 64, 64)
    timestep = torch.tensor([500])
    ids = guidance_ids(1)
    uncond_ids, cond_ids = ids.chunk(2)

    # bfloat16 as a fill runs it: autocast over the whole loop (so parameters are cast once), derived
    # weights kept in bfloat16 (a copy of the model: derived weights are kept per module). The float32
    # steps turn autocast off for themselves.
    half = None if args.no_bfloat16 else copy.deepcopy(model)
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        stack.enter_context(torch.inference_mode())
        if half is not None:
            stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
            stack.enter_context(blocks.frozen_weights(half, torch.bfloat16))
        stack.enter_context(blocks.frozen_weights(model))

        def float32(step):
            def run():
                with torch.autocast("cpu", enabled=False):
                    return step()

            return run

        steps = {
            "current": float32(lambda: torch.cat(model.guided_noise(latents, timestep, uncond_ids, cond_ids))),
            "current, guidance 1": float32(lambda: model(latents, timestep, cond_ids)),
        }
        if half is not None:
            steps["current, bfloat16"] = lambda: torch.cat(half.guided_noise(latents, timestep, uncond_ids, cond_ids)).float()
        outputs = {"current": steps["current"]()}
        if half is not None:
            outputs["current, bfloat16"] = steps["current, bfloat16"]()
        for revision in args.against or [FIRST_VERSION]:
            old = import_version(revision, Path(folder)).build_model(official_config())
            old.load_state_dict(model.state_dict())
            steps[revision] = float32(lambda old=old: old(latents.repeat(2, 1, 1, 1), timestep, ids))
            outputs[revision] = steps[revision]()
        medians = interleaved(steps, args.repeat)
        parts = split(model, steps["current"])
        half_parts = split(half, steps["current, bfloat16"]) if half is not None else {}

    current = medians["current"]
    native = "native" if cpu_computes_bfloat16() else "NOT native (emulated)"
    print(f"Moebius, official size, fp32, guided step (2 x 9x64x64), {args.threads} threads, median of {args.repeat}; "
          f"bfloat16 on this CPU: {native}")
    for label, seconds in medians.items():
        if label == "current, bfloat16":
            reference = outputs["current"]
            diff = outputs[label] - reference
            relative = (diff.square().mean().sqrt() / reference.square().mean().sqrt()).item()
            print(f"{label:28s} {seconds:6.2f} s per step  ({current / seconds:.2f}x faster than float32; "
                  f"max |diff| {diff.abs().max().item():.1e}, rms {100 * relative:.1f} % of the output's)")
        elif label in outputs and label != "current":
            name = "first version " + label if label == FIRST_VERSION else "version " + label
            diff = (outputs["current"] - outputs[label]).abs().max().item()
            speedup = seconds / current
            print(f"{name:28s} {seconds:6.2f} s per step  (current {speedup:.2f}x faster; max |diff| {diff:.1e})")
        else:
            print(f"{label:28s} {seconds:6.2f} s per step")
    print(f"target <= {TARGET_SECONDS:.0f} s: {'met' if current <= TARGET_SECONDS else 'NOT met'}")
    print("current step by part (median of 3 runs):")
    for part, seconds in sorted(parts.items(), key=lambda item: -item[1]):
        bfloat16 = f"   bfloat16 {half_parts[part]:5.2f} s" if part in half_parts else ""
        print(f"  {part:48s} {seconds:5.2f} s{bfloat16}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

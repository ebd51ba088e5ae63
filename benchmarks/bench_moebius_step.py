"""One guided Moebius UNet step at the official size on this machine, against the first version.

    python benchmarks/bench_moebius_step.py [--repeat 3] [--threads 2]

Builds the full-size network (226M parameters, random weights: speed does not
depend on them) in float32, eval mode, and times one classifier-free-guided
step: batch 2 (unconditional + conditional), 9x64x64 latent input, as the
sampler runs it. Prints the median of `--repeat` runs for the current code and
for the first working version's lambda layers (the reference's Conv3d position
lambda, and cross-lambdas that build one [dk, dv] matrix per position), swapped
in within the same process, and the largest difference between the outputs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaint_studio.engines.moebius import build_model, official_config  # noqa: E402
from inpaint_studio.engines.moebius import lambda_layers  # noqa: E402
from inpaint_studio.engines.moebius.sampler import guidance_ids  # noqa: E402

TARGET_SECONDS = 5.0


def first_version_forward(self, tokens, height, width):
    """LocalSelfLambda.forward as first written: the reference's Conv3d, then a permuting einsum."""
    b, n, channels = tokens.shape
    grid = tokens.transpose(1, 2).reshape(b, channels, height, width)
    u, dk, dv = self.dim_u, self.dim_k, self.dim_v
    queries = lambda_layers._queries(self, grid)
    keys = self.to_k(grid).reshape(b, u, dk, n).softmax(dim=-1)
    values = self.norm_v(self.to_v(grid)).reshape(b, u, dv, n)
    content = torch.einsum("bukn,buvn->bkv", keys, values)
    position = self.pos_conv(values.reshape(b, u, dv, height, width)).reshape(b, dk, dv, n)
    return lambda_layers._apply_lambdas(queries, content, position, "bhkn,bkvn->bhvn")


def first_version_cross_forward(self, tokens, context, height, width):
    """CrossLambda.forward as first written: builds the [b, n, dk, dv] position lambdas."""
    b, n, channels = tokens.shape
    grid = tokens.transpose(1, 2).reshape(b, channels, height, width)
    u, dk, dv, m = self.dim_u, self.dim_k, self.dim_v, context.shape[1]
    queries = lambda_layers._queries(self, grid)
    keys = self.to_k(context).transpose(1, 2).reshape(b, u, dk, m).softmax(dim=-1)
    values = self.norm_v(self.to_v(context).transpose(1, 2)).reshape(b, u, dv, m)
    content = torch.einsum("bukl,buvl->bkv", keys, values)
    position = torch.einsum("nlku,buvl->bnkv", self.rel_pos_emb, values)
    return lambda_layers._apply_lambdas(queries, content, position, "bhkn,bnkv->bhvn")


def time_step(model, latents, timesteps, ids, repeat: int) -> tuple[float, torch.Tensor]:
    times = []
    with torch.inference_mode():
        model(latents, timesteps, ids)  # warm-up: first calls allocate and pick kernels
        for _ in range(repeat):
            start = time.perf_counter()
            out = model(latents, timesteps, ids)
            times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = build_model(official_config()).eval()
    latents = torch.randn(2, 9, 64, 64)
    timesteps = torch.tensor([500])
    ids = guidance_ids(1)

    current, out_current = time_step(model, latents, timesteps, ids, args.repeat)
    originals = lambda_layers.LocalSelfLambda.forward, lambda_layers.CrossLambda.forward
    lambda_layers.LocalSelfLambda.forward = first_version_forward
    lambda_layers.CrossLambda.forward = first_version_cross_forward
    try:
        first, out_first = time_step(model, latents, timesteps, ids, args.repeat)
    finally:
        lambda_layers.LocalSelfLambda.forward, lambda_layers.CrossLambda.forward = originals

    diff = (out_current - out_first).abs().max().item()
    print(f"Moebius, official size, fp32, batch 2 x 9x64x64, {args.threads} threads, median of {args.repeat}")
    print(f"first version:  {first:6.2f} s per guided step")
    print(f"current:        {current:6.2f} s per guided step  ({first / current:.2f}x; target <= {TARGET_SECONDS:.0f} s)")
    print(f"max |difference| between the two outputs: {diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""MobileSAM click-to-select on the CPU: the photo's embedding once, then each click.

    python benchmarks/bench_sam.py [--runs 5] [--threads N]

The full-size network (10.1M parameters, the published architecture) with
random weights: time does not depend on the weights, and the real ones cannot
be downloaded on the machines this is developed on. For a 1024x768 photo and a
4000x3000 (12 MP) one: the embedding (best of --runs) and the median time of
a click, of two clicks and of a box (each --runs x 5 times), with torch's
default thread count unless --threads is given.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaint_studio.core.boxes import Box
from inpaint_studio.selection.sam.model import Sam
from inpaint_studio.selection.sam.session import SamSession


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    session = SamSession(Sam().eval(), "cpu")
    print(f"MobileSAM, random weights, CPU, {torch.get_num_threads()} torch threads")
    rng = np.random.default_rng(0)
    for height, width in ((768, 1024), (3000, 4000)):
        photo = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        embeds = []
        for _ in range(args.runs):
            started = time.perf_counter()
            session.embed(photo)
            embeds.append(time.perf_counter() - started)
        prompts = {
            "one click": ([(width * 0.5, height * 0.5, True)], None),
            "two clicks (one not the object)": ([(width * 0.5, height * 0.5, True), (width * 0.6, height * 0.5, False)], None),
            "a box": ([], Box(width // 4, height // 4, width // 2, height // 2)),
        }
        print(f"{width}x{height}: embedding best {min(embeds):.2f} s (median {statistics.median(embeds):.2f} s)")
        for name, (points, box) in prompts.items():
            times = []
            for _ in range(args.runs * 5):
                started = time.perf_counter()
                session.predict(points, box)
                times.append(time.perf_counter() - started)
            print(f"  {name}: median {1000 * statistics.median(times):.0f} ms, best {1000 * min(times):.0f} ms")


if __name__ == "__main__":
    main()

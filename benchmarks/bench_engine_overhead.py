"""What a learned engine costs besides its network, on a 12-megapixel photo.

    python benchmarks/bench_engine_overhead.py [--repeat 20] [--device cpu]

For LaMa and MI-GAN, with a near-free stand-in network of the real call
signature (it returns its image input), on a synthetic 4000x3000 photo with one
256x256 object, which gives each engine a 512x512 working crop:
- the whole `inpaint_patches` call (planning crops, cropping, conversions to
  and from tensors, transfers, paste-back alpha), warm;
- the stand-in network's own forward time on tensors of the same shape,
  measured separately in the same process;
- overhead = the first minus the second, median over --repeat runs, against
  the target of at most 100 ms.
The real networks' time comes on top and does not depend on this code.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cv2
import numpy as np
import torch

from inpaint_studio.engines.pipeline import inpaint_patches, plan_crops
from inpaint_studio.engines.registry import create_engine

TARGET_MS = 100.0


class LamaStandIn(torch.nn.Module):
    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return image


class MiganStandIn(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 1:4]


class FolderStore:
    """The model store's interface over stand-in files (trusted: we wrote them)."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths

    def require(self, model_id: str) -> Path:
        return self.paths[model_id]

    def is_installed(self, model_id: str) -> bool:
        return model_id in self.paths

    def is_trusted(self, model_id: str) -> bool:
        return True


def synthetic_photo(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 50, width // 50, 3), dtype=np.uint8)
    photo = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(photo)


def object_mask(width: int, height: int, side: int) -> np.ndarray:
    """A round object whose bounding box is exactly side x side, in the middle of the photo."""
    centre = (side - 1) / 2
    yy, xx = np.mgrid[0:side, 0:side]
    disc = ((xx - centre) ** 2 + (yy - centre) ** 2) <= (side / 2) ** 2
    mask = np.zeros((height, width), np.uint8)
    y0, x0 = (height - side) // 2, (width - side) // 2
    mask[y0 : y0 + side, x0 : x0 + side][disc] = 255
    return mask


def median_ms(function, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"))
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    args = parser.parse_args()

    photo = synthetic_photo(args.width, args.height)
    mask = object_mask(args.width, args.height, 256)
    print(f"photo {args.width}x{args.height} ({args.width * args.height / 1e6:.1f} MP), one 256x256 object, "
          f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeat}")

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated upstream
        paths = {}
        for model_id, module in (("big-lama", LamaStandIn()), ("migan", MiganStandIn())):
            paths[model_id] = Path(tmp) / f"{model_id}.pt"
            torch.jit.save(torch.jit.script(module), str(paths[model_id]))
        store = FolderStore(paths)

        for engine_id in ("lama", "migan"):
            engine = create_engine(engine_id, args.device, model_store=store)
            [box] = plan_crops(mask, engine.info)
            inpaint_patches(engine, photo, mask)  # warm: load the model, first TorchScript calls

            def whole_call(engine=engine) -> None:
                inpaint_patches(engine, photo, mask)

            # The network alone, on inputs of the shape the engine gives it.
            crop = np.ascontiguousarray(photo[box.slices])
            inputs = engine.to_tensors(crop, np.where(mask[box.slices] > 127, 255, 0).astype(np.uint8))
            placed = [engine._place(tensor, args.device) for tensor in inputs]

            def network_only(engine=engine, placed=placed) -> None:
                with torch.inference_mode(), torch.jit.optimized_execution(False):
                    engine._model(*placed)
                if args.device == "cuda":
                    torch.cuda.synchronize()

            network_only()
            whole, whole_max = median_ms(whole_call, args.repeat)
            network, _ = median_ms(network_only, args.repeat)
            overhead = whole - network
            verdict = "ok" if overhead <= TARGET_MS else "OVER TARGET"
            print(f"{engine.info.name:7s} crop {box.width}x{box.height}: whole call median {whole:.1f} ms "
                  f"(max {whole_max:.1f}), network alone {network:.2f} ms, "
                  f"overhead {overhead:.1f} ms (target <= {TARGET_MS:.0f} ms: {verdict})")
            engine.unload()
    return 0


if __name__ == "__main__":
    sys.exit(main())

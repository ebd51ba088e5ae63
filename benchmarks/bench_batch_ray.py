"""The Ray backend's overhead against the local one: the 20-photo watermark batch of bench_batch.py on this machine.

Each run is `inpaint-studio batch --engine telea` as a user runs it (a fresh process, start-up
included), with its process tree's memory sampled as in bench_batch_memory.py; runs are
interleaved and repeated, and the median is printed:

- local: `--workers 2` (worker processes on this machine, the default backend);
- ray, cluster running: `--backend ray --address HOST:PORT` on a one-node cluster of 2 CPUs that
  this script starts beforehand (`ray start --head --block`), as on a real cluster, which is
  started once and used by many batches;
- ray, own cluster: `--backend ray` without an address: the command starts a cluster on this
  machine for the batch and stops it after (start-up included).

The outputs of the Ray runs are compared with the local run's, byte for byte.
Needs the cluster extra (`pip install "inpaint-studio[cluster]"`) in the Python that runs this.

    python benchmarks/bench_batch_ray.py [--eval-dir ../shared/eval] [--repeat 3] [--engine telea]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import make_folder
from bench_batch_memory import load_average, measure

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_cluster(cpus: int, temp: str) -> tuple[subprocess.Popen, str]:
    """A one-node Ray cluster on this machine (its processes end with the returned one); its address."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    port = free_port()
    os.environ["RAY_AUTH_MODE"] = "disabled"  # a token in ~/.ray would turn on authentication for `ray start` only
    node = subprocess.Popen(
        [ray, "start", "--head", "--block", f"--port={port}", f"--num-cpus={cpus}", "--node-ip-address=127.0.0.1",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    code = f"import ray; ray.init(address='{address}', logging_level='ERROR')"
    deadline = time.monotonic() + 120
    while subprocess.run([sys.executable, "-c", code], capture_output=True).returncode != 0:
        if time.monotonic() > deadline or node.poll() is not None:
            raise SystemExit("the Ray cluster did not start")
        time.sleep(0.5)
    return node, address


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "eval")
    parser.add_argument("--work", type=Path, default=Path("/tmp/inpaint_studio_batch_ray"))
    parser.add_argument("--engine", default="telea")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes, and the CPUs of the Ray cluster")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        import ray  # noqa: F401 - only to say early that the extra is missing
    except ImportError:
        raise SystemExit('needs the cluster extra: pip install "inpaint-studio[cluster]"') from None
    print(f"load average before: {load_average()}, {os.cpu_count()} CPUs", flush=True)

    photos = args.work / "photos"
    mask = make_folder(args.eval_dir, photos, 20)
    base = [sys.executable, "-m", "inpaint_studio", "batch", str(photos), "--mask", str(mask), "--engine", args.engine]
    temp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must fit in 107 bytes
    node, address = start_cluster(args.workers, temp)
    cases = {
        "local, --workers 2": ["--workers", str(args.workers)],
        "ray, cluster running": ["--backend", "ray", "--address", address],
        "ray, own cluster": ["--backend", "ray"],
    }
    runs: dict[str, list[dict]] = {label: [] for label in cases}
    try:
        for _ in range(args.repeat):
            for label, options in cases.items():
                out = args.work / ("out_" + "".join(c if c.isalnum() else "_" for c in label))
                shutil.rmtree(out, ignore_errors=True)
                result = measure([*base, "-o", str(out), *options])
                runs[label].append(result)
                mb = 1 / 2**20
                print(f"{label:<22} whole command {result['wall']:.2f} s (batch {result['batch_seconds']:.2f} s), "
                      f"peak RSS sum {result['peak_rss'] * mb:.0f} MiB, PSS sum {result['peak_pss'] * mb:.0f} MiB, "
                      f"{result['processes']} processes", flush=True)
    finally:
        node.terminate()
        node.wait(60)
        shutil.rmtree(temp, ignore_errors=True)

    local = statistics.median(r["wall"] for r in runs["local, --workers 2"])
    print(f"\nmedian of {args.repeat} (whole command; ratio to local):")
    for label, results in runs.items():
        wall = statistics.median(r["wall"] for r in results)
        batch = statistics.median(r["batch_seconds"] for r in results)
        pss = statistics.median(r["peak_pss"] for r in results) / 2**20
        print(f"  {label:<22} {wall:.2f} s ({wall / local:.2f}x), batch alone {batch:.2f} s, "
              f"{20 / wall:.2f} photos/s, peak PSS sum {pss:.0f} MiB")
    outputs = [digests(args.work / ("out_" + "".join(c if c.isalnum() else "_" for c in label))) for label in cases]
    same = all(found == outputs[0] for found in outputs)
    print(f"outputs of the Ray runs byte for byte those of the local run: {same}")
    print(f"load average after: {load_average()}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

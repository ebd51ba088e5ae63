#!/usr/bin/env python3
"""Measure fill quality and speed of engines on the shared evaluation set.

usage: python benchmarks/eval_quality.py --engine patchmatch [--engine telea ...]
           [--eval-dir ../shared/eval] [--out benchmarks/results]
           [--kinds object,strokes,scratches] [--repeat N] [--large]

For each engine, every 512x512 case of cases.json (of the chosen kinds) goes
through the shared pipeline (`inpaint_image`), the result is written to
OUT/<engine>/<mask file name> (the layout score.py reads), and the engine's
time per case is recorded. The first call is timed on its own ("cold": it
includes numba's compile or cache load) and is not counted in the table.
Then score.py scores the folder and a per-kind table shows quality and time.

`--engine patchmatch-cython` runs the PyPI package patchmatch-cython (0.2.1,
if installed) on the whole image with its defaults, as the baseline row of the
evaluation README, so ours and the baseline are measured in the same run.
`--large` also times the full-resolution cases (e.g. 5120x2880) through the pipeline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Let the script run from a checkout without installing the package.
    sys.path.insert(0, str(REPO_ROOT))

BASELINE_ID = "patchmatch-cython"


def load_case(eval_dir: Path, case: dict) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.asarray(Image.open(eval_dir / case["image"]).convert("RGB"))
    mask = np.asarray(Image.open(eval_dir / case["mask"]).convert("L"))
    return np.ascontiguousarray(rgb), np.ascontiguousarray(mask)


def make_runner(engine_id: str):
    """A function (rgb, mask) -> filled rgb for `engine_id`, or None if it cannot run here."""
    if engine_id == BASELINE_ID:
        try:
            from patchmatch_cython import inpaint_pyramid
        except ImportError:
            print(f"[{BASELINE_ID}] not installed (pip install patchmatch-cython==0.2.1); skipped.", file=sys.stderr)
            return None

        def run_baseline(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
            # Whole image, package defaults (as the README's row). Its default seed is
            # None, so its scores vary a little from run to run.
            return np.asarray(inpaint_pyramid(rgb, mask > 127), dtype=np.uint8)

        return run_baseline

    from inpaint_studio.engines.pipeline import inpaint_image
    from inpaint_studio.engines.registry import create_engine

    engine = create_engine(engine_id)

    def run_engine(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return inpaint_image(engine, rgb, mask)

    return run_engine


def timed(run, rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = run(rgb, mask)
    return out, time.perf_counter() - start


def score(eval_dir: Path, results: Path) -> dict:
    """Run score.py on a results folder; return its per-case rows by mask file name."""
    json_path = results / "scores.json"
    proc = subprocess.run(
        [sys.executable, str(eval_dir / "score.py"), str(eval_dir), str(results), "--json", str(json_path)],
        capture_output=True,
        text=True,
    )
    # score.py exits 1 when cases of other kinds are missing; that is expected with --kinds.
    if not json_path.exists():
        raise SystemExit(f"score.py failed:\n{proc.stdout}{proc.stderr}")
    data = json.loads(json_path.read_text())
    return {row["case"]: row for row in data["cases"]}


def evaluate(engine_id: str, cases: list[dict], eval_dir: Path, out_dir: Path, repeat: int) -> dict | None:
    """Run, save, time and score one engine; returns {kind: summary}, or None if it was skipped."""
    run = make_runner(engine_id)
    if run is None:
        return None
    results = out_dir / engine_id
    results.mkdir(parents=True, exist_ok=True)

    # Cold call on the first case: compile (or cache load) and first-touch costs.
    rgb, mask = load_case(eval_dir, cases[0])
    _, cold = timed(run, rgb, mask)
    print(f"[{engine_id}] cold first call: {cold:.3f} s ({Path(cases[0]['mask']).name})")

    times: dict[str, float] = {}
    for case in cases:
        rgb, mask = load_case(eval_dir, case)
        best = float("inf")
        for _ in range(max(1, repeat)):
            out, seconds = timed(run, rgb, mask)
            best = min(best, seconds)
        name = Path(case["mask"]).name
        times[name] = best
        Image.fromarray(out).save(results / name)
        print(f"[{engine_id}] {name:<28} {best:6.3f} s", flush=True)

    scores = score(eval_dir, results)
    summary = {}
    for kind in sorted({c["kind"] for c in cases}):
        names = [Path(c["mask"]).name for c in cases if c["kind"] == kind]
        rows = [scores[n] for n in names if n in scores]
        t = [times[n] for n in names]
        summary[kind] = {
            "n": len(names),
            "psnr": statistics.fmean(r["psnr"] for r in rows) if rows else float("nan"),
            "ssim": statistics.fmean(r["ssim"] for r in rows) if rows else float("nan"),
            "gmsd": statistics.fmean(r["gmsd"] for r in rows) if rows else float("nan"),
            "t_mean": statistics.fmean(t),
            "t_median": statistics.median(t),
            "t_max": max(t),
        }
    summary["_cold"] = cold
    summary["_cases"] = {n: {**scores.get(n, {}), "time": times[n]} for n in times}
    (results / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def print_table(all_results: dict[str, dict]) -> None:
    header = f"{'engine':<18} {'kind':<10} {'n':>3} {'psnr':>7} {'ssim':>7} {'gmsd':>7} {'t mean':>8} {'t med':>8} {'t max':>8}"
    print()
    print(header)
    print("-" * len(header))
    for engine_id, summary in all_results.items():
        for kind, s in summary.items():
            if kind.startswith("_"):
                continue
            print(
                f"{engine_id:<18} {kind:<10} {s['n']:>3} {s['psnr']:>7.2f} {s['ssim']:>7.4f} {s['gmsd']:>7.4f} "
                f"{s['t_mean']:>7.3f}s {s['t_median']:>7.3f}s {s['t_max']:>7.3f}s"
            )
        print(f"{engine_id:<18} cold first call {summary['_cold']:.3f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", required=True, help="engine id (repeatable), or patchmatch-cython")
    parser.add_argument(
        "--eval-dir", default=str(REPO_ROOT.parent / "shared" / "eval"), help="evaluation set (default: ../shared/eval)"
    )
    parser.add_argument(
        "--out", default=str(REPO_ROOT / "benchmarks" / "results"), help="results folder; one subfolder per engine"
    )
    parser.add_argument("--kinds", default="object,strokes,scratches", help="comma-separated mask kinds")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest is reported")
    parser.add_argument("--large", action="store_true", help="also time the full-resolution cases")
    args = parser.parse_args(argv)

    eval_dir = Path(args.eval_dir)
    if not (eval_dir / "cases.json").exists():
        print(f"No evaluation set at {eval_dir} (expected cases.json there).", file=sys.stderr)
        return 2
    kinds = {k.strip() for k in args.kinds.split(",") if k.strip()}
    if args.large:
        kinds.add("large")
    all_cases = json.loads((eval_dir / "cases.json").read_text())
    cases = [c for c in all_cases if c["kind"] in kinds and ("size" not in c or args.large)]
    if not cases:
        print(f"No cases of kinds {sorted(kinds)}.", file=sys.stderr)
        return 2
    out_dir = Path(args.out)

    all_results = {}
    for engine_id in args.engine:
        # The baseline works on the whole image: minutes on a large photo, so it skips those.
        engine_cases = [c for c in cases if not (engine_id == BASELINE_ID and "size" in c)]
        summary = evaluate(engine_id, engine_cases, eval_dir, out_dir, args.repeat)
        if summary is not None:
            all_results[engine_id] = summary
    print_table(all_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

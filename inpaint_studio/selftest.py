"""`inpaint-studio --self-test`: does this installation (or frozen app) work?

Headless and self-contained: it opens the bundled sample photo and mask, runs
the default engine through the real background worker, writes the result
atomically into a temporary folder and checks it (same size, pixels away from
the mask unchanged, the masked object gone and replaced by something like its
surroundings). It then checks that the window can be built (offscreen, so no
display is needed: Qt's platform and image plugins are present) and that the
runtime of the learned engines (torch, and diffusers for Moebius) loads and
computes, and that the shipped damage detector finds scratches drawn on the
sample photo. Each check prints one line with its time; the exit status is 0 when
all pass, 1 otherwise, with what failed.

`inpaint-studio --warm-up` is the self-test's fill without the checks: it compiles
the numba kernels of the default engine (and the blend every composite uses) into
numba's on-disk cache, which is what made the first fill after an install slow.
numba keys that cache by the CPU it compiled for, so it has to run on the machine
that will fill photos: at install time, not when the app is built.
"""

from __future__ import annotations

import logging
import platform
import queue
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from inpaint_studio import APP_NAME, __version__
from inpaint_studio.core.errors import SelfCheckFailed

if TYPE_CHECKING:
    from inpaint_studio.core.patch import Patch
    from inpaint_studio.core.photo import Photo

log = logging.getLogger("inpaint_studio.selftest")

WORKER_TIMEOUT_S = 300.0  # a cold numba cache compiles PatchMatch's kernels first




@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class _State:
    """What one check hands to the next."""

    temp: Path
    photo: Photo | None = None
    mask: np.ndarray | None = None
    patches: list[Patch] | None = None
    result_path: Path | None = None


def _check_sample(state: _State) -> str:
    from inpaint_studio.io import load_image, load_mask
    from inpaint_studio.resources import SAMPLE_MASK, SAMPLE_PHOTO, resource_path

    photo_path, mask_path = resource_path(SAMPLE_PHOTO), resource_path(SAMPLE_MASK)
    for path in (photo_path, mask_path):
        if not path.is_file():
            raise SelfCheckFailed(f"{path} is missing from the installation")
    state.photo = load_image(photo_path)
    state.mask, warnings = load_mask(mask_path, size=(state.photo.width, state.photo.height))
    if warnings:
        raise SelfCheckFailed("; ".join(warnings))
    masked = float(np.count_nonzero(state.mask)) / state.mask.size
    if masked == 0:
        raise SelfCheckFailed(f"the sample mask {mask_path} is empty")
    return f"{photo_path.name} {state.photo.width}x{state.photo.height}, {masked:.1%} masked"


def _check_worker(state: _State) -> str:
    from inpaint_studio.engines.registry import DEFAULT_ENGINE, engine_class
    from inpaint_studio.worker import (
        EngineWorker,
        FillRequest,
        JobCancelledMessage,
        JobFailed,
        JobFinished,
        JobProgress,
    )

    assert state.photo is not None and state.mask is not None  # after "sample photo and mask"
    messages: queue.Queue = queue.Queue()
    worker = EngineWorker(messages.put)
    try:
        job_id = worker.submit(FillRequest.snapshot(state.photo.rgb, state.mask, DEFAULT_ENGINE, device="cpu"))
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        progress = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SelfCheckFailed(f"no result from the worker after {WORKER_TIMEOUT_S:.0f} s")
            try:
                message = messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if getattr(message, "job_id", None) != job_id:
                continue
            if isinstance(message, JobProgress):
                progress += 1
            elif isinstance(message, JobFinished):
                state.patches = message.patches
                break
            elif isinstance(message, JobFailed):
                raise SelfCheckFailed(f"the worker reported: {message.message}")
            elif isinstance(message, JobCancelledMessage):
                raise SelfCheckFailed("the job was cancelled")
    finally:
        worker.shutdown()
    if not state.patches:
        raise SelfCheckFailed("the engine returned no patches for a non-empty mask")
    name = engine_class(DEFAULT_ENGINE).info.name
    patches = len(state.patches)
    return f"{name} (default engine): {patches} patch(es), {progress} progress message(s), engine {message.seconds:.2f} s"


def _check_write(state: _State) -> str:
    from inpaint_studio.core.patch import apply_patches
    from inpaint_studio.io import save_image

    assert state.photo is not None and state.patches is not None  # after the worker check
    result = apply_patches(state.photo.rgb, state.patches)
    path = state.temp / "sample_result.png"  # lossless, so unchanged pixels can be compared exactly
    save_image(state.photo, result, path)
    leftovers = sorted(p.name for p in state.temp.iterdir() if p != path)
    if not path.is_file():
        raise SelfCheckFailed(f"{path} was not written")
    if leftovers:
        raise SelfCheckFailed(f"the atomic save left files behind: {', '.join(leftovers)}")
    state.result_path = path
    return f"{path} ({path.stat().st_size / 1024:.0f} KiB)"


def _disk(mask: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def _check_result(state: _State) -> str:
    from inpaint_studio.engines.pipeline import DEFAULT_FEATHER
    from inpaint_studio.io import load_image

    assert state.photo is not None and state.mask is not None and state.result_path is not None  # after the write check
    before = state.photo.rgb
    after = load_image(state.result_path).rgb
    if after.shape != before.shape:
        raise SelfCheckFailed(f"the result is {after.shape[1]}x{after.shape[0]}, the photo {before.shape[1]}x{before.shape[0]}")
    hole = state.mask > 0
    near = _disk(hole, DEFAULT_FEATHER + 1)
    outside_changed = int(np.count_nonzero(np.any(after != before, axis=2) & ~near))
    if outside_changed:
        raise SelfCheckFailed(f"{outside_changed} pixel(s) away from the mask changed; they must stay bit-identical")
    changed = float(np.mean(np.any(after[hole] != before[hole], axis=1)))
    if changed < 0.5:
        raise SelfCheckFailed(f"only {changed:.0%} of the masked pixels changed")
    # Plausible: the filled area now looks like the ring of photo around it, more than the object did.
    ring = _disk(hole, 12) & ~_disk(hole, DEFAULT_FEATHER + 2)
    surround = before[ring].astype(np.float64).mean(axis=0)
    was = float(np.abs(before[hole].astype(np.float64).mean(axis=0) - surround).mean())
    now = float(np.abs(after[hole].astype(np.float64).mean(axis=0) - surround).mean())
    if not now < was or now > 20.0:
        raise SelfCheckFailed(
            f"the fill does not match its surroundings: mean colour distance {now:.1f} (the object's was {was:.1f})"
        )
    return (
        f"same size, 0 pixels changed away from the mask, {changed:.0%} of the mask filled, "
        f"colour distance to surroundings {was:.1f} -> {now:.1f}"
    )


def _check_gui(state: _State) -> str:
    from inpaint_studio.ui.application import check_offscreen_window

    assert state.result_path is not None and state.photo is not None  # after the write check
    return check_offscreen_window(state.result_path, state.photo.width, state.temp)


def _check_learned_runtime(state: _State) -> str:
    from inpaint_studio.engines.runtime_check import check_learned_runtime

    return check_learned_runtime()


def _check_damage_detector(state: _State) -> str:
    from inpaint_studio.restore import degrade, detect_damage, score_detection
    from inpaint_studio.restore.damage_net import default_weights

    weights = default_weights()
    if not weights.is_file():
        raise SelfCheckFailed(f"{weights} is missing from the installation")
    assert state.photo is not None  # after "sample photo and mask"
    damaged = degrade(np.ascontiguousarray(state.photo.rgb[:384, :384]), seed=1)
    score = score_detection(detect_damage(damaged.image), damaged.mask)
    if score.f1 < 0.6:  # 0.7-0.9 on this photo; a broken network or wrong weights score near 0
        raise SelfCheckFailed(f"it found drawn scratches and dust with F1 {score.f1:.2f} only (expected at least 0.6)")
    return f"{weights.name}: drawn scratches and dust found with F1 {score.f1:.2f}"


CHECKS: list[tuple[str, Callable[[_State], str], tuple[str, ...]]] = [
    ("sample photo and mask", _check_sample, ()),
    ("default engine through the background worker", _check_worker, ("sample photo and mask",)),
    ("result written atomically", _check_write, ("default engine through the background worker",)),
    ("result checked", _check_result, ("result written atomically",)),
    ("window (offscreen)", _check_gui, ("result written atomically",)),
    ("learned-engine runtime", _check_learned_runtime, ()),
    ("damage detector", _check_damage_detector, ("sample photo and mask",)),
]


def run_warm_up(out: TextIO | None = None) -> int:
    """Compile (or load from numba's cache) the kernels a first fill needs, with one small fill; print what it did."""
    from inpaint_studio.core import _blend_kernel
    from inpaint_studio.engines import _patchmatch_kernels
    from inpaint_studio.engines.pipeline import inpaint_image
    from inpaint_studio.engines.registry import DEFAULT_ENGINE, create_engine

    out = out or sys.stdout
    started = time.perf_counter()
    engine = create_engine(DEFAULT_ENGINE, "cpu")
    # Textured enough for several pyramid levels and every kernel the fill of a real photo calls.
    rng = np.random.default_rng(0)
    photo = np.clip(rng.normal(128, 40, (192, 256, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((192, 256), np.uint8)
    mask[70:130, 100:170] = 255
    inpaint_image(engine, photo, mask)
    hits = misses = 0
    folders = set()
    for module in (_patchmatch_kernels, _blend_kernel):
        for kernel in vars(module).values():
            stats = getattr(kernel, "stats", None)  # a numba dispatcher's compile statistics
            if stats is not None and getattr(stats, "cache_path", None):
                hits += sum(stats.cache_hits.values())
                misses += sum(stats.cache_misses.values())
                folders.add(str(stats.cache_path))
    seconds = time.perf_counter() - started
    print(
        f"{engine.info.name} is ready in {seconds:.1f} s: {misses} kernel(s) compiled and cached, "
        f"{hits} loaded from the cache ({', '.join(sorted(folders)) or 'no cache folder'}).",
        file=out,
    )
    return 0


def run_self_test(out: TextIO | None = None, skip: tuple[str, ...] = ()) -> int:
    """Run every check (but those named in `skip`), print one line each, return the exit status."""
    out = out or sys.stdout
    started = time.perf_counter()
    kind = "frozen app" if getattr(sys, "frozen", False) else "Python install"
    print(f"{APP_NAME} {__version__} self-test ({kind}; Python {platform.python_version()}, {platform.system()})", file=out)
    results: list[CheckResult] = []
    passed: set[str] = set()
    width = max(len(name) for name, _, _ in CHECKS)
    with tempfile.TemporaryDirectory(prefix="inpaint-studio-selftest-") as temp:
        state = _State(Path(temp))
        for name, check, needs in CHECKS:
            if name in skip:
                continue
            check_started = time.perf_counter()
            blocked = [need for need in needs if need not in passed]
            if blocked:
                result = CheckResult(name, False, f"not run: needs '{blocked[0]}'", 0.0)
            else:
                try:
                    result = CheckResult(name, True, check(state), 0.0)
                except SelfCheckFailed as failure:
                    result = CheckResult(name, False, str(failure), 0.0)
                except Exception as error:  # noqa: BLE001 - a broken installation shows up as any exception
                    log.error("self-test check '%s' failed:\n%s", name, traceback.format_exc())
                    result = CheckResult(name, False, f"{type(error).__name__}: {error}", 0.0)
            result.seconds = time.perf_counter() - check_started
            results.append(result)
            if result.ok:
                passed.add(name)
            status = "ok  " if result.ok else "FAIL"
            print(f"  {status} {name.ljust(width)} {result.seconds:6.2f} s  {result.detail}", file=out, flush=True)
    total = time.perf_counter() - started
    failed = [r for r in results if not r.ok]
    if failed:
        reasons = "; ".join(f"{r.name}: {r.detail}" for r in failed)
        print(f"Self-test FAILED: {len(failed)} of {len(results)} checks in {total:.1f} s: {reasons}", file=out)
        log.error("self-test failed: %s", reasons)
        return 1
    print(f"Self-test passed: {len(results)} checks in {total:.1f} s.", file=out)
    log.info("self-test passed in %.1f s", total)
    return 0

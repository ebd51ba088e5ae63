"""A guided step's two halves (unconditional and conditional prompt) run side by side on a CPU.

One batch of two on all of torch's threads spends much of a step in small
operations (the position lambdas' thousand small products, SiLUs, norms,
copies) that split poorly between threads, and copies the first layers'
output for the second prompt. Two worker threads with half the threads each,
one half of the guidance per worker, keep every core busy on whole operations
instead: 1.70 -> 1.50 s per guided step in bfloat16, 3.08 -> 2.93 s in
float32, on the project machine (2 cores; benchmarks/README.md). Each half
then runs the first layers itself.

A worker thread does not inherit the caller's autocast, grad mode or thread
count (all thread-local in torch), so each half takes them explicitly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

import torch

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def threads_per_half() -> int:
    """The intra-op threads each half gets: half the caller's (0: too few to split, run one batch)."""
    return torch.get_num_threads() // 2


def available(model_input: torch.Tensor) -> bool:
    """Whether a guided step on `model_input` runs its halves side by side: CPU tensors and two threads or more."""
    return model_input.device.type == "cpu" and threads_per_half() >= 1


def guided_halves(
    model: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    model_input: torch.Tensor,
    timestep: torch.Tensor,
    uncond_ids: torch.Tensor,
    cond_ids: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(model(x, t, uncond_ids), model(x, t, cond_ids)), computed at the same time in two worker threads.

    Both halves have ended when this returns, also when one of them raised
    (a cancel reaches both); the first error is raised again here.
    """
    pool = _pool(threads_per_half())
    autocast = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
    modes = (torch.is_inference_mode_enabled(), torch.is_grad_enabled(), autocast)
    halves: list[Future[torch.Tensor]] = [
        pool.submit(_half, model, model_input, timestep, ids, *modes) for ids in (uncond_ids, cond_ids)
    ]
    wait(halves)
    return halves[0].result(), halves[1].result()


def _half(
    model: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    model_input: torch.Tensor,
    timestep: torch.Tensor,
    ids: torch.Tensor,
    inference: bool,
    grad: bool,
    autocast: torch.dtype | None,
) -> torch.Tensor:
    with (
        torch.inference_mode(inference),
        torch.set_grad_enabled(grad),
        torch.autocast("cpu", dtype=autocast or torch.bfloat16, enabled=autocast is not None),
    ):
        return model(model_input, timestep, ids)


def _pool(threads: int) -> ThreadPoolExecutor:
    """Two worker threads that run torch on `threads` intra-op threads each (made once per count)."""
    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            started = threading.Barrier(2)
            pool = ThreadPoolExecutor(2, "moebius-half", _set_threads, (threads, started))
            for future in [pool.submit(int) for _ in range(2)]:  # both workers start and set their count now
                future.result()
            # torch.set_num_threads in a worker also changes the count new threads start with:
            # give that back, so threads started later (other engines' workers) get the caller's.
            torch.set_num_threads(torch.get_num_threads())
            _pools[threads] = pool
        return pool


def _set_threads(threads: int, started: threading.Barrier) -> None:
    torch.get_num_threads()  # torch sets a thread's count on its first use: let it happen before ours
    torch.set_num_threads(threads)
    started.wait()

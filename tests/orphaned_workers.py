"""Run by test_batch in a subprocess: start a batch's worker pool, print the workers' pids, then wait
forever, until the test kills this process (as kill -9 of a batch would)."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

from inpaint_studio.batch import runner


def busy_pid() -> int:
    time.sleep(0.5)  # long enough that the second task needs the second worker
    return os.getpid()


def main() -> None:
    settings = runner.BatchSettings(engine_id="telea")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context, initializer=runner._init_worker, initargs=(settings,)) as pool:
        futures = [pool.submit(busy_pid) for _ in range(2)]
        for future in futures:
            future.result()
        print(" ".join(str(pid) for pid in pool._processes), flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main()

"""A batch from a manifest to a report: one item source and one result sink, whichever backend does the work.

    manifest (read as a stream) -> photos the report records as done are left out
    -> backend: `runner.stream_batch` (local processes) or `ray_backend.run_on_ray` (a Ray cluster)
    -> each result appended to the report as it comes, and handed to `on_result`

Nothing here grows with the number of photos but the set of those already done
(8 bytes each, `report.DoneItems`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from inpaint_studio.batch.manifest import read_manifest
from inpaint_studio.batch.pairing import BatchItem
from inpaint_studio.batch.report import DoneItems, ReportWriter
from inpaint_studio.batch.runner import BatchSettings, BatchTotals, ItemResult, stream_batch
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.engines.base import Engine

BACKENDS = ("local", "ray")


def run_manifest(
    manifest: Path,
    settings: BatchSettings,
    *,
    backend: str = "local",
    report: Path | None = None,
    workers: int | None = None,
    skip_existing: bool = False,
    address: str | None = None,
    on_result: Callable[[ItemResult], None] = lambda result: None,
    on_already_done: Callable[[BatchItem], None] = lambda item: None,
    cancel: CancelToken | None = None,
    engine: Engine | None = None,
) -> BatchTotals:
    """Process the items of `manifest` with `backend`; with `report`, resume from it and append to it.

    `workers`: local worker processes (default 1) or Ray actors (default: the cluster's CPUs, or
    GPUs); `address`: the Ray cluster (see `ray_backend.run_on_ray`); `engine`: for the local
    backend, one `prepare_engine(settings)` already made. `on_already_done` is called for each
    photo left out because the report records it as done.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}")
    done = DoneItems.from_report(report) if report is not None else None
    already = 0

    def to_do() -> Iterator[BatchItem]:
        nonlocal already
        for item in read_manifest(manifest):
            if done is not None and done.is_done(item):
                already += 1
                on_already_done(item)
            else:
                yield item

    with ReportWriter(report, settings.engine_id) if report is not None else contextlib.nullcontext() as writer:

        def record(result: ItemResult) -> None:
            if writer is not None:
                writer.write(result)  # first: a photo counts as done only once its line is in the report
            on_result(result)

        if backend == "ray":
            from inpaint_studio.batch.ray_backend import run_on_ray

            totals = run_on_ray(
                to_do(), settings, address=address, workers=workers, skip_existing=skip_existing, on_result=record, cancel=cancel
            )
        else:
            totals = stream_batch(
                to_do(), settings, workers=workers or 1, skip_existing=skip_existing,
                on_result=record, cancel=cancel, engine=engine,
            )
    totals.already_done = already
    return totals

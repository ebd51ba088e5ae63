"""A batch worker function that kills its own process on one photo (imported by spawned workers)."""

import os

from inpaint_studio.batch import runner


def run_or_crash(item, settings):
    if item.image.name == "p1.jpg":
        os._exit(1)  # the worker process dies, as when the system kills it for memory
    return runner._worker_run(item, settings)

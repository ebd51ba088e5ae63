"""The batch report: one JSON line per finished photo, appended as each finishes; also the journal a rerun resumes from.

A line: `{"image": ..., "mask": ..., "output": ..., "detect": false, "status": "written" | "skipped" | "failed",
"message": ..., "seconds": 0.41, "engine": "telea", "worker": "host:pid", "finished": "2026-11-22T10:31:05Z"}`.

Each line is flushed as it is written, so a killed batch's report is valid up to its
last finished photo (a line cut short by a crash of the machine is ignored when read);
it is synced to disk at most once a second, and when the batch ends. Rerunning with the
same report skips the photos it records as done: written (when the output is still
there) or skipped (an empty mask, no damage found). Failed photos are tried again.
"""

from __future__ import annotations

import array
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from inpaint_studio.batch.pairing import BatchItem
from inpaint_studio.batch.runner import SKIPPED, WRITTEN, ItemResult
from inpaint_studio.core.errors import InpaintStudioError

SYNC_SECONDS = 1.0  # at most this much of the report is lost when the machine (not only the batch) stops


class ReportWriter:
    """Appends results to a report file; use as a context manager."""

    def __init__(self, path: Path, engine_id: str) -> None:
        self.path, self.engine_id = Path(path), engine_id
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a+b")  # closed by close()
        except OSError as error:
            raise InpaintStudioError(f"Cannot write the report '{self.path}': {error.strerror or error}.") from None
        # A line cut short by a crash stays a line of its own: the next one starts on a new line.
        if self._file.seek(0, os.SEEK_END) > 0:
            self._file.seek(-1, os.SEEK_END)
            if self._file.read(1) != b"\n":
                self._file.write(b"\n")
        self._synced = time.monotonic()

    def write(self, result: ItemResult) -> None:
        item = result.item
        record = {
            "image": str(item.image),
            "mask": str(item.mask) if item.mask is not None else None,
            "output": str(item.output),
            "detect": item.detect,
            "status": result.status,
            "message": result.message,
            "seconds": round(result.seconds, 3),
            "engine": self.engine_id,
            "worker": result.worker,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self._file.write(json.dumps(record).encode() + b"\n")
        self._file.flush()  # in the system's hands: survives the batch being killed
        if time.monotonic() - self._synced >= SYNC_SECONDS:
            os.fsync(self._file.fileno())  # on the disk: survives the machine stopping
            self._synced = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()


def read_report(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a report, in order; lines that are not whole records (cut short by a crash) are left out."""
    try:
        with open(path, "rb") as file:
            for line in file:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("output"), str) and "status" in record:
                    yield record
    except FileNotFoundError:
        return
    except OSError as error:
        raise InpaintStudioError(f"Cannot read the report '{path}': {error.strerror or error}.") from None


def _key(image: str | Path, output: str | Path) -> int:
    digest = hashlib.blake2b(f"{image}\0{output}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class DoneItems:
    """Which items a report records as done, in 8 bytes per item (10 million items: 80 MB), not their paths.

    An item is known by a 64-bit hash of its photo and output paths; a collision (about one chance in
    a million for 10 million items) would skip one photo, which the summary's counts would show.
    """

    def __init__(self, written: np.ndarray, skipped: np.ndarray) -> None:
        self._written, self._skipped = written, skipped

    @classmethod
    def from_report(cls, path: Path) -> DoneItems:
        written, skipped = array.array("Q"), array.array("Q")
        for record in read_report(path):
            if record["status"] == WRITTEN:
                written.append(_key(record.get("image", ""), record["output"]))
            elif record["status"] == SKIPPED:
                skipped.append(_key(record.get("image", ""), record["output"]))
        return cls(np.unique(np.frombuffer(written, np.uint64)), np.unique(np.frombuffer(skipped, np.uint64)))

    def __len__(self) -> int:
        return len(self._written) + len(self._skipped)

    def is_done(self, item: BatchItem) -> bool:
        """Written (and its output is still there) or skipped, by the report."""
        key = np.uint64(_key(item.image, item.output))
        return _holds(self._skipped, key) or (_holds(self._written, key) and item.output.exists())


def _holds(keys: np.ndarray, key: np.uint64) -> bool:
    index = int(np.searchsorted(keys, key))
    return index < len(keys) and keys[index] == key


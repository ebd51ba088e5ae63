"""The manifest: a batch's planned items in a file, written while the folders are walked, read back as a stream.

One item per record: the photo, its mask (or none: no mask was found, or `detect`
finds the damage), the output, and whether to detect scratches and dust.

- JSONL (any name but `*.parquet`): one JSON object a line,
  `{"image": "/photos/a.jpg", "mask": "/masks/a.png", "output": "/out/a.jpg", "detect": false}`;
  easy to make, split, or filter with other tools.
- Parquet (`*.parquet`, needs pyarrow, which the `cluster` extra installs): the same
  four columns, in row groups of `ROW_GROUP` items; compact for millions of items.

Paths are written absolute, so workers on other machines that mount the same storage
find the files; a relative path in a manifest made by hand is relative to the
manifest's folder. Neither writing nor reading ever holds more than one row group.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from inpaint_studio.batch.pairing import BatchItem
from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.io.atomic import atomic_write

ROW_GROUP = 10_000  # Parquet items per row group: the most held in memory while writing or reading
FIELDS = ("image", "mask", "output", "detect")


def is_parquet(path: Path) -> bool:
    return Path(path).suffix.lower() == ".parquet"


def write_manifest(items: Iterable[BatchItem], path: Path) -> int:
    """Write `items` to `path` as they come (atomically: a reader never sees half a manifest); their count."""
    path = Path(path)
    count = 0

    def write_jsonl(file: IO[bytes]) -> None:
        nonlocal count
        for item in items:
            file.write(json.dumps(_record(item)).encode() + b"\n")
            count += 1

    def write_parquet(file: IO[bytes]) -> None:
        nonlocal count
        pyarrow, parquet = _pyarrow()
        schema = pyarrow.schema(
            [("image", pyarrow.string()), ("mask", pyarrow.string()), ("output", pyarrow.string()), ("detect", pyarrow.bool_())]
        )
        with parquet.ParquetWriter(file, schema) as writer:
            rows: list[dict[str, Any]] = []
            for item in items:
                rows.append(_record(item))
                if len(rows) == ROW_GROUP:
                    writer.write_table(pyarrow.Table.from_pylist(rows, schema))
                    count, rows = count + len(rows), []
            if rows or not count:
                writer.write_table(pyarrow.Table.from_pylist(rows, schema))
                count += len(rows)

    if is_parquet(path):
        _pyarrow()  # a missing pyarrow is said before the folders are walked
    try:
        atomic_write(path, write_parquet if is_parquet(path) else write_jsonl)
    except OSError as error:
        raise InpaintStudioError(f"Cannot write the manifest '{path}': {error.strerror or error}.") from None
    return count


def read_manifest(path: Path) -> Iterator[BatchItem]:
    """The items of a manifest, in order, one row group (Parquet) or line (JSONL) at a time.

    A record that is not an item raises InpaintStudioError naming the file and the line or row;
    `count_manifest` reads the whole file first, so a run can find such a record before any work.
    """
    path = Path(path)
    base = path.absolute().parent
    if is_parquet(path):
        _, parquet = _pyarrow()
        try:
            batches = parquet.ParquetFile(path).iter_batches(batch_size=ROW_GROUP, columns=list(FIELDS))
            number = 0
            for batch in batches:
                for record in batch.to_pylist():
                    number += 1
                    yield _item(record, base, path, f"row {number}")
        except (OSError, ValueError, KeyError) as error:  # pyarrow's errors derive from these
            raise InpaintStudioError(f"Cannot read the manifest '{path}': {error}.") from None
        return
    try:
        with open(path, encoding="utf-8") as file:
            for number, line in enumerate(file, 1):
                if line.strip():
                    try:
                        record = json.loads(line)
                    except ValueError:
                        raise InpaintStudioError(f"Line {number} of the manifest '{path}' is not JSON.") from None
                    yield _item(record, base, path, f"line {number}")
    except OSError as error:
        raise InpaintStudioError(f"Cannot read the manifest '{path}': {error.strerror or error}.") from None
    except UnicodeDecodeError:
        raise InpaintStudioError(f"The manifest '{path}' is not a text file (JSONL) nor named *.parquet.") from None


def count_manifest(path: Path) -> int:
    """The number of items in a manifest, every record checked (streamed: the file is read, not held)."""
    return sum(1 for _ in read_manifest(path))


def _record(item: BatchItem) -> dict[str, Any]:
    return {
        "image": str(item.image.absolute()),
        "mask": str(item.mask.absolute()) if item.mask is not None else None,
        "output": str(item.output.absolute()),
        "detect": item.detect,
    }


def _item(record: Any, base: Path, path: Path, where: str) -> BatchItem:
    try:
        image, output, mask = record["image"], record["output"], record.get("mask")
        detect = record.get("detect") or False
        if not (isinstance(image, str) and isinstance(output, str) and isinstance(mask, str | None) and isinstance(detect, bool)):
            raise TypeError
    except (TypeError, KeyError, AttributeError):
        raise InpaintStudioError(
            f"The {where} of the manifest '{path}' is not an item: it needs \"image\" and \"output\" paths "
            "(and \"mask\", a path or null, or \"detect\": true)."
        ) from None
    return BatchItem(base / image, base / mask if mask is not None else None, base / output, detect)


def _pyarrow() -> tuple[Any, Any]:
    try:  # by name: pyarrow comes with the cluster extra only, and has no type information
        pyarrow = importlib.import_module("pyarrow")
        parquet = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise InpaintStudioError(
            'Parquet manifests need pyarrow: `pip install "inpaint-studio[cluster]"`, or name the manifest *.jsonl.'
        ) from None
    return pyarrow, parquet

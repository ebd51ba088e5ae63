"""Fetching one model file over HTTP: resumable, cancellable, verified before it is installed.

The bytes go into `<name>.part` beside the target. An interrupted transfer keeps
that file and the next attempt asks the server for the rest (`Range`); a server
that ignores the request, or refuses it, is answered by starting again from zero.
Only a file whose size and checksums match the catalogue is renamed into place,
so a failed download never leaves anything that looks installed. Plain urllib:
no extra dependency, and proxies from the environment are honoured.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

from inpaint_studio import __version__
from inpaint_studio.core.errors import JobCancelled, ModelError, plain_reason
from inpaint_studio.models.catalogue import ModelFile

if TYPE_CHECKING:  # the engines package imports this one; avoid a cycle at run time
    from inpaint_studio.core.jobs import CancelToken

# progress(bytes done, total bytes or None when the server does not say)
DownloadProgress = Callable[[int, "int | None"], None]

CHUNK_SIZE = 64 * 1024
DEFAULT_TIMEOUT = 30.0  # seconds without a byte before a socket read gives up
PROGRESS_INTERVAL = 0.1  # seconds between progress calls
MAX_ATTEMPTS = 5  # automatic resumes of one download, each after some progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Digests:
    """What a file measures: its size and checksums (lower-case hex)."""

    size: int
    md5: str
    sha256: str


class _Hasher:
    def __init__(self) -> None:
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self.size += len(data)
        self._md5.update(data)
        self._sha256.update(data)

    def digests(self) -> Digests:
        return Digests(self.size, self._md5.hexdigest(), self._sha256.hexdigest())


def copy_with_digests(source: BinaryIO, target: BinaryIO) -> Digests:
    """Copy one open file to another, measuring the bytes on the way."""
    hasher = _Hasher()
    while chunk := source.read(1024 * 1024):
        target.write(chunk)
        hasher.update(chunk)
    return hasher.digests()


def file_digests(path: Path) -> Digests:
    """Size, MD5 and SHA-256 of a file, read in chunks (model files are hundreds of MB)."""
    hasher = _Hasher()
    with open(path, "rb") as file:
        while chunk := file.read(1024 * 1024):
            hasher.update(chunk)
    return hasher.digests()


def part_path(target: Path) -> Path:
    """Where the unfinished download of `target` is kept."""
    return target.with_name(target.name + ".part")


def by_hand(url: str, target: Path) -> str:
    """The sentence that tells a user how to install a file without this program."""
    return f"To install it by hand, download {url} and save it as {target}."


class _Interrupted(Exception):
    """The connection broke during the body; `progressed` says whether any bytes came."""

    def __init__(self, reason: str, progressed: bool) -> None:
        super().__init__(reason)
        self.progressed = progressed


class _Restart(Exception):
    """The partial file cannot be continued; it has been deleted."""


def download_file(
    file: ModelFile,
    url: str,
    target: Path,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Digests:
    """Download `url` to `target` (a `file` of the catalogue), verify it, rename it into place.

    Raises ModelError when the server cannot be reached or answers with an error,
    when the connection keeps breaking (the partial file is kept for a resume),
    or when the result does not match the catalogue (the partial file is deleted).
    Raises JobCancelled when `cancel` is set; the partial file is kept.
    """
    part = part_path(target)
    attempts = restarts = 0
    while True:
        try:
            _transfer(file, url, target, part, progress, cancel, timeout)
            break
        except _Restart:
            restarts += 1  # the next request starts from zero, so one restart normally suffices
            if restarts > 2:
                raise ModelError(
                    f"Could not download {file.name}: {url} keeps sending the wrong part of the file. {by_hand(url, target)}"
                ) from None
            continue
        except _Interrupted as interrupted:
            attempts += 1
            if interrupted.progressed and attempts < MAX_ATTEMPTS:
                continue
            done = part.stat().st_size if part.exists() else 0
            raise ModelError(
                f"The download of {file.name} from {url} was interrupted ({interrupted}) after {done} bytes. "
                f"The partial file is kept; run the download again to resume it. {by_hand(url, target)}"
            ) from None

    digests = file_digests(part)
    problem = file.mismatch(digests.size, digests.md5, digests.sha256)
    if problem:
        _unlink_quietly(part)
        raise ModelError(
            f"The download of {file.name} from {url} is damaged or not the published file: {problem}. "
            f"It was deleted; run the download again. {by_hand(url, target)}"
        )
    try:
        os.replace(part, target)
    except OSError as error:
        raise ModelError(f"Could not move the downloaded {file.name} into place at {target}: {plain_reason(error)}.") from None
    return digests


def _transfer(
    file: ModelFile,
    url: str,
    target: Path,
    part: Path,
    progress: DownloadProgress | None,
    cancel: CancelToken | None,
    timeout: float,
) -> None:
    """One request: continue (or start) `part` until the server's response ends."""
    offset = part.stat().st_size if part.exists() else 0
    if file.size is not None and offset > file.size:
        _restart(part)
    if file.size is not None and offset == file.size and offset > 0:
        return  # finished earlier but not verified yet
    _check_cancel(cancel, file, part)

    headers = {"User-Agent": f"inpaint-studio/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:  # nothing left after `offset`: the partial file is not a prefix
            _restart(part)
        raise ModelError(
            f"Could not download {file.name}: {url} answered HTTP {error.code} ({error.reason}). {by_hand(url, target)}"
        ) from None
    except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
        log.warning("downloading %s failed: %r", url, error)
        host = urlsplit(url).hostname or url
        raise ModelError(
            f"Could not connect to {host} to download {file.name}: {plain_reason(error)}. "
            f"{by_hand(url, target)}"
        ) from None

    with response:
        if response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                _restart(part)
            if total is None and response.headers.get("Content-Length"):
                total = offset + int(response.headers["Content-Length"])
            mode = "ab"
        else:  # 200: the server sends the whole file, whatever we asked for
            offset = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
        if total is None:
            total = file.size
        _receive(response, file, part, mode, offset, total, progress, cancel)


def _receive(
    response: http.client.HTTPResponse,
    file: ModelFile,
    part: Path,
    mode: str,
    offset: int,
    total: int | None,
    progress: DownloadProgress | None,
    cancel: CancelToken | None,
) -> None:
    """Write the response body to `part` (appending after `offset` bytes, or from zero)."""
    report = _Throttled(progress)
    done = offset
    report(done, total)
    try:
        out = open(part, mode)
    except OSError as error:
        raise ModelError(f"Could not write {part}: {error.strerror or error}.") from None
    with out:
        while True:
            _check_cancel(cancel, file, part)
            try:
                chunk = response.read(CHUNK_SIZE)
            except (OSError, http.client.HTTPException) as error:
                raise _Interrupted(str(error) or type(error).__name__, done > offset) from None
            if not chunk:
                break
            try:
                out.write(chunk)
            except OSError as error:
                raise ModelError(f"Could not write {part}: {error.strerror or error}.") from None
            done += len(chunk)
            report(done, total)
        out.flush()
        os.fsync(out.fileno())
    report(done, total, final=True)
    if total is not None and done < total:
        raise _Interrupted("the connection closed early", done > offset)


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from `Content-Range: bytes 100-199/200`; None where absent."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", header or "")
    if not match:
        return None, None
    return int(match.group(1)), None if match.group(2) == "*" else int(match.group(2))


def _check_cancel(cancel: CancelToken | None, file: ModelFile, part: Path) -> None:
    if cancel is not None and cancel.cancelled:
        raise JobCancelled(
            f"The download of {file.name} was cancelled; the partial file {part} is kept and the next download resumes it."
        )


def _restart(part: Path) -> None:
    _unlink_quietly(part)
    raise _Restart()


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class _Throttled:
    """Calls `progress` at most every PROGRESS_INTERVAL seconds, and always for the first and last call."""

    def __init__(self, progress: DownloadProgress | None) -> None:
        self.progress = progress
        self._last: float | None = None

    def __call__(self, done: int, total: int | None, final: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if final or self._last is None or now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self.progress(done, total)

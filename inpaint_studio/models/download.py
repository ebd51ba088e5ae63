"""Fetching one model file over HTTP(S): resumable, cancellable, verified before it is installed.

The bytes go into `<name>.part` beside the target. An interrupted transfer keeps
that file and the next attempt asks the server for the rest (`Range`) of the
version it started from (`If-Range`, with the first response's ETag or
Last-Modified, kept in `<name>.part.json`): a file replaced upstream in between
then comes whole instead of spliced from two versions. A part without that record
is resumed only when a published checksum would catch a splice, else started
again. A server that ignores or refuses the range is answered by starting again
from zero. Only a non-empty file whose size and checksums match the catalogue is
renamed into place, so a failed download never leaves anything that looks
installed. Plain urllib with the certificates of `models.trust`; proxies from
the environment are honoured.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

from inpaint_studio import __version__
from inpaint_studio.core.errors import JobCancelled, ModelError, plain_reason
from inpaint_studio.models.catalogue import ModelFile
from inpaint_studio.models.trust import CA_BUNDLE_ENV, ssl_context, trust_source

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


def validator_path(target: Path) -> Path:
    """Where the version (ETag or Last-Modified) of the unfinished download of `target` is kept."""
    return target.with_name(target.name + ".part.json")


def by_hand(url: str, target: Path) -> str:
    """The sentence that tells a user how to install a file without this program."""
    return f"To install it by hand, download {url} and save it as {target}."


def by_hand_all(files: list[tuple[str, Path]]) -> str:
    """`by_hand` for several files: every (url, target) in one sentence."""
    if len(files) == 1:
        return by_hand(*files[0])
    listing = "; ".join(f"download {url} and save it as {target}" for url, target in files)
    return f"To install them by hand, {listing}."


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
    manual: str | None = None,
) -> Digests:
    """Download `url` to `target` (a `file` of the catalogue), verify it, rename it into place.

    Raises ModelError when the server cannot be reached, is not trusted, or answers
    with an error, when the connection keeps breaking (the partial file is kept for
    a resume), or when the result is empty or does not match the catalogue (the
    partial file is deleted). Each message ends with `manual`, how to install by
    hand (default: this file's URL and target). Raises JobCancelled when `cancel`
    is set; the partial file is kept.
    """
    part = part_path(target)
    manual = manual or by_hand(url, target)
    attempts = restarts = 0
    while True:
        try:
            _transfer(file, url, target, part, progress, cancel, timeout, manual)
            break
        except _Restart:
            restarts += 1  # the next request starts from zero, so one restart normally suffices
            if restarts > 2:
                raise ModelError(
                    f"Could not download {file.name}: {url} keeps sending the wrong part of the file. {manual}"
                ) from None
            continue
        except _Interrupted as interrupted:
            attempts += 1
            if interrupted.progressed and attempts < MAX_ATTEMPTS:
                continue
            done = part.stat().st_size if part.exists() else 0
            raise ModelError(
                f"The download of {file.name} from {url} was interrupted ({interrupted}) after {done} bytes. "
                f"The partial file is kept; run the download again to resume it. {manual}"
            ) from None

    digests = file_digests(part)
    problem = "it is empty" if digests.size == 0 else file.mismatch(digests.size, digests.md5, digests.sha256)
    if problem:
        _discard(part)
        raise ModelError(
            f"The download of {file.name} from {url} is damaged or not the published file: {problem}. "
            f"It was deleted; run the download again. {manual}"
        )
    try:
        os.replace(part, target)
    except OSError as error:
        raise ModelError(f"Could not move the downloaded {file.name} into place at {target}: {plain_reason(error)}.") from None
    _unlink_quietly(validator_path(target))
    return digests


def _transfer(
    file: ModelFile,
    url: str,
    target: Path,
    part: Path,
    progress: DownloadProgress | None,
    cancel: CancelToken | None,
    timeout: float,
    manual: str,
) -> None:
    """One request: continue (or start) `part` until the server's response ends."""
    offset = part.stat().st_size if part.exists() else 0
    if file.size is not None and offset > file.size:
        _restart(part)
    if file.size is not None and offset == file.size and offset > 0:
        return  # finished earlier but not verified yet
    _check_cancel(cancel, file, part)
    version = _read_version(target, url) if offset else None
    if offset and version is None and not file.has_checksum:
        # Nothing would notice a part of another version spliced onto this one.
        log.info("%s: the partial download has no recorded version; starting again", url)
        _discard(part)
        offset = 0

    headers = {"User-Agent": f"inpaint-studio/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if version:
            headers["If-Range"] = version
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout, context=ssl_context())
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:  # nothing left after `offset`: the partial file is not a prefix
            _restart(part)
        raise ModelError(f"Could not download {file.name}: {url} answered HTTP {error.code} ({error.reason}). {manual}") from None
    except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
        log.warning("downloading %s failed: %r", url, error)
        raise _connection_error(error, file, url, manual) from None

    with response:
        if response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                _restart(part)
            if total is None and response.headers.get("Content-Length"):
                total = offset + int(response.headers["Content-Length"])
            mode = "ab"
        else:  # 200: the whole file, whatever we asked for (a new version, or a server without ranges)
            offset = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
            _save_version(target, url, response.headers)
        if total is None:
            total = file.size
        _receive(response, file, part, mode, offset, total, progress, cancel)


def _connection_error(error: BaseException, file: ModelFile, url: str, manual: str) -> ModelError:
    """The one-line message for a request that got no answer: no network, or a server not trusted."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, ssl.SSLCertVerificationError):
        why = reason.verify_message or "it could not be verified"
        return ModelError(
            f"Could not download {file.name} from {url}: the server's certificate is not trusted ({why}; "
            f"checked against {trust_source()}). If your network inspects HTTPS traffic, set {CA_BUNDLE_ENV} "
            f"to a file of its CA certificates. {manual}"
        )
    host = urlsplit(url).hostname or url
    return ModelError(f"Could not connect to {host} to download {file.name}: {plain_reason(error)}. {manual}")


def _read_version(target: Path, url: str) -> str | None:
    """The validator recorded when the unfinished download of `target` from `url` started, if any."""
    try:
        record = json.loads(validator_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("url") != url:
        return None
    version = record.get("version")
    return version if isinstance(version, str) and version else None


def _save_version(target: Path, url: str, headers: Message) -> None:
    """Record which version of `url` the part now holds: a strong ETag, else Last-Modified (If-Range takes either)."""
    etag = headers.get("ETag") or ""
    version = etag if etag and not etag.startswith("W/") else headers.get("Last-Modified")
    path = validator_path(target)
    if not version:
        _unlink_quietly(path)
        return
    try:
        path.write_text(json.dumps({"url": url, "version": version}), encoding="utf-8")
    except OSError as error:  # then a later resume starts over, or relies on the checksum
        log.warning("could not write %s: %s", path, error)


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
    _discard(part)
    raise _Restart()


def _discard(part: Path) -> None:
    """Delete an unfinished download and the record of its version."""
    _unlink_quietly(part)
    _unlink_quietly(part.with_name(part.name + ".json"))  # validator_path of its target


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

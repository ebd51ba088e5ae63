"""A small HTTP server on 127.0.0.1 for model download tests: Range and If-Range requests, and ways to misbehave."""

from __future__ import annotations

import contextlib
import hashlib
import re
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

FILE_PATH = "/files/tiny.pt"


class FileServer:
    """What the test server serves, how it misbehaves, and what it was asked."""

    def __init__(self, port: int, scheme: str = "http") -> None:
        self.base = f"{scheme}://127.0.0.1:{port}"
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.if_ranges: list[str | None] = []  # the If-Range header of each request
        self.validators = True  # send an ETag and Last-Modified (a version If-Range can name)
        self.cut_after: int | None = None  # close the connection after this many body bytes...
        self.cuts = 0  # ...for this many responses
        self.ignore_range = False
        self.corrupt = False
        self.stall = 0.0  # seconds to wait before answering

    def url(self, path: str = FILE_PATH) -> str:
        return self.base + path

    def etag(self, path: str = FILE_PATH) -> str:
        """The version of the file at `path` as this server names it."""
        return '"' + hashlib.md5(self.files[path]).hexdigest() + '"'


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        state: FileServer = self.server.state
        requested = self.headers.get("Range")
        state.requests.append((self.path, requested))
        state.if_ranges.append(self.headers.get("If-Range"))
        if state.stall:
            time.sleep(state.stall)
        data = state.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        etag = state.etag(self.path)
        if state.corrupt:
            data = data[:1000] + bytes(b ^ 0xFF for b in data[1000:1010]) + data[1010:]
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", requested or "")
        if_range = self.headers.get("If-Range")
        # A range of the version If-Range names; of another version, the whole file (200).
        if match and not state.ignore_range and if_range in (None, etag):
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        if state.validators:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", "Mon, 06 Jul 2026 10:00:00 GMT")
        self.end_headers()
        if state.cuts > 0 and state.cut_after is not None:
            state.cuts -= 1
            body = body[: state.cut_after]
        self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (timeout test) is expected


@contextlib.contextmanager
def running_server(tls: ssl.SSLContext | None = None) -> Iterator[FileServer]:
    """A server on a free port for the duration of the block; HTTPS when given the server's TLS context."""
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    httpd.state = FileServer(httpd.server_address[1], "https" if tls is not None else "http")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield httpd.state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def model_server():
    with running_server() as state:
        yield state

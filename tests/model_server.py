"""A small HTTP server on 127.0.0.1 for model download tests: Range requests, and ways to misbehave."""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

FILE_PATH = "/files/tiny.pt"


class FileServer:
    """What the test server serves, how it misbehaves, and what it was asked."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut_after: int | None = None  # close the connection after this many body bytes...
        self.cuts = 0  # ...for this many responses
        self.ignore_range = False
        self.corrupt = False
        self.stall = 0.0  # seconds to wait before answering

    def url(self, path: str = FILE_PATH) -> str:
        return self.base + path


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        state: FileServer = self.server.state
        requested = self.headers.get("Range")
        state.requests.append((self.path, requested))
        if state.stall:
            time.sleep(state.stall)
        data = state.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        if state.corrupt:
            data = data[:1000] + bytes(b ^ 0xFF for b in data[1000:1010]) + data[1010:]
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", requested or "")
        if match and not state.ignore_range:
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
        self.end_headers()
        if state.cuts > 0 and state.cut_after is not None:
            state.cuts -= 1
            body = body[: state.cut_after]
        self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (timeout test) is expected


@pytest.fixture
def model_server():
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    httpd.state = FileServer(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd.state
    httpd.shutdown()
    httpd.server_close()

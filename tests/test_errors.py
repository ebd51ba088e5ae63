"""Errors reach the user in plain words: no "[Errno -2]", no library's internal sentence."""

from __future__ import annotations

import socket
import urllib.error

from inpaint_studio.core.errors import plain_reason


def test_operating_system_errors_keep_their_words_without_the_code():
    assert plain_reason(OSError(28, "No space left on device")) == "No space left on device"
    assert plain_reason(PermissionError(13, "Permission denied")) == "Permission denied"
    assert plain_reason(OSError("[Errno -3] Temporary failure in name resolution")) == "Temporary failure in name resolution"


def test_network_errors_say_what_happened():
    unknown_host = urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
    assert plain_reason(unknown_host) == "the server's name could not be found (is this computer offline?)"
    assert plain_reason(urllib.error.URLError(TimeoutError("timed out"))) == "the server did not answer in time"
    assert plain_reason(ConnectionRefusedError(111, "Connection refused")) == "the server refused the connection"


def test_anything_else_is_an_unexpected_problem_told_in_the_log():
    reason = plain_reason(RuntimeError("PytorchStreamReader failed reading zip archive: failed finding central directory"))
    assert reason == "an unexpected problem (the details are in the log)"

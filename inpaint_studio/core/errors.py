"""Errors a user can act on.

Every message is a complete sentence for the person at the keyboard: it names the
file or the engine and says what went wrong. The CLI prints them on one line and
the GUI shows them in a dialog; neither shows a traceback for these.
"""

from __future__ import annotations

import re
import socket


class InpaintStudioError(Exception):
    """Base class for every error the application reports to the user."""


class ImageError(InpaintStudioError):
    """An image or mask file could not be read or written."""


class MaskError(InpaintStudioError):
    """A mask is unusable for the image it goes with."""


class EngineError(InpaintStudioError):
    """An engine failed or was asked for something it cannot do."""


class EngineNotReadyError(EngineError):
    """An engine cannot run yet, e.g. because its model weights are not installed."""


class DeviceError(EngineError):
    """The requested compute device is not available."""


class JobCancelled(InpaintStudioError):
    """The user cancelled a running job. Not an error to show, but it unwinds like one."""


class ModelError(InpaintStudioError):
    """A model file is missing, damaged, untrusted or could not be installed."""


class UnknownModelFileError(ModelError):
    """A file offered for import does not match the catalogue's checksum."""

    def __init__(self, message: str, problem: str) -> None:
        super().__init__(message)
        self.problem = problem  # what differs, e.g. "its MD5 is ..., expected ..."


class ModelMissingError(EngineNotReadyError):
    """An engine's weights are not installed.

    The message names the exact folder and file name to place by hand and the
    command `inpaint-studio models download ID` that fetches them.
    """


class SelfCheckFailed(InpaintStudioError):
    """`inpaint-studio --self-test` found part of the installation not working; the message says what."""


def plain_reason(error: BaseException) -> str:
    """Why `error` happened, in the words a user reads: an operating-system or network error's own
    reason without its "[Errno -2]" code; for any other error (a library's internal sentence) only
    that it was unexpected. Callers write the full error to the log."""
    if isinstance(error, socket.gaierror):
        return "the server's name could not be found (is this computer offline?)"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "the server did not answer in time"
    if isinstance(error, ConnectionRefusedError):
        return "the server refused the connection"
    if isinstance(error, OSError):
        reason = getattr(error, "reason", None)  # urllib's URLError wraps the real error
        if isinstance(reason, BaseException):
            return plain_reason(reason)
        if isinstance(reason, str) and reason:
            return reason
        text = error.strerror or str(error)
        return _ERRNO.sub("", text).strip() or "the operating system reported a problem"
    return "an unexpected problem (the details are in the log)"


_ERRNO = re.compile(r"\[(Errno|WinError) -?\d+\]\s*")

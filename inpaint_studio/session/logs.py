"""The log file in the user log folder, and the crash handler that writes to it.

Qt-free: the window and the command line both call `setup_logging()` at start
and `install_crash_handlers()`; the window passes a `notify` callback that
shows a message box (see `ui/crash_dialog.py`), the command line prints one
line. Nothing here may stop the application: a log folder that cannot be
created just means there is no log file, and the crash report then goes to
standard error instead. The window also calls `trace_native_crashes()`: a crash
in native code (a segmentation fault in Qt, OpenCV or torch), which no Python
hook sees, then leaves faulthandler's traceback of every thread in the log.

The folder is `core.paths.log_dir()`
(`~/.local/state/inpaint-studio/log` on Linux, `%LOCALAPPDATA%\\inpaint-studio\\Logs`
on Windows, `~/Library/Logs/inpaint-studio` on macOS), or `INPAINT_STUDIO_LOG_DIR`.
"""

from __future__ import annotations

import faulthandler
import logging
import platform
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType
from typing import TextIO

from inpaint_studio import APP_NAME, __version__
from inpaint_studio.core.paths import log_dir

LOG_NAME = "inpaint-studio.log"
MAX_LOG_BYTES = 1_000_000
LOG_BACKUPS = 3  # inpaint-studio.log.1 .. .3: at most 4 MB in all
FORMAT = "%(asctime)s %(process)d %(threadName)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger("inpaint_studio")

_handler: RotatingFileHandler | None = None
_setup_error: str | None = None
_fault_file: TextIO | None = None  # faulthandler's file: it must stay open as long as faulthandler may write to it


class _LogFile(RotatingFileHandler):
    def doRollover(self) -> None:  # noqa: N802 - logging's name
        super().doRollover()
        if _fault_file is not None:  # its descriptor still points at the file just renamed to .1
            trace_native_crashes()


def log_file() -> Path:
    return log_dir() / LOG_NAME


def active_log_file() -> Path | None:
    """The file logging writes to now, or None when `setup_logging` could not open one."""
    return Path(_handler.baseFilename) if _handler is not None else None


def setup_error() -> str | None:
    """Why the last `setup_logging` has no log file, in words; None when it has one."""
    return _setup_error


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Send the application's log records to the rotating log file; return its path.

    Safe to call more than once (a second call re-targets the file if the folder
    changed). Returns None, and never raises, when the folder or file cannot be
    created; `setup_error()` then says why.
    """
    global _handler, _setup_error
    path = log_file()
    if _handler is not None and Path(_handler.baseFilename) == path.absolute():
        return path
    _close_handler()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _LogFile(path, maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8", delay=False)
    except OSError as error:
        _setup_error = f"the log file {path} cannot be created ({error.strerror or error})"
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)  # other libraries: warnings and worse
    log.setLevel(level)
    _handler, _setup_error = handler, None
    log.info(
        "%s %s starting (%s, Python %s, %s)",
        APP_NAME,
        __version__,
        "frozen app" if getattr(sys, "frozen", False) else "Python install",
        platform.python_version(),
        platform.platform(terse=True),
    )
    return path


def _close_handler() -> None:
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        try:
            _handler.close()
        except OSError:
            pass
        _handler = None


def shutdown_logging() -> None:
    """Detach and close the log file (tests; the interpreter does it at exit too)."""
    global _setup_error, _fault_file
    _close_handler()
    _setup_error = None
    if _fault_file is not None:
        faulthandler.disable()
        _fault_file.close()
        _fault_file = None


def trace_native_crashes() -> Path | None:
    """From now on a native crash (segmentation fault, abort) writes every thread's Python traceback to the log file.

    faulthandler writes from the signal handler straight to the file's descriptor, so the file
    is opened here, in append mode beside the logging handler's, and kept open; a rotation of
    the log calls this again. Returns the file, or None when it cannot be opened (the crash then
    leaves no trace, as before).
    """
    global _fault_file
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = open(path, "a", encoding="utf-8")  # kept open: faulthandler writes to it at a crash
    except OSError:
        return None
    faulthandler.enable(file=stream, all_threads=True)
    if _fault_file is not None:  # only now: faulthandler no longer writes to it
        _fault_file.close()
    _fault_file = stream
    return path


# ------------------------------------------------------------------ crashes


@dataclass(frozen=True)
class CrashReport:
    """An exception nobody caught, as it was written to the log."""

    summary: str  # "ValueError: bad value", one line
    details: str  # the formatted traceback
    thread: str  # the thread it happened on
    log_path: Path | None  # where the traceback was written; None if it could not be

    def message(self) -> str:
        """What to tell the user, in a sentence or three."""
        where = (
            f"The details were written to the log file {self.log_path}."
            if self.log_path is not None
            else f"The details could not be written to a log file ({setup_error() or 'logging is not set up'}); "
            "they were printed to the terminal."
        )
        return (
            f"{APP_NAME} {__version__} ran into an unexpected problem: {self.summary}. "
            f"{where} Please attach that file when you report the problem."
        )


Notify = Callable[[CrashReport], None]
_notify: Notify | None = None
_reporting = threading.local()


def _summary(exc_type: type[BaseException], exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ""
    return f"{exc_type.__name__}: {text}" if text else exc_type.__name__


def report_crash(
    exc_type: type[BaseException],
    exc: BaseException | None,
    tb: TracebackType | None,
    thread: str | None = None,
) -> CrashReport:
    """Write an uncaught exception to the log (or stderr) and tell the user through `notify`.

    Never raises: a failing notifier or log file falls back to standard error.
    """
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    thread = thread or threading.current_thread().name
    path = active_log_file()
    if path is not None:
        try:
            log.critical("Unexpected error on thread %s:\n%s", thread, details.rstrip())
            if _handler is not None:
                _handler.flush()
        except Exception:  # noqa: BLE001 - the disk may be full; fall back to stderr
            path = None
    report = CrashReport(_summary(exc_type, exc), details, thread, path)
    if path is None:
        _write_stderr(details)
    notify = _notify
    if getattr(_reporting, "active", False):
        # An exception while telling the user about one: do not try again, just record it.
        _write_stderr(f"{APP_NAME}: {report.message()}\n")
        return report
    _reporting.active = True
    try:
        if notify is not None:
            notify(report)
        else:
            _write_stderr(f"{APP_NAME}: {report.message()}\n")
    except Exception:  # noqa: BLE001
        _write_stderr(f"{APP_NAME}: {report.message()}\n(The message could not be shown: {traceback.format_exc()})\n")
    finally:
        _reporting.active = False
    return report


def _write_stderr(text: str) -> None:
    stream = sys.stderr or sys.__stderr__
    if stream is None:  # a windowed app on Windows has no console
        return
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    report_crash(exc_type, exc, tb)


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return  # what threading does by default too
    name = args.thread.name if args.thread is not None else None
    report_crash(args.exc_type, args.exc_value, args.exc_traceback, thread=name)


def install_crash_handlers(notify: Notify | None = None) -> None:
    """Route uncaught exceptions (main thread, other threads, Qt slots) to `report_crash`.

    `notify` tells the user (the window's message box); without it the report is
    printed to standard error. Calling again replaces the notifier.
    """
    global _notify
    _notify = notify
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


def uninstall_crash_handlers() -> None:
    """Back to Python's own hooks (tests)."""
    global _notify
    sys.excepthook = sys.__excepthook__
    threading.excepthook = threading.__excepthook__
    _notify = None

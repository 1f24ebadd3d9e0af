"""Our commands print their own lines and progress bars only.

MediaPipe (absl logging), TF Lite and torch write their own log lines to the process's
standard error: ``W0000 … inference_feedback_manager.cc …`` once per graph,
``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.``, ``WARNING: All log messages
before absl::InitializeLog() is called are written to STDERR``, torch's ``No CUDA runtime is
found``. Their levels cannot be set from Python (absl's C++ log level has no environment
variable, TF Lite's minimal logger none either), so ``quiet_third_party`` silences torch's
logger at its source and filters the native lines: file descriptor 2 is pointed at a pipe
whose reader drops those lines (info and warning levels only: a native error still shows)
and passes everything else on. Python's own ``sys.stderr`` keeps writing to the terminal
directly, so progress bars are not delayed. ``--verbose`` leaves everything as it is.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator

# Native log lines of info and warning level that say nothing a user can act on.
NOISE = re.compile(
    rb"^(?:[IW]\d{4} [\d:.]+ +\d+ [^\]]+\] "  # absl / glog prefix, info or warning
    rb"|INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|\s*$)"  # the blank lines those loggers leave
)
# Python loggers of libraries we use whose warnings are not about the user's input.
QUIET_LOGGERS = ("torch.utils.cpp_extension",)

VERBOSE_HELP = "show the log lines of MediaPipe, TF Lite and torch (hidden by default)"


def is_noise(line: bytes) -> bool:
    return NOISE.match(line) is not None


def _pump(source: int, sink: int) -> None:
    """Copy lines from ``source`` to ``sink`` until end of file, dropping noise lines; owns
    and closes both."""
    with os.fdopen(source, "rb", buffering=0) as pipe, os.fdopen(sink, "wb", buffering=0) as out:
        rest = b""
        try:
            while chunk := pipe.read(65536):
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                out.write(b"".join(line + b"\n" for line in lines if not is_noise(line)))
            if rest and not is_noise(rest):
                out.write(rest)
        except OSError:  # the terminal went away: nothing left to show it on
            pass


@contextlib.contextmanager
def quiet_third_party(verbose: bool = False) -> Iterator[None]:
    """Within the block, third-party log lines are silenced or filtered (see the module);
    with ``verbose`` nothing changes. Everything is restored on leaving the block."""
    if verbose:
        yield
        return
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    sys.stderr.flush()
    terminal = os.dup(2)
    python_stderr = sys.stderr
    try:
        direct = python_stderr.fileno() == 2
    except (AttributeError, OSError, io.UnsupportedOperation):
        direct = False  # already redirected (e.g. captured by a test): leave it
    if direct:
        # Our own lines (and tqdm's bars) go straight to the terminal, undelayed.
        sys.stderr = io.TextIOWrapper(io.FileIO(os.dup(terminal), "w"), encoding=python_stderr.encoding,
                                      errors=python_stderr.errors, line_buffering=True,
                                      write_through=True)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    pump = threading.Thread(target=_pump, args=(read, os.dup(terminal)), daemon=True)
    pump.start()
    try:
        yield
    finally:
        if direct:
            sys.stderr.flush()
            sys.stderr.close()
            sys.stderr = python_stderr
        os.dup2(terminal, 2)  # the pipe's last writer in this process: its reader ends
        pump.join(timeout=5)
        os.close(terminal)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


class _Lines(logging.Handler):
    """Our log records as plain lines on the current ``sys.stderr`` (looked up per record, so
    a redirected or captured stderr gets them)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def show_log_lines() -> None:
    """The one logging set-up: the library's ``edn`` and ``pose_detector`` loggers print their
    info and above as plain lines on standard error. Idempotent."""
    for name in ("edn", "pose_detector"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, _Lines) for h in logger.handlers):
            logger.addHandler(_Lines())
        logger.setLevel(logging.INFO)

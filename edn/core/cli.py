"""What every command shares: third-party logs quiet, our log lines shown, a ``UserError`` as
one line with exit code 1, Ctrl-C as exit code 130 and SIGTERM as 143 (both raised as
KeyboardInterrupt, so that what saves on Ctrl-C saves on either). Anything else is a bug: its
traceback shows."""
from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable

from edn.core.console import VERBOSE_HELP, quiet_third_party, show_log_lines
from edn.core.errors import Terminated, UserError


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)


def run_command(body: Callable[[], int], verbose: bool = False,
                interrupted: str = "interrupted") -> int:
    """Run a command's ``body`` (returning its exit code) the way every command runs."""
    show_log_lines()
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        with quiet_third_party(verbose):
            try:
                return body()
            except UserError as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
            except Terminated:
                print(f"terminated: {interrupted.removeprefix('interrupted: ')}", file=sys.stderr)
                return 143
            except KeyboardInterrupt:
                print(interrupted, file=sys.stderr)
                return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()

"""The errors a user can cause. A command shows a ``UserError`` as one line and exits with 1
(edn.core.cli); any other exception is a bug and keeps its traceback."""
from __future__ import annotations


class UserError(Exception):
    """A user's mistake or bad input, said in one line."""


class InputError(UserError):
    """Bad input data: a missing, unreadable or empty video, image folder or set."""


class NoPersonError(UserError):
    """No person was found in any frame."""


class ConfigError(UserError):
    """A config file with an unknown key, a value of the wrong type or another version."""


class CheckpointError(UserError):
    """A checkpoint or weights file that is missing, damaged, foreign or of another version."""


class RunError(UserError):
    """A run folder that does not allow what was asked (resume, a stage, a split)."""


class OutputExistsError(UserError):
    """An output that exists and was not asked to be replaced."""


class OutputError(UserError):
    """An output that cannot be written: an unwritable folder, a full disk."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that what saves on Ctrl-C saves on it too."""

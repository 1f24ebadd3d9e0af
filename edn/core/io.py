"""Atomic file and folder writes: an interrupted run never leaves output that looks complete."""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from edn.core.errors import OutputError, OutputExistsError, UserError

log = logging.getLogger(__name__)


def _cannot_write(path: Path, e: OSError, existed: bool) -> OutputError:
    kept = f"; the previous {path.name} is untouched" if existed else ""
    return OutputError(f"cannot write {path}: {e.strerror or e}{kept}")


def check_outside(output: str | os.PathLike, source: str | os.PathLike) -> None:
    """Refuse an output inside the input folder ``source``: its files would mix with the
    input's (and be read as input next time)."""
    src, out = Path(source).resolve(), Path(output).resolve()
    if src.is_dir() and (out == src or src in out.parents):
        raise UserError(f"the output {output} is inside the input folder {source}: "
                        "choose a place outside it")


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it over
    ``path``. The temporary name keeps the suffix so writers that look at it (cv2, torch) work."""
    path = Path(path)
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.tmp-", suffix=path.suffix, dir=path.parent)
    except OSError as e:
        raise _cannot_write(path, e, existed) from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):  # a full disk, a folder that went read-only
            raise _cannot_write(path, e, existed) from None
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
    atomic_write(path, write)


WRITING = ".writing"  # in a partial folder: locked (flock) while its process builds it


def _partial_prefix(final: Path) -> str:
    return f".{final.name}.partial-"


def remove_interrupted(final: Path) -> list[Path]:
    """Remove what a killed process left while building ``final``: ``staged_dir``'s partial
    folders whose writing lock nobody holds (a lock dies with its process, on this host or
    another sharing the folder), saying so: such a folder is never resumed, and never looks
    complete. Folders without the lock file (being renamed into place, or not ours) are
    left alone. Returns the folders removed."""
    removed = []
    prefix = _partial_prefix(final)
    siblings = final.parent.iterdir() if final.parent.is_dir() else ()
    for leftover in sorted(p for p in siblings if p.name.startswith(prefix) and p.is_dir()):
        try:
            with open(leftover / WRITING, "rb") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (FileNotFoundError, BlockingIOError):
            continue  # no lock file, or a live writer holds it
        log.warning("%s was left by an interrupted run writing %s: it is not resumed; "
                    "removing it and starting again", leftover, final)
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(leftover)
    return removed


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name beside ``final`` and move it into place only
    when the block ends without error. An existing ``final`` is replaced only at that moment
    (and only with ``overwrite``). What a killed run left is removed first
    (``remove_interrupted``)."""
    final = Path(final)
    if final.exists() and not overwrite:
        raise OutputExistsError(f"{final} exists (pass overwrite to replace it)")
    remove_interrupted(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_partial_prefix(final), dir=final.parent))
        writing = open(tmp / f"{WRITING}.new", "wb")
        # locked before it takes its name, so no one finds it unlocked; the kernel releases
        # the lock when the process dies
        fcntl.flock(writing, fcntl.LOCK_EX)
        os.rename(tmp / f"{WRITING}.new", tmp / WRITING)
    except OSError as e:
        raise _cannot_write(final, e, final.exists()) from None
    with writing:
        tmp.chmod(0o755)  # mkdtemp makes 0700; outputs are ordinary folders
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (tmp / WRITING).unlink()  # still locked: a folder without it is left alone
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)

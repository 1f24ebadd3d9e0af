"""The run folder's files (docs/formats.md) that training writes and inference reads: the
checkpoint, loaded without executing anything, and target.json."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pickle
import socket
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from edn.core.errors import CheckpointError, RunError
from edn.core.io import atomic_write, atomic_write_text
from edn.core.paths import CHECKPOINT, LOCK, TARGET

log = logging.getLogger(__name__)

# Written into every checkpoint; a checkpoint without it is from before the version (same
# layout) and loads.
CHECKPOINT_VERSION = 1


def save_checkpoint(path: Path, state: dict) -> None:
    """``state`` (tensors and plain values only) with the format version, written atomically."""
    buffer = io.BytesIO()
    torch.save({"format_version": CHECKPOINT_VERSION, **state}, buffer)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))


def _first_sentence(error: object) -> str:
    """The first sentence of an error's first line, at most 120 characters."""
    lines = str(error).strip().splitlines()
    text = lines[0].split(". ")[0] if lines else type(error).__name__
    return text[:120]


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """A checkpoint written by ``save_checkpoint``, loaded with ``weights_only``: a pickle of
    anything but tensors and plain values is refused, never run. A missing, damaged, foreign
    or newer file is a CheckpointError that says so."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint {path}")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of foreign files
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        # torch's own words first; the line naming what was refused says it best
        reason = next((line for line in lines if "Unsupported" in line), lines[0] if lines else
                      "not tensors and plain values")
        reason = _first_sentence(reason.split("WeightsUnpickler error: ")[-1])
        raise CheckpointError(f"{path} holds more than tensors and plain values, so it is not "
                              f"loaded ({reason[:120]})") from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        raise CheckpointError(f"{path} is damaged or not a checkpoint ({_first_sentence(e)})") from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{path} is not an edn checkpoint (no model state)")
    version = state.get("format_version", 0)
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {version!r}; this edn reads up to "
                              f"{CHECKPOINT_VERSION}")
    return state


@dataclass
class TargetInfo:
    """What a run keeps of its target video: the prepared set it trained on, the frames
    used, the prepared frame size, the training size, the ankle statistics and, for a
    generator on a person window, the window's size."""
    prepared_set: str
    frames: tuple[int, int]            # [first, end) of the prepared frames trained on
    prepared_size: tuple[int, int]     # (w, h) of the prepared frames (keypoint pixels)
    size: tuple[int, int]              # (w, h) the model renders
    fps: float
    stats: dict                        # edn.preparation.normalize.AnkleStats as a dict
    window: tuple[int, int] | None = None  # (w, h) of the person window (edn.core.window)

    def save(self, run_dir: Path) -> None:
        atomic_write_text(run_dir / TARGET, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, run_dir: Path) -> "TargetInfo":
        path = run_dir / TARGET
        try:
            d = json.loads(path.read_text())
            for k in ("frames", "prepared_size", "size", "window"):
                d[k] = tuple(d[k]) if d.get(k) is not None else None
            return cls(**d)
        except FileNotFoundError:
            raise RunError(f"{run_dir} is not a trained run (no {TARGET})") from None
        except (ValueError, TypeError, KeyError) as e:
            raise RunError(f"{path} is damaged: {e}") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold RUN/lock while training: a second training process on the same folder is
    refused; a lock left by a process that is gone (kill -9, a crash) on this host is taken
    over. Also removes checkpoint temporaries such a process may have left half-written."""
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path, me = run_dir / LOCK, f"{os.getpid()} {socket.gethostname()}"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid_text, _, host = path.read_text().strip().partition(" ")
                pid = int(pid_text)
            except (OSError, ValueError):
                pid, host = -1, socket.gethostname()  # unreadable: left by a process cut short
            if host == socket.gethostname() and not _alive(pid):
                log.info("removed the lock of training process %d, which is gone", pid)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            raise RunError(f"{run_dir} is in use by training process {pid} on {host}; if that "
                           f"process is gone, delete {path}") from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    else:
        raise RunError(f"cannot take the lock {path}")
    stem = Path(CHECKPOINT).stem
    for stale in run_dir.glob(f".{stem}.tmp-*"):
        stale.unlink()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if path.read_text().strip() == me:
                path.unlink()
            if created and not any(run_dir.iterdir()):
                run_dir.rmdir()  # a run that never started leaves no folder behind

"""Where things are: the weights folder, and the file names of run folders and prepared sets
(docs/formats.md)."""
from __future__ import annotations

import os
import re
from pathlib import Path

# The weights folder: runs (weights/NAME/) and weights a user brings. One place decides it:
# an explicit --weights-dir, else $EDN_WEIGHTS_DIR, else the checkout's weights/.
WEIGHTS_ENV = "EDN_WEIGHTS_DIR"
CHECKOUT_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
WEIGHTS_HELP = f"where run folders and brought weights live (default: ${WEIGHTS_ENV}, else the checkout's weights/)"


def weights_dir(override: str | os.PathLike | None = None) -> Path:
    """The weights folder: ``override`` when given, else $EDN_WEIGHTS_DIR, else the checkout's."""
    if override is not None:
        return Path(override)
    env = os.environ.get(WEIGHTS_ENV, "").strip()
    return Path(env) if env else CHECKOUT_WEIGHTS


# A run folder, weights/NAME/.
CHECKPOINT = "checkpoint.pt"
STUDENT = "student.pt"  # a run's distilled student generator (edn.models.student)
CONFIG = "config.json"
TARGET = "target.json"
TARGET_SET = "target_set"  # the prepared set, when training was given a video
LOGS = "logs"
LOCK = "lock"  # held by the training process using the run folder (pid and host inside)


def stage_checkpoint(stage: int) -> str:
    """The finished stage's checkpoint, kept when the next stage starts."""
    return f"checkpoint_stage{stage}.pt"


# A prepared set (data/video2data.py).
META = "meta.json"
FRAMES = "frames"
KEYPOINTS = "keypoints"
MASKS = "masks"
WORLD_LANDMARKS = "world_landmarks.npy"


def frame_name(i: int) -> str:
    """The file of frame ``i`` in a prepared set's frames/ and masks/, and in a transfer's
    frames/, labels/ and source/."""
    return f"{i:06d}.png"


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[list[str | int], str]:
    """Sort key of a file name as a person counts: digit runs compare as numbers (``img_2``
    before ``img_10``, ``9.png`` before ``10.png``), the rest as text. The one order of an
    image folder's frames and of their keypoint files."""
    parts = _DIGITS.split(name)  # text, digits, text, ...: like with like at each place
    return [int(p) if i % 2 else p for i, p in enumerate(parts)], name


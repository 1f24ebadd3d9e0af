"""Finger bones from the skeletons' 21-point hands (OpenPose's order: wrist; thumb CMC, MCP,
IP, tip; then MCP, PIP, DIP, tip of the index, middle, ring and little fingers).

The hands are 2D only, so each finger joint's bend is the angle between its two segments in the
image: exact for a hand seen from the side, less for one seen from the palm or the back (a bend
towards the camera shortens the finger instead of turning it). The bend is taken only from a
hand seen with confidence (mean over its points of at least SEEN, and the joint's own three
points found) and large enough to read
(wrist to the middle finger's base at least MIN_PALM pixels: on taiji's 256-pixel crop, where
the palm is about 10 px and a finger segment 2-4 px, the angles jitter by 12 degrees a frame);
elsewhere the fingers are at rest, and the bends are clipped to the joint's range (MAX_BEND) and smoothed over SMOOTHING frames, so a hand
that comes into view eases in rather than snapping, and a bad frame cannot fling a finger.

Each finger bone (親指０-２, 人指１-３, 中指１-３, 薬指１-３, 小指１-３ of each side, the ones the
model has) turns by its bend about the axis that curls it towards the palm: perpendicular to
the bone's rest direction and to the palm's side, which in MMD's rest pose (palms down) is
down; the thumb curls towards the middle finger's base instead (across the palm).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from edn.vmd import rotations as rot
from edn.vmd.skeleton import SIDES, Skeleton

SEEN = 0.5
MIN_PALM = 16.0  # pixels
# how far each joint bends, degrees: the thumb's CMC, MCP, IP; the fingers' MCP, PIP, DIP
# (a hand's usual range of motion, rounded)
MAX_BEND = {"親指０": 50.0, "親指１": 60.0, "親指２": 80.0, "１": 90.0, "２": 110.0, "３": 90.0}
SMOOTHING = 2.0  # frames (Gaussian sigma)
DIGITS = "０１２３４"  # MMD's bone names count in full-width digits
# bone (without its side) -> the hand points (before, at, after) of the joint it bends at
JOINTS: dict[str, tuple[int, int, int]] = {
    "親指０": (0, 1, 2), "親指１": (1, 2, 3), "親指２": (2, 3, 4),
    **{finger + DIGITS[k]: (base + k - 2 if k > 1 else 0, base + k - 1, base + k)
       for finger, base in (("人指", 5), ("中指", 9), ("薬指", 13), ("小指", 17)) for k in (1, 2, 3)},
}
# the bone each finger bone points at in the rest pose
_NEXT = {"親指０": "親指１", "親指１": "親指２", "親指２": "親指先",
         **{f + DIGITS[k]: f + DIGITS[k + 1] if k < 3 else f + "先" for f in ("人指", "中指", "薬指", "小指") for k in (1, 2, 3)}}


def visible(hand: np.ndarray) -> np.ndarray:
    """(T,) bool: the frames where a hand (T, 21, 3) is seen well enough to read its fingers."""
    palm = np.linalg.norm(hand[:, 9, :2] - hand[:, 0, :2], axis=1)
    return (hand[:, :, 2].mean(1) >= SEEN) & (palm >= MIN_PALM)


def joint_angle(hand: np.ndarray, points: tuple[int, int, int]) -> np.ndarray:
    """(T,) radians: the angle between the segments (a, b) and (b, c) of a hand (T, 21, 3) in
    the image."""
    a, b, c = points
    first, second = hand[:, b, :2] - hand[:, a, :2], hand[:, c, :2] - hand[:, b, :2]
    cos = (first * second).sum(1) / np.maximum(np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1), 1e-9)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def bends(hands: np.ndarray) -> dict[str, np.ndarray]:
    """Hands (T, 2, 21, 3) in SIDES order (x, y, confidence) -> each side's finger bones'
    bend (T,) radians (module text)."""
    out: dict[str, np.ndarray] = {}
    for s, side in enumerate(SIDES):
        hand = hands[:, s]
        seen = visible(hand)
        for bone, points in JOINTS.items():
            found = seen & (hand[:, list(points), 2] > 0).all(1)  # each of its points seen
            angle = np.where(found, joint_angle(hand, points), 0.0)
            angle = np.minimum(angle, np.deg2rad(MAX_BEND[bone] if bone in MAX_BEND else MAX_BEND[bone[-1]]))
            out[side + bone] = gaussian_filter1d(angle, SMOOTHING, mode="nearest") if len(angle) > 1 else angle
    return out


def finger_rotations(bend: dict[str, np.ndarray], sk: Skeleton) -> dict[str, np.ndarray]:
    """The local rotations (T, 4) of the finger bones the model has, from their bends."""
    out: dict[str, np.ndarray] = {}
    for name, angle in bend.items():
        side, bone = name[0], name[1:]
        tip = side + _NEXT[bone]
        if name not in sk or tip not in sk:
            continue
        direction = rot.normalize(sk.position(tip) - sk.position(name))
        if bone.startswith("親指") and side + "中指１" in sk:
            palm = sk.position(side + "中指１") - sk.position(name)
        else:
            palm = np.array([0.0, -1.0, 0.0])
        palm = palm - (palm @ direction) * direction
        axis = rot.normalize(np.cross(direction, palm))
        half = angle[:, None] / 2
        out[name] = np.concatenate([axis * np.sin(half), np.cos(half)], 1)
    return out

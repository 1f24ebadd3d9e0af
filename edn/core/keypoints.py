"""Keypoint layouts: COCO-18, the whole body, the conversions from other layouts, parts.

Everything in edn works on arrays shaped (frames, 18, 3) = x, y, confidence in the
OpenPose COCO-18 order below, in pixel coordinates. A joint that was not found has
confidence 0 (its x, y are then meaningless and kept at 0). On disk keypoints are OpenPose
``--write_json`` files (``edn.core.openpose_json``).

Whole-body keypoints (OpenPose run with ``--face --hand``) are the same arrays with 130
points instead of 18: the body's 18, then OpenPose's 70 face points (``FACE``), then 21 per
hand, the person's left (``LEFT_HAND``) before the right (``RIGHT_HAND``). Every function of
edn that moves or scales keypoints works on the last axis and so moves the face and hands
with the body; those that measure the body read the first 18. A part that was not extracted
has confidence 0 everywhere; which parts a set holds is recorded beside it (``PARTS``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from edn.core.errors import InputError, UserError

COCO18_NAMES: tuple[str, ...] = (
    "nose", "neck",
    "r_shoulder", "r_elbow", "r_wrist",
    "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle",
    "l_hip", "l_knee", "l_ankle",
    "r_eye", "l_eye", "r_ear", "l_ear",
)
NUM_JOINTS = 18
J = {name: i for i, name in enumerate(COCO18_NAMES)}

FACE_POINTS = 70   # OpenPose's face: the 68 iBUG/dlib points, then the right and left pupils
HAND_POINTS = 21   # OpenPose's hand: wrist, then 4 points per finger from the thumb
WHOLE_JOINTS = NUM_JOINTS + FACE_POINTS + 2 * HAND_POINTS
FACE = slice(NUM_JOINTS, NUM_JOINTS + FACE_POINTS)
LEFT_HAND = slice(FACE.stop, FACE.stop + HAND_POINTS)
RIGHT_HAND = slice(LEFT_HAND.stop, LEFT_HAND.stop + HAND_POINTS)
# The parts a keypoint set can hold, as meta.json and a model's config name them.
PARTS: tuple[str, ...] = ("body", "face", "hands")
# The points of each part beyond the body.
_PART_POINTS: tuple[tuple[str, slice], ...] = (
    ("face", FACE), ("hands", LEFT_HAND), ("hands", RIGHT_HAND))

# Bones of the OpenPose COCO-18 stick figure, in OpenPose's drawing order.
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7),
    (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)

# Left/right partner of every joint (itself for nose and neck).
FLIP_INDEX: tuple[int, ...] = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)

# Source index (or None for "not in that layout") of each COCO-18 joint.
_FROM_BODY25 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
# COCO-17 order: nose, l_eye, r_eye, l_ear, r_ear, l_sh, r_sh, l_el, r_el, l_wr, r_wr,
# l_hip, r_hip, l_knee, r_knee, l_ank, r_ank. Neck is built from the shoulders.
_FROM_COCO17 = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)

LAYOUTS = ("auto", "coco18", "body25", "body25b", "coco17")


def empty_pose() -> np.ndarray:
    return np.zeros((NUM_JOINTS, 3), np.float32)


def _gather(points: np.ndarray, index: Sequence[int | None]) -> np.ndarray:
    out = empty_pose()
    for dst, src in enumerate(index):
        if src is not None:
            out[dst] = points[src]
    return out


def with_neck(pose: np.ndarray) -> np.ndarray:
    """Set the neck to the shoulders' midpoint (confidence = the weaker shoulder)."""
    pose = pose.copy()
    rs, ls = pose[J["r_shoulder"]], pose[J["l_shoulder"]]
    if rs[2] > 0 and ls[2] > 0:
        pose[J["neck"]] = [(rs[0] + ls[0]) / 2, (rs[1] + ls[1]) / 2, min(rs[2], ls[2])]
    else:
        pose[J["neck"]] = 0
    return pose


def coco17_to_coco18(points: np.ndarray) -> np.ndarray:
    return with_neck(_gather(np.asarray(points, np.float32), _FROM_COCO17))


def body25_to_coco18(points: np.ndarray) -> np.ndarray:
    return _gather(np.asarray(points, np.float32), _FROM_BODY25)


def _guess_75_layout(people: Iterable[np.ndarray]) -> str:
    """Tell BODY_25 from BODY_25B (both 25 joints). In BODY_25 joint 1 is the neck, between
    the shoulders 2 and 5, and joint 8 the mid-hip, between the hips 9 and 12; in BODY_25B
    those slots hold an eye, an elbow and a wrist, which are not midpoints of anything.
    With no evidence either way, BODY_25 (OpenPose's default model)."""
    votes = 0
    for p in people:
        for mid, a, b in ((1, 2, 5), (8, 9, 12)):
            if min(p[mid, 2], p[a, 2], p[b, 2]) <= 0:
                continue
            span = np.linalg.norm(p[a, :2] - p[b, :2]) + 1e-6
            off = np.linalg.norm(p[mid, :2] - (p[a, :2] + p[b, :2]) / 2) / span
            votes += 1 if off < 0.25 else -1
    return "body25" if votes >= 0 else "body25b"


def resolve_layout(people: Sequence[np.ndarray], layout: str) -> str:
    """``layout``, but for "auto" with 25-joint people: BODY_25 or BODY_25B, told from all of
    ``people`` (each as written, (25, 3))."""
    if layout == "auto" and people and len(people[0]) == 25:
        return _guess_75_layout(people)
    return layout


def to_coco18(points: np.ndarray, layout: str = "auto") -> np.ndarray:
    """Convert one person's flat or (K, 3) keypoints to COCO-18."""
    points = np.asarray(points, np.float32).reshape(-1, 3)
    if layout == "auto":
        layout = {18: "coco18", 17: "coco17", 25: "body25"}.get(len(points), "")
        if not layout:
            raise InputError(f"cannot tell the layout of {len(points)} keypoints")
    if layout == "coco18":
        out = points.copy()
    elif layout == "body25":
        out = body25_to_coco18(points)
    elif layout in ("body25b", "coco17"):
        out = coco17_to_coco18(points[:17])
    else:
        raise UserError(f"unknown keypoint layout {layout!r}; one of {LAYOUTS}")
    out[out[:, 2] <= 0] = 0
    return out


def check_parts(parts: Sequence[str]) -> tuple[str, ...]:
    """``parts`` in PARTS order, "body" always included; an unknown name is a UserError."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise UserError(f"unknown keypoint part {unknown[0]!r}; one of {', '.join(PARTS)}")
    return tuple(p for p in PARTS if p == "body" or p in parts)


def whole_body(poses: np.ndarray) -> np.ndarray:
    """(..., 18 or 130, 3) -> (..., 130, 3): body-only keypoints get face and hands with
    confidence 0."""
    poses = np.asarray(poses, np.float32)
    if poses.shape[-2] == WHOLE_JOINTS:
        return poses
    out = np.zeros((*poses.shape[:-2], WHOLE_JOINTS, 3), np.float32)
    out[..., :NUM_JOINTS, :] = poses[..., :NUM_JOINTS, :]
    return out


def keep_parts(poses: np.ndarray, parts: Sequence[str]) -> np.ndarray:
    """Whole-body keypoints with the parts not in ``parts`` set to confidence 0 (body-only
    keypoints are returned as they are)."""
    poses = np.asarray(poses, np.float32)
    if poses.shape[-2] != WHOLE_JOINTS:
        return poses
    out = poses.copy()
    for part, points in _PART_POINTS:
        if part not in parts:
            out[..., points, :] = 0
    return out


def flip_index(points: int) -> tuple[int, ...]:
    """The left/right partner of each of 18 or 130 points. Whole-body: the hands swap; the
    face's points keep their own labels (a body detector's side swap does not touch the face
    mesh, whose sides come from its own geometry)."""
    if points == NUM_JOINTS:
        return FLIP_INDEX
    return (*FLIP_INDEX, *range(FACE.start, FACE.stop), *range(RIGHT_HAND.start, RIGHT_HAND.stop),
            *range(LEFT_HAND.start, LEFT_HAND.stop))


def flip_left_right(pose: np.ndarray) -> np.ndarray:
    """Swap every left joint (and hand) with its right partner (the labels, not the positions)."""
    return pose[..., flip_index(pose.shape[-2]), :]


def torso_size(pose: np.ndarray) -> float:
    """Mean of the two shoulder-to-opposite-hip distances (0 when not measurable)."""
    pairs = ((J["r_shoulder"], J["l_hip"]), (J["l_shoulder"], J["r_hip"]))
    d = [np.linalg.norm(pose[a, :2] - pose[b, :2]) for a, b in pairs
         if pose[a, 2] > 0 and pose[b, 2] > 0]
    return float(np.mean(d)) if d else 0.0


def scale_keypoints(keypoints: np.ndarray, from_size: tuple[int, int],
                    to_size: tuple[int, int]) -> np.ndarray:
    """Keypoints (..., 18, 3) from one (w, h) frame size to another; missing joints stay 0."""
    out = keypoints.astype(np.float32).copy()
    out[..., 0] *= to_size[0] / from_size[0]
    out[..., 1] *= to_size[1] / from_size[1]
    return out


# COCO-format keypoint names (COCO, OCHuman, CrowdPose, ...) -> COCO-18 joints.
_COCO_NAMES = {
    "nose": "nose", "neck": "neck",
    "left_eye": "l_eye", "right_eye": "r_eye", "left_ear": "l_ear", "right_ear": "r_ear",
    "left_shoulder": "l_shoulder", "right_shoulder": "r_shoulder",
    "left_elbow": "l_elbow", "right_elbow": "r_elbow", "left_wrist": "l_wrist", "right_wrist": "r_wrist",
    "left_hip": "l_hip", "right_hip": "r_hip", "left_knee": "l_knee", "right_knee": "r_knee",
    "left_ankle": "l_ankle", "right_ankle": "r_ankle",
}


@dataclass
class AnnotatedImage:
    """One image of a COCO-format keypoint file (width and height 0 when the file does not
    give them). people: (P, 18, 3) COCO-18 with confidence 1
    where labelled (visible or not), the neck as the shoulders' midpoint unless the file has
    a neck; labelled: (P, 18) bool, the joints the file itself labels (not a derived neck)."""
    file_name: str
    width: int
    height: int
    people: np.ndarray
    labelled: np.ndarray


def read_coco_keypoints(path: str | os.PathLike) -> list[AnnotatedImage]:
    """The images of a COCO-format keypoint annotation file with their people, in the file's
    image order. Keypoints are mapped to COCO-18 by name; names with no COCO-18 joint (a
    head top) are left out."""
    try:
        with open(path) as f:
            data = json.load(f)
        names = next(c["keypoints"] for c in data["categories"] if "keypoints" in c)
        images, annotations = data["images"], data["annotations"]
    except (OSError, ValueError, KeyError, StopIteration, TypeError) as e:
        raise InputError(f"{path} is not a COCO keypoint annotation file ({type(e).__name__}: {e})") from None
    index = [J.get(_COCO_NAMES.get(n, ""), None) for n in names]
    if sum(i is not None for i in index) < 4:
        raise InputError(f"{path}: its keypoints ({', '.join(names)}) hardly map to COCO-18")
    by_image: dict[object, list[tuple[np.ndarray, np.ndarray]]] = {im["id"]: [] for im in images}
    for a in annotations:
        if a.get("image_id") not in by_image:
            continue
        raw = np.asarray(a.get("keypoints", []), np.float32).reshape(-1, 3)
        pose, labelled = empty_pose(), np.zeros(NUM_JOINTS, bool)
        for src, dst in enumerate(index):
            if dst is not None and src < len(raw) and raw[src, 2] > 0:
                pose[dst] = (raw[src, 0], raw[src, 1], 1.0)
                labelled[dst] = True
        if not labelled[J["neck"]]:
            pose = with_neck(pose)
        by_image[a["image_id"]].append((pose, labelled))
    out = []
    for im in images:
        people = by_image[im["id"]]
        out.append(AnnotatedImage(
            im["file_name"], int(im.get("width", 0)), int(im.get("height", 0)),
            np.stack([p for p, _ in people]) if people else np.zeros((0, NUM_JOINTS, 3), np.float32),
            np.stack([m for _, m in people]) if people else np.zeros((0, NUM_JOINTS), bool)))
    return out


def joint_speed(keypoints: np.ndarray, min_conf: float = 0.1) -> np.ndarray:
    """(N,) each frame's mean body-joint displacement in pixels from the frame before (the
    first frame's: to the next), over the joints seen in both; 0 where none is."""
    body = keypoints[:, :NUM_JOINTS]
    seen = (body[1:, :, 2] > min_conf) & (body[:-1, :, 2] > min_conf)
    step = np.linalg.norm(body[1:, :, :2] - body[:-1, :, :2], axis=-1)
    with np.errstate(invalid="ignore"):
        moved = np.where(seen.any(-1), np.where(seen, step, 0).sum(-1) / seen.sum(-1), 0.0)
    return np.concatenate([moved[:1], moved]) if len(moved) else np.zeros(len(keypoints))


def fastest_quarter(speed: np.ndarray) -> np.ndarray:
    """(N,) bool: the quarter of the N frames (at least one) with the highest ``speed`` (e.g.
    ``joint_speed``); ties keep the earlier frame."""
    order = np.argsort(-speed, kind="stable")
    fast = np.zeros(len(speed), bool)
    fast[order[:max(1, len(speed) // 4)]] = True
    return fast

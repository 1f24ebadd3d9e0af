"""Skeleton label maps: what the generator sees (the face box is ``edn.core.face_box``).

Colours are **RGB** everywhere in edn (frames are RGB too); convert once with
``cv2.cvtColor`` only when handing an image to an OpenCV writer. The palette is OpenPose's
18 colours (its demo list, whose entries OpenPose's C++ renderer reads as R, G, B): limb i
of ``edn.core.keypoints.LIMBS`` and joint i of COCO-18 both take ``COLORS[i]``.

Whole-body keypoints (130 points, ``edn.core.keypoints``) add OpenPose's face, drawn as
white lines (jaw, brows, nose bridge and base, eyes and lips, closed where OpenPose closes
them) with the pupils as dots, and the hands, each bone in OpenPose's hand colour of the
point it ends at (its ``HAND_COLORS_RENDER``, per finger from dark to bright).

Sizes are given at a 512-px frame (the EDN resolution) and scale with ``min(h, w)``, so a
label map rendered at 1024 px is the 512-px one upsampled, not a thinner stick figure.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from edn.core.keypoints import FACE, LEFT_HAND, LIMBS, NUM_JOINTS, PARTS, RIGHT_HAND, WHOLE_JOINTS, keep_parts

COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0),
    (85, 255, 0), (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255),
    (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255), (170, 0, 255),
    (255, 0, 255), (255, 0, 170), (255, 0, 85),
)

# OpenPose's face: chains of points joined by lines, (first, last, closed).
FACE_CHAINS: tuple[tuple[int, int, bool], ...] = (
    (0, 16, False), (17, 21, False), (22, 26, False), (27, 30, False), (31, 35, False),
    (36, 41, True), (42, 47, True), (48, 59, True), (60, 67, True),
)
FACE_PUPILS = (68, 69)
FACE_COLOR = (255, 255, 255)
# OpenPose's hand: the wrist to each finger's base, then along the finger.
HAND_BONES: tuple[tuple[int, int], ...] = tuple(
    (0 if k == 0 else 1 + 4 * f + k - 1, 1 + 4 * f + k) for f in range(5) for k in range(4))
HAND_COLORS: tuple[tuple[int, int, int], ...] = (
    (100, 100, 100),
    (100, 0, 0), (150, 0, 0), (200, 0, 0), (255, 0, 0),
    (100, 100, 0), (150, 150, 0), (200, 200, 0), (255, 255, 0),
    (0, 100, 50), (0, 150, 75), (0, 200, 100), (0, 255, 125),
    (0, 50, 100), (0, 75, 150), (0, 100, 200), (0, 125, 255),
    (100, 0, 100), (150, 0, 150), (200, 0, 200), (255, 0, 255),
)

REFERENCE_SIZE = 512  # frame side the pixel sizes below are quoted at
LIMB_HALF_WIDTH = 4.0  # OpenPose's stickwidth: the ellipse's minor semi-axis
JOINT_RADIUS = 4.0
FACE_LINE_WIDTH = 2.0  # face and hand lines
HAND_LINE_WIDTH = 3.0
PUPIL_RADIUS = 2.0
CONF_THRESHOLD = 0.1

_SHIFT = 4  # OpenCV fixed-point bits: draw at 1/16 px so slow motion does not snap to pixels
_ONE = 1 << _SHIFT
_ELLIPSE_STEPS = 24
_UNIT_T = np.linspace(0, 2 * np.pi, _ELLIPSE_STEPS, endpoint=False)
_COS_T, _SIN_T = np.cos(_UNIT_T), np.sin(_UNIT_T)


def size_scale(size: tuple[int, int]) -> float:
    return min(size) / REFERENCE_SIZE


def _limb_polygon(p0: np.ndarray, p1: np.ndarray, half_width: float) -> np.ndarray:
    """Outline of the ellipse spanning p0..p1 (OpenPose's limb shape), fixed-point int32."""
    centre = (p0 + p1) / 2
    d = p1 - p0
    half_length = max(float(np.hypot(*d)) / 2, half_width)
    angle = math.atan2(d[1], d[0])
    ex, ey = half_length * _COS_T, half_width * _SIN_T
    ca, sa = math.cos(angle), math.sin(angle)
    pts = np.stack([centre[0] + ca * ex - sa * ey, centre[1] + sa * ex + ca * ey], axis=1)
    return np.round(pts * _ONE).astype(np.int32)


def _draw_in_place(canvas: np.ndarray, pose: np.ndarray, conf_threshold: float) -> None:
    h, w = canvas.shape[:2]
    s = size_scale((h, w))
    half_width = LIMB_HALF_WIDTH * s
    radius = max(1, round(JOINT_RADIUS * s * _ONE))
    pose = np.asarray(pose, np.float64)
    seen = pose[:, 2] >= conf_threshold
    for i, (a, b) in enumerate(LIMBS):
        if seen[a] and seen[b]:
            cv2.fillConvexPoly(canvas, _limb_polygon(pose[a, :2], pose[b, :2], half_width),
                               COLORS[i], cv2.LINE_8, _SHIFT)
    for j in np.flatnonzero(seen[:NUM_JOINTS]):
        cv2.circle(canvas, _fixed(pose[j]), radius, COLORS[j], -1, cv2.LINE_8, _SHIFT)
    if len(pose) == WHOLE_JOINTS:
        _draw_face(canvas, pose[FACE], seen[FACE], s)
        for hand in (LEFT_HAND, RIGHT_HAND):
            _draw_hand(canvas, pose[hand], seen[hand], s)


def _fixed(point: np.ndarray) -> tuple[int, int]:
    return int(round(point[0] * _ONE)), int(round(point[1] * _ONE))


def _draw_face(canvas: np.ndarray, face: np.ndarray, seen: np.ndarray, s: float) -> None:
    width = max(1, round(FACE_LINE_WIDTH * s))
    for first, last, closed in FACE_CHAINS:
        chain = list(range(first, last + 1)) + ([first] if closed else [])
        for a, b in zip(chain, chain[1:]):
            if seen[a] and seen[b]:
                cv2.line(canvas, _fixed(face[a]), _fixed(face[b]), FACE_COLOR, width, cv2.LINE_8, _SHIFT)
    radius = max(1, round(PUPIL_RADIUS * s * _ONE))
    for p in FACE_PUPILS:
        if seen[p]:
            cv2.circle(canvas, _fixed(face[p]), radius, FACE_COLOR, -1, cv2.LINE_8, _SHIFT)


def _draw_hand(canvas: np.ndarray, hand: np.ndarray, seen: np.ndarray, s: float) -> None:
    width = max(1, round(HAND_LINE_WIDTH * s))
    for a, b in HAND_BONES:
        if seen[a] and seen[b]:
            cv2.line(canvas, _fixed(hand[a]), _fixed(hand[b]), HAND_COLORS[b], width, cv2.LINE_8, _SHIFT)


def draw_skeleton(image_rgb: np.ndarray, pose: np.ndarray,
                  conf_threshold: float = CONF_THRESHOLD, alpha: float = 1.0) -> np.ndarray:
    """Draw a COCO-18 ``pose`` (18, 3), or a whole-body one (130, 3) with its face and
    hands, onto a copy of an RGB uint8 image.

    Joints below ``conf_threshold`` are not drawn, nor any limb touching them, so a missing
    joint leaves a gap instead of a line to (0, 0). ``alpha`` < 1 blends the figure over the
    image (for overlays); label maps use 1 so every pixel is an exact palette colour.
    """
    canvas = image_rgb.copy()
    _draw_in_place(canvas, pose, conf_threshold)
    if alpha >= 1:
        return canvas
    return cv2.addWeighted(canvas, alpha, image_rgb, 1 - alpha, 0)


def render_label_map(pose: np.ndarray, size: tuple[int, int] = (512, 512),
                     conf_threshold: float = CONF_THRESHOLD,
                     parts: Sequence[str] = PARTS) -> np.ndarray:
    """The generator's input: the stick figure of ``pose`` on black, uint8 (h, w, 3) RGB,
    with those of ``parts`` (``edn.core.keypoints.PARTS``) that the pose has."""
    h, w = size
    label = np.zeros((h, w, 3), np.uint8)
    _draw_in_place(label, keep_parts(pose, parts), conf_threshold)
    return label


def render_labels(keypoints: np.ndarray, size: tuple[int, int],
                  parts: Sequence[str] = PARTS) -> np.ndarray:
    """Label maps (N, h, w, 3) uint8 for keypoints already in (w, h) pixels, drawing those
    of ``parts`` that the keypoints have."""
    return np.stack([render_label_map(k, (size[1], size[0]), parts=parts) for k in keypoints])

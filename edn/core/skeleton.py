"""Skeleton label maps: what the generator sees, and the face box the face GAN crops.

Colours are **RGB** everywhere in edn (frames are RGB too); convert once with
``cv2.cvtColor`` only when handing an image to an OpenCV writer. The palette is OpenPose's
18 colours (its demo list, whose entries OpenPose's C++ renderer reads as R, G, B): limb i
of ``edn.core.keypoints.LIMBS`` and joint i of COCO-18 both take ``COLORS[i]``.

Sizes are given at a 512-px frame (the EDN resolution) and scale with ``min(h, w)``, so a
label map rendered at 1024 px is the 512-px one upsampled, not a thinner stick figure.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from edn.core.keypoints import LIMBS, J

COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0),
    (85, 255, 0), (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255),
    (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255), (170, 0, 255),
    (255, 0, 255), (255, 0, 170), (255, 0, 85),
)

REFERENCE_SIZE = 512  # frame side the pixel sizes below are quoted at
LIMB_HALF_WIDTH = 4.0  # OpenPose's stickwidth: the ellipse's minor semi-axis
JOINT_RADIUS = 4.0
FACE_BOX_SIDE = 128  # EDN's face crop at 512-px frames
CONF_THRESHOLD = 0.1

_SHIFT = 4  # OpenCV fixed-point bits: draw at 1/16 px so slow motion does not snap to pixels
_ONE = 1 << _SHIFT
_ELLIPSE_STEPS = 24
_UNIT_T = np.linspace(0, 2 * np.pi, _ELLIPSE_STEPS, endpoint=False)
_COS_T, _SIN_T = np.cos(_UNIT_T), np.sin(_UNIT_T)


def _scale(size: tuple[int, int]) -> float:
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
    s = _scale((h, w))
    half_width = LIMB_HALF_WIDTH * s
    radius = max(1, round(JOINT_RADIUS * s * _ONE))
    pose = np.asarray(pose, np.float64)
    seen = pose[:, 2] >= conf_threshold
    for i, (a, b) in enumerate(LIMBS):
        if seen[a] and seen[b]:
            cv2.fillConvexPoly(canvas, _limb_polygon(pose[a, :2], pose[b, :2], half_width),
                               COLORS[i], cv2.LINE_8, _SHIFT)
    for j in np.flatnonzero(seen):
        centre = tuple(int(v) for v in np.round(pose[j, :2] * _ONE))
        cv2.circle(canvas, centre, radius, COLORS[j], -1, cv2.LINE_8, _SHIFT)


def draw_skeleton(image_rgb: np.ndarray, pose: np.ndarray,
                  conf_threshold: float = CONF_THRESHOLD, alpha: float = 1.0) -> np.ndarray:
    """Draw a COCO-18 ``pose`` (18, 3) onto a copy of an RGB uint8 image.

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
                     conf_threshold: float = CONF_THRESHOLD) -> np.ndarray:
    """The generator's input: the stick figure of ``pose`` on black, uint8 (h, w, 3) RGB."""
    h, w = size
    label = np.zeros((h, w, 3), np.uint8)
    _draw_in_place(label, pose, conf_threshold)
    return label


def face_box_side(size: tuple[int, int]) -> int:
    """Side of the (unclipped) face box in an image of ``size`` (h, w)."""
    return max(1, round(FACE_BOX_SIDE * _scale(size)))


def face_centre(pose: np.ndarray, conf_threshold: float = CONF_THRESHOLD) -> tuple[float, float] | None:
    """The nose, or the ears' midpoint when the nose is missing; None without either."""
    pose = np.asarray(pose, np.float64)
    nose, r_ear, l_ear = pose[J["nose"]], pose[J["r_ear"]], pose[J["l_ear"]]
    if nose[2] >= conf_threshold:
        return float(nose[0]), float(nose[1])
    if r_ear[2] >= conf_threshold and l_ear[2] >= conf_threshold:
        return float(r_ear[0] + l_ear[0]) / 2, float(r_ear[1] + l_ear[1]) / 2
    return None


def face_box(pose: np.ndarray, size: tuple[int, int] = (512, 512),
             conf_threshold: float = CONF_THRESHOLD) -> tuple[int, int, int, int] | None:
    """Square face box (x0, y0, x1, y1), x1/y1 exclusive so ``img[y0:y1, x0:x1]`` crops it.

    Side 128 px at 512 px, scaled with ``min(h, w)``; centred on the nose, or on the ears'
    midpoint when the nose is missing; then clipped to the image (so it is smaller than
    the full side at a border). None when neither the nose nor both ears are visible.
    """
    h, w = size
    centre = face_centre(pose, conf_threshold)
    if centre is None:
        return None
    cx, cy = centre
    side = face_box_side(size)
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    return (min(max(x0, 0), w), min(max(y0, 0), h),
            min(max(x0 + side, 0), w), min(max(y0 + side, 0), h))


def render_labels(keypoints: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Label maps (N, h, w, 3) uint8 for keypoints already in (w, h) pixels."""
    return np.stack([render_label_map(k, (size[1], size[0])) for k in keypoints])

"""The face box: a square around the face, 128 px at a 512-px frame (EDN's face crop) and
scaled with ``min(h, w)``, centred on the nose or on the ears' midpoint when the nose is
missing. ``face_box`` clips it to the image (what the face metrics score); ``face_crop_box``
shifts it inside the image instead, so every crop the face GAN sees has the full side.
"""
from __future__ import annotations

import numpy as np

from edn.core.keypoints import J
from edn.core.skeleton import CONF_THRESHOLD, size_scale
from edn.core.window import Box

FACE_BOX_SIDE = 128  # EDN's face crop at 512-px frames


def face_box_side(size: tuple[int, int]) -> int:
    """Side of the (unclipped) face box in an image of ``size`` (h, w)."""
    return max(1, round(FACE_BOX_SIDE * size_scale(size)))


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
             conf_threshold: float = CONF_THRESHOLD,
             scale: float = 1.0) -> Box | None:
    """Square face box (x0, y0, x1, y1), x1/y1 exclusive so ``img[y0:y1, x0:x1]`` crops it.

    Side 128 px at 512 px, scaled with ``min(h, w)`` and by ``scale`` (0.5: the box's
    central half, the face itself without the hair, neck and background around it);
    centred on the nose, or on the ears' midpoint when the nose is missing; then clipped
    to the image (so it is smaller than the full side at a border). None when neither
    the nose nor both ears are visible.
    """
    h, w = size
    centre = face_centre(pose, conf_threshold)
    if centre is None:
        return None
    cx, cy = centre
    side = max(1, round(face_box_side(size) * scale))
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    return (min(max(x0, 0), w), min(max(y0, 0), h),
            min(max(x0 + side, 0), w), min(max(y0 + side, 0), h))


def face_crop_box(pose: np.ndarray, size: tuple[int, int], side: int | None = None) -> Box | None:
    """The face box of ``pose`` (18, 3) in an image of ``size`` (h, w), kept square at its
    full side by shifting it inside the image instead of clipping; None without a face or
    when the face's centre lies outside the image (a head cut off by the frame). ``side``:
    the box's side when the image is a window of a larger frame (the frame's face box side)."""
    centre = face_centre(pose)
    h, w = size
    if centre is None or not (0 <= centre[0] < w and 0 <= centre[1] < h):
        return None
    s = side if side is not None else face_box_side(size)
    x0 = min(max(round(centre[0] - s / 2), 0), w - s)
    y0 = min(max(round(centre[1] - s / 2), 0), h - s)
    return x0, y0, x0 + s, y0 + s

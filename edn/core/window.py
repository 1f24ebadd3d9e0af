"""The person window: boxes around a skeleton, and a fixed-size window that follows the person.

A composited generator (edn.models.composite) only has to draw the person: outside the
person the frame is the background plate. With ``generator.person_window`` it runs on a
fixed-size window around the person instead of the whole frame, and the window is pasted
into the plate. On a target who fills half the frame that halves every step's cost; on one
who moves around a wide frame it saves more. The window's size is set once per run from the
training skeletons (``window_size``); each frame's window is centred on its skeleton
(``window_origin``) and kept inside the frame.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive ends)
Size = tuple[int, int]  # (w, h)


def body_box(pose: np.ndarray, size: tuple[int, int], margin: float = 0.15,
             min_conf: float = 0.1) -> Box | None:
    """(x0, y0, x1, y1), exclusive ends, around the confident joints of ``pose``, grown by
    ``margin`` of the box's longer side on every side (the head top and feet lie beyond the
    joints) and clipped to the image of ``size`` (h, w); None with fewer than 2 joints."""
    seen = pose[:, 2] > min_conf
    if seen.sum() < 2:
        return None
    h, w = size
    x0, y0 = pose[seen, :2].min(0)
    x1, y1 = pose[seen, :2].max(0)
    pad = margin * max(x1 - x0, y1 - y0)
    return (max(0, int(x0 - pad)), max(0, int(y0 - pad)),
            min(w, int(np.ceil(x1 + pad)) + 1), min(h, int(np.ceil(y1 + pad)) + 1))


def window_size(keypoints: np.ndarray, frame: Size, multiple: int, margin: float = 0.15,
                slack: float = 0.1) -> Size:
    """The window (w, h) for a run: the largest ``body_box`` over the frames of ``keypoints``
    (N, 18, 3), ``slack`` of its size larger still (a source pose may reach a little further
    than any training pose), rounded up to a ``multiple`` (the generator's stride) and at most
    the ``frame`` (w, h). The whole frame when no frame shows a person."""
    boxes = [b for b in (body_box(k, frame[::-1], margin) for k in keypoints) if b is not None]
    if not boxes:
        return frame
    w = max(b[2] - b[0] for b in boxes) * (1 + slack)
    h = max(b[3] - b[1] for b in boxes) * (1 + slack)
    return (min(frame[0], multiple * math.ceil(w / multiple)),
            min(frame[1], multiple * math.ceil(h / multiple)))


def window_origin(poses: Sequence[np.ndarray], window: Size, frame: Size,
                  fallback: tuple[int, int] | None = None) -> tuple[int, int]:
    """(x0, y0) of the window centred on the box around every confident joint of ``poses``
    (one pose, or both of a training pair, so one window holds both frames), moved inside the
    ``frame``. Without any joint: ``fallback`` (e.g. the last frame's window), else centred."""
    seen = [p[p[:, 2] > 0.1, :2] for p in poses]
    points = np.concatenate(seen) if seen else np.empty((0, 2))
    if len(points) < 2:
        if fallback is not None:
            return fallback
        centre = (frame[0] / 2, frame[1] / 2)
    else:
        lo, hi = points.min(0), points.max(0)
        centre = ((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2)
    x0 = min(max(round(centre[0] - window[0] / 2), 0), frame[0] - window[0])
    y0 = min(max(round(centre[1] - window[1] / 2), 0), frame[1] - window[1])
    return x0, y0


def window_box(origin: tuple[int, int], window: Size) -> Box:
    return origin[0], origin[1], origin[0] + window[0], origin[1] + window[1]


def shift_keypoints(keypoints: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """Keypoints (..., 18, 3) into the coordinates of a window at ``origin``; missing joints
    stay 0."""
    out = keypoints.astype(np.float32).copy()
    out[..., 0] -= origin[0]
    out[..., 1] -= origin[1]
    out[out[..., 2] <= 0] = 0
    return out


def crop(images: torch.Tensor, boxes: Sequence[Box]) -> torch.Tensor:
    """(B, C, H, W) images, one box per image (all of one size) -> (B, C, h, w) crops."""
    return torch.stack([im[:, y0:y1, x0:x1] for im, (x0, y0, x1, y1) in zip(images, boxes)])


def paste(images: torch.Tensor, crops: torch.Tensor, boxes: Sequence[Box]) -> torch.Tensor:
    """A copy of ``images`` with ``crops`` put back at ``boxes``."""
    out = images.clone()
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        out[i, :, y0:y1, x0:x1] = crops[i].to(out.dtype)
    return out

"""Post-processing of one person's keypoint track (frames, 18 or 130, 3): pure functions."""
from __future__ import annotations

import numpy as np

from edn.core.keypoints import FLIP_INDEX, NUM_JOINTS, flip_index, torso_size

# Joints whose left/right labels a detector can swap (all but nose and neck).
SIDED = np.array([i for i, j in enumerate(FLIP_INDEX) if i != j])


def _motion(a: np.ndarray, b: np.ndarray, scale: float, min_conf: float) -> float:
    """Mean displacement of the sided joints seen in both poses, in units of ``scale``;
    0 when fewer than 4 such joints (no evidence)."""
    both = (a[SIDED, 2] > min_conf) & (b[SIDED, 2] > min_conf)
    if both.sum() < 4:
        return 0.0
    d = a[SIDED, :2][both] - b[SIDED, :2][both]
    return float(np.linalg.norm(d, axis=1).mean() / scale)


def side_swap_path(poses: np.ndarray, swap_cost: float = 0.02, min_conf: float = 0.3) -> np.ndarray:
    """Which frames to left/right-swap so that the track moves least (Viterbi over two states).

    A detector that swaps the labels of the whole body (BlazePose does, for a stretch of
    frames, when it takes a person facing the camera to face away) makes the labelled
    joints jump while the body does not. With two states per frame (as detected, swapped),
    the cost of a path is the summed frame-to-frame motion of the labelled joints (in torso
    units) plus ``swap_cost`` per swapped frame, so with no motion evidence the detector's
    labels win. Frames without a person carry the state through. Returns a bool (frames,).
    """
    n = len(poses)
    swapped = poses[:, list(FLIP_INDEX)]
    sizes = [torso_size(p) for p in poses if (p[:, 2] > min_conf).sum() >= 4]
    scale = float(np.median([s for s in sizes if s > 0])) if any(s > 0 for s in sizes) else 1.0
    variants = (poses, swapped)
    cost = np.array([0.0, swap_cost])
    back = np.zeros((n, 2), np.int8)
    last = None  # index of the previous frame with a person
    for t in range(n):
        if (poses[t, :, 2] > min_conf).sum() < 4:
            back[t] = (0, 1)
            continue
        if last is None:
            new = np.array([0.0, swap_cost])
            back[t] = (0, 1)
        else:
            new = np.empty(2)
            for s in (0, 1):
                steps = [cost[p] + _motion(variants[s][t], variants[p][last], scale, min_conf)
                         for p in (0, 1)]
                back[t, s] = int(np.argmin(steps))
                new[s] = min(steps) + (swap_cost if s else 0.0)
        cost, last = new, t
    path = np.zeros(n, bool)
    state = int(np.argmin(cost))
    for t in range(n - 1, -1, -1):
        path[t] = bool(state)
        state = back[t, state]
    return path


def fix_side_swaps(poses: np.ndarray, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """(poses with swapped frames corrected, the bool mask of corrected frames). The swaps
    are found on the body; whole-body poses swap their hands with it (``flip_index``)."""
    path = side_swap_path(poses[:, :NUM_JOINTS], **kwargs)
    fixed = poses.copy()
    fixed[path] = poses[path][:, list(flip_index(poses.shape[1]))]
    return fixed, path


def median_filter(poses: np.ndarray, window: int = 7, min_conf: float = 0.05,
                  max_gap: int = 3) -> np.ndarray:
    """Confidence-aware temporal median of each joint's position (EDN uses 7 frames).

    Each output position is the median over the window of the frames where that joint was
    seen. A joint missing for a run of at most ``max_gap`` frames between two sightings is
    filled the same way (confidence = the lower of the two sightings'); longer gaps, and
    gaps at the ends, stay missing (confidence 0, x = y = 0) rather than invented.
    """
    n, joints = poses.shape[:2]
    half = window // 2
    out = np.zeros_like(poses)
    seen = poses[:, :, 2] > min_conf
    for j in range(joints):
        idx = np.flatnonzero(seen[:, j])
        if not len(idx):
            continue
        for t in range(n):
            if seen[t, j]:
                conf = poses[t, j, 2]
            else:
                k = np.searchsorted(idx, t)
                if k == 0 or k == len(idx) or idx[k] - idx[k - 1] - 1 > max_gap:
                    continue
                conf = min(poses[idx[k - 1], j, 2], poses[idx[k], j, 2])
            lo, hi = np.searchsorted(idx, t - half), np.searchsorted(idx, t + half, "right")
            near = idx[lo:hi]
            if not len(near):  # a filled frame whose sightings are outside the window
                near = idx[max(k - 1, 0):k + 1]
            out[t, j, :2] = np.median(poses[near, j, :2], axis=0)
            out[t, j, 2] = conf
    return out


class OneEuro:
    """Causal One-Euro filter (Casiez et al. 2012) of one person's keypoints, a frame at a
    time, for live use (the offline 7-frame median needs the frames after). Per joint and
    axis: a low-pass whose cutoff rises with the joint's speed, ``min_cutoff`` Hz at rest plus
    ``beta`` Hz per (``scale`` px a second), the speed itself low-passed at ``d_cutoff`` Hz. A
    joint not seen (confidence 0) is not held: it passes as unseen, and restarts from its next
    sighting. Defaults: bench/keypoint_jitter.py's setting for dance (1 Hz, 0.3 per torso a
    second, 1 Hz)."""

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 0.3,
                 d_cutoff: float = 1.0, scale: float = 1.0) -> None:
        self.fps, self.min_cutoff, self.beta, self.d_cutoff, self.scale = fps, min_cutoff, beta, d_cutoff, scale
        self.position: np.ndarray | None = None  # (J, 2) filtered positions
        self.speed: np.ndarray | None = None     # (J, 2) filtered speeds, px a second
        self.seen: np.ndarray | None = None      # (J,) seen in the frame before

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray:
        tau = 1.0 / (2 * np.pi * np.asarray(cutoff))
        return 1.0 / (1.0 + tau * self.fps)

    def reset(self) -> None:
        """Forget the past (after frames without the person)."""
        self.position = self.speed = self.seen = None

    def __call__(self, pose: np.ndarray, dt: float | None = None) -> np.ndarray:
        """The filtered pose (J, 3) of the next frame's ``pose`` (J, 3), ``dt`` seconds after the
        frame before (default 1 / fps: a steady rate)."""
        if dt is not None and dt > 0:
            self.fps = 1.0 / dt
        pose = np.asarray(pose, np.float32)
        seen = pose[:, 2] > 0
        xy = pose[:, :2].astype(np.float64)
        if self.position is None or self.position.shape != xy.shape:
            self.position, self.speed, self.seen = xy.copy(), np.zeros_like(xy), seen
        else:
            kept = (seen & self.seen)[:, None]
            raw_speed = (xy - self.position) * self.fps
            speed = self.speed + self._alpha(self.d_cutoff) * (raw_speed - self.speed)
            cutoff = self.min_cutoff + self.beta * np.abs(speed) / self.scale
            position = self.position + self._alpha(cutoff) * (xy - self.position)
            self.position = np.where(kept, position, xy)
            self.speed = np.where(kept, speed, 0.0)
            self.seen = seen
        out = pose.copy()
        out[:, :2] = np.where(seen[:, None], self.position, 0.0)
        return out

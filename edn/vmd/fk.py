"""Forward kinematics: a skeleton posed by per-frame bone rotations and translations (what a
VMD holds), and a VMD's keyframes sampled at every frame (MMD's linear interpolation)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from edn.vmd import rotations as rot
from edn.vmd.format import Motion
from edn.vmd.skeleton import Skeleton


def pose(skeleton: Skeleton, rotations: dict[str, np.ndarray], translations: dict[str, np.ndarray],
         frames: int) -> tuple[np.ndarray, np.ndarray]:
    """World positions (T, B, 3) and world rotations (T, B, 4) of every bone. A bone's world
    rotation is its parent's times its own (local) rotation; its position is its parent's
    plus the parent's world rotation applied to (rest offset from the parent + its
    translation). Bones without a track keep identity and no translation (IK is not solved:
    the legs are taken as FK)."""
    count = len(skeleton.names)
    positions = np.zeros((frames, count, 3))
    world = np.tile(rot.IDENTITY, (frames, count, 1))
    for i in skeleton.order():
        name = skeleton.names[i]
        local = rotations.get(name)
        offset = translations.get(name, np.zeros((frames, 3)))
        p = skeleton.parents[i]
        if 0 <= p < count:
            positions[:, i] = positions[:, p] + rot.rotate(world[:, p], skeleton.rest[i] - skeleton.rest[p] + offset)
            world[:, i] = world[:, p] if local is None else rot.mul(world[:, p], local)
        else:
            positions[:, i] = skeleton.rest[i] + offset
            world[:, i] = rot.IDENTITY if local is None else local
    return positions, world


def sample(motion: Motion, frames: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
    """Every bone's rotation and translation at frames 0 .. last key (or ``frames``), linearly
    interpolated between its keys (slerp for rotations), held before the first and after the
    last key."""
    keys = defaultdict(list)
    for k in motion.bones:
        keys[k.name].append(k)
    last = max((k.frame for k in motion.bones), default=0)
    frames = last + 1 if frames is None else frames
    t = np.arange(frames)
    rotations, translations = {}, {}
    for name, track in keys.items():
        track.sort(key=lambda k: k.frame)
        at = np.array([k.frame for k in track])
        q = rot.continuous(np.array([k.rotation for k in track], np.float64))
        p = np.array([k.position for k in track], np.float64)
        j = np.clip(np.searchsorted(at, t, side="right") - 1, 0, len(at) - 1)
        k = np.minimum(j + 1, len(at) - 1)
        span = np.maximum(at[k] - at[j], 1)
        f = np.clip((t - at[j]) / span, 0.0, 1.0)
        rotations[name] = rot.slerp(q[j], q[k], f[:, None])
        translations[name] = p[j] + (p[k] - p[j]) * f[:, None]
    return rotations, translations, frames

"""Forward kinematics: a skeleton posed by per-frame bone rotations and translations (what a
VMD holds), and a VMD's keyframes sampled at every frame (by each key's interpolation curves,
edn.vmd.curves)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from edn.vmd import rotations as rot
from edn.vmd.curves import curves_of, evaluate
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
    """Every bone's rotation and translation at frames 0 .. last key (or ``frames``),
    interpolated between its keys by the later key's curves (slerp for rotations), held
    before the first and after the last key."""
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
        weights = np.empty((frames, 4))  # X, Y, Z, rotation
        for key in np.unique(k):
            here = k == key
            for c, curve in enumerate(curves_of(track[key].interpolation)):
                weights[here, c] = evaluate(curve, f[here])
        rotations[name] = rot.slerp(q[j], q[k], weights[:, 3:])
        translations[name] = p[j] + (p[k] - p[j]) * weights[:, :3]
    return rotations, translations, frames


# The limb, spine and neck bones whose directions a motion must reproduce: (model bone from,
# to) against (3D joint from, to), per side where it has one.
DIRECTION_CHECKS = ((("上半身2", "首"), ("pelvis", "neck")), (("首", "頭"), ("neck", "head"))) + tuple(
    ((side + a, side + b), (f"{s}_{ja}", f"{s}_{jb}")) for side, s in (("左", "l"), ("右", "r"))
    for (a, b), (ja, jb) in ((("腕", "ひじ"), ("sh", "el")), (("ひじ", "手首"), ("el", "wr")),
                             (("足", "ひざ"), ("hip", "knee")), (("ひざ", "足首"), ("knee", "ank"))))


def direction_errors(skeleton: Skeleton, positions: np.ndarray, joints: dict[str, np.ndarray]) -> np.ndarray:
    """Angles (degrees) between the posed model's bones and the 3D joints' bones, every
    frame and bone of ``DIRECTION_CHECKS`` (上半身 stands in for a model without 上半身2)."""
    i = skeleton.index
    out = []
    for (a, b), (ja, jb) in DIRECTION_CHECKS:
        a = a if a in skeleton else "上半身"
        model = rot.normalize(positions[:, i(b)] - positions[:, i(a)])
        truth = rot.normalize(joints[jb] - joints[ja])
        out.append(np.degrees(np.arccos(np.clip((model * truth).sum(1), -1, 1))))
    return np.concatenate(out)

"""3D joints -> MMD bone rotations, センター travel and height, cleaned and reduced.

Rotations. Each driven bone's world rotation is frame(current direction, reference) .
frame(rest direction, rest reference)^-1 (``rotations.align``), its rest direction being from
the bone to the model's next joint; its local rotation is (world rotation of the nearest
driven ancestor)^-1 . world. References fix the roll about the bone:
- torso (上半身, 上半身2), neck, shoulders: the shoulder line; lower body (下半身): the hip line;
  head: the ear line, with the nose's side as front (a neutral head has the nose 17 degrees
  below the ears' level);
- upper arm / thigh: the plane the limb bends in (towards the forearm, or away from the
  shin), blended into the torso's / pelvis's front as the limb straightens, so a straight
  limb keeps the body's roll instead of spinning;
- forearm: the hand's frame (index - pinky) when the detector saw the hand, else the
  smallest rotation from the upper arm's frame (the elbow works as a hinge; the upper arm's
  roll is kept, no corkscrew); shin: the smallest rotation from the thigh's frame;
- wrist and ankle: the hand (index/pinky) and the foot (heel to toe) when seen, else no
  rotation of their own.

Legs are IK by default: the 足ＩＫ bones' positions and rotations (the つま先ＩＫ bones keyed
at rest on them, so the 足ＩＫ rotation turns the foot), held in place while a foot stands, the sole flat, and センター's height from the floor and the hips' own travel, so a jump
leaves the ground (``edn.vmd.ground``). The legs' FK rotations are written as well, solved for
the same targets: MMD's IK starts from them, and a reader without IK sees the same legs. ``fk_legs`` writes the FK rotations
alone with an IK-off frame at frame 0 for the model's IK bones, and センター's height each
frame putting the lowest point of the feet on the floor (the output before IK legs).

Travel: センター follows the body's travel (``edn.vmd.pose3d.travel``) sideways and in depth;
``in_place`` keeps depth at 0.

Clean-up: joints resampled to 30 fps, positions and quaternions low-passed (zero-phase
Gaussian; quaternions after making their signs continuous, never Euler angles), then each
track's keyframes reduced within the angle and position limits, always keeping the first and
last frame: by fitting MMD's Bézier curves between kept keys (edn.vmd.curves), or with
``curves`` off by Ramer-Douglas-Peucker with straight slerp / lerp between them (a key is
kept where leaving it out moves the bone by more than a limit).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import gaussian_filter1d

from edn.vmd import curves, ground
from edn.vmd import rotations as rot
from edn.vmd.fingers import finger_rotations
from edn.vmd.fk import pose
from edn.vmd.format import BoneKey, IKKey, Motion
from edn.vmd.pose3d import Joints3D
from edn.vmd.skeleton import SIDES, Skeleton

if TYPE_CHECKING:
    from edn.vmd.preview import Preview

FPS = 30.0
_SIDE = {"左": "l", "右": "r"}
_NECK_NOSE_PITCH = np.deg2rad(17.0)


@dataclass
class Options:
    fk_legs: bool = False
    in_place: bool = False          # no travel in depth
    smooth_sigma: float = 1.0       # frames at 30 fps, for joints and quaternions
    # degrees. 0.8, not 1: curves spend the limit over more frames than straight lines, and at
    # 1 degree the dance's bone directions drifted (mean 1.19 against 1.13 degrees with lines,
    # measured with FK legs); at 0.8 they held (1.11) with fewer keys than lines at 1 degree
    angle_threshold: float = 0.8
    position_threshold: float = 0.05  # MMD units (4 mm)
    curves: bool = True             # fit MMD's Bézier curves between keys (else straight lines)


@dataclass
class Report:
    frames: int
    source: str
    keys_before: int
    keys_after: int
    bones: list[str] = field(default_factory=list)
    standing: np.ndarray | None = None  # (T, 2) where each foot stands (IK legs)
    rise: float = 0.0               # センター's highest above its median height (units)
    depth: float = 0.0              # センター's range in depth (units)
    fingers: float | None = None    # share of the frames with a finger bent (None: none written)
    preview: Preview | None = None  # the preview page written, if one was

    def summary(self) -> str:
        legs = "FK legs" if self.standing is None else \
            f"IK legs, a foot standing in {self.standing.any(1).mean():.0%} of the frames"
        return (f"{self.frames} frames at 30 fps from {self.source}; {len(self.bones)} bones; "
                f"{self.keys_after} of {self.keys_before} keyframes kept; {legs}; センター up to "
                f"{self.rise:.1f} units above its usual height, {self.depth:.1f} units of travel in depth; "
                + ("no finger bones (no hands in the skeletons, or none in the model)" if self.fingers is None else
                   f"finger bones, bent in {self.fingers:.0%} of the frames")
                + (f"; {self.preview.summary()}" if self.preview is not None else ""))


def resample(joints: Joints3D, fps: float = FPS) -> Joints3D:
    """The joints at ``fps`` (linear in time), from frame 0 to the last input frame."""
    n = len(joints)
    t_in = np.arange(n) / joints.fps
    t_out = np.arange(0.0, t_in[-1] + 1e-9, 1.0 / fps) if n > 1 else np.zeros(1)

    def at(values: np.ndarray) -> np.ndarray:
        flat = values.reshape(n, -1)
        return np.stack([np.interp(t_out, t_in, flat[:, c]) for c in range(flat.shape[1])], 1).reshape(
            (len(t_out),) + values.shape[1:])

    return Joints3D({k: at(v) for k, v in joints.joints.items()}, at(joints.translation), fps, joints.source,
                    {k: at(v) for k, v in joints.bends.items()})


def low_pass(values: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian_filter1d(values, sigma, axis=0, mode="nearest") if sigma > 0 and len(values) > 1 else values


def smooth_quaternions(q: np.ndarray, sigma: float) -> np.ndarray:
    return rot.normalize(low_pass(rot.continuous(q), sigma))


def _blend(bent: np.ndarray, straight: np.ndarray, limb: np.ndarray) -> np.ndarray:
    """``bent`` where the limb bends (sine of the bend over 0.5), fading into ``straight``."""
    bent, straight, limb = rot.normalize(bent), rot.normalize(straight), rot.normalize(limb)
    w = np.clip(np.linalg.norm(np.cross(limb, bent), axis=-1) / 0.5, 0.0, 1.0)[..., None]
    return w * bent + (1 - w) * straight


def world_rotations(j: dict[str, np.ndarray], sk: Skeleton) -> dict[str, np.ndarray]:
    """World rotation (T, 4) of every bone the joints drive."""
    up = j["neck"] - j["pelvis"]
    lat_sh, lat_hip = j["l_sh"] - j["r_sh"], j["l_hip"] - j["r_hip"]
    front = np.cross(up, lat_sh)
    pelvis_front = np.cross(up, lat_hip)
    up0 = sk.position("首") - sk.position("上半身")
    lat0 = sk.position("左腕") - sk.position("右腕")
    front0 = np.cross(up0, lat0)
    out: dict[str, np.ndarray] = {}
    out["上半身"] = rot.align(up, lat_sh, up0, lat0)
    if "上半身2" in sk:
        out["上半身2"] = rot.align(up, lat_sh, sk.position("首") - sk.position("上半身2"), lat0)
    hips0 = (sk.position("左足") + sk.position("右足")) / 2
    out["下半身"] = rot.align(-up, lat_hip, hips0 - sk.position("下半身"), sk.position("左足") - sk.position("右足"))
    out["首"] = rot.align(j["head"] - j["neck"], lat_sh, sk.position("頭") - sk.position("首"), lat0)
    nose0 = np.array([0.0, -np.sin(_NECK_NOSE_PITCH), 0.0]) + np.cos(_NECK_NOSE_PITCH) * rot.normalize(front0)
    out["頭"] = rot.align(j["l_ear"] - j["r_ear"], j["nose"] - j["head"], lat0, nose0)
    for side in SIDES:
        s = _SIDE[side]
        sh, el, wr = j[f"{s}_sh"], j[f"{s}_el"], j[f"{s}_wr"]
        hip, knee, ank = j[f"{s}_hip"], j[f"{s}_knee"], j[f"{s}_ank"]
        p = sk.position
        out[side + "肩"] = rot.align(sh - j["neck"], up, p(side + "腕") - p(side + "肩"), up0)
        arm0, fore0 = p(side + "ひじ") - p(side + "腕"), p(side + "手首") - p(side + "ひじ")
        arm = rot.align(el - sh, _blend(wr - el, front, el - sh), arm0, front0)
        out[side + "腕"] = arm
        hand = f"{s}_index" in j and f"{s}_pinky" in j
        if hand:
            across = j[f"{s}_index"] - j[f"{s}_pinky"]
            out[side + "ひじ"] = rot.align(wr - el, across, fore0, front0)
            tip = p(side + "手先") - p(side + "手首") if side + "手先" in sk else fore0
            out[side + "手首"] = rot.align((j[f"{s}_index"] + j[f"{s}_pinky"]) / 2 - wr, across, tip, front0)
        else:
            out[side + "ひじ"] = rot.mul(rot.between(rot.rotate(arm, np.broadcast_to(fore0, arm[..., :3].shape)), wr - el), arm)
        thigh0, shin0 = p(side + "ひざ") - p(side + "足"), p(side + "足首") - p(side + "ひざ")
        thigh = rot.align(knee - hip, _blend(knee - ank, pelvis_front, knee - hip), thigh0, front0)
        out[side + "足"] = thigh
        out[side + "ひざ"] = rot.mul(rot.between(rot.rotate(thigh, np.broadcast_to(shin0, thigh[..., :3].shape)), ank - knee), thigh)
        toe = sk.toe(side)
        if toe is not None and f"{s}_toe" in j and f"{s}_heel" in j:
            out[side + "足首"] = rot.align(j[f"{s}_toe"] - ank, lat_hip, p(toe) - p(side + "足首"), lat0)
    return out


def local_rotations(world: dict[str, np.ndarray], sk: Skeleton) -> dict[str, np.ndarray]:
    """Each driven bone's rotation relative to its nearest driven ancestor."""
    out = {}
    for name, w in world.items():
        parent = sk.parents[sk.index(name)]
        while parent >= 0 and sk.names[parent] not in world:
            parent = sk.parents[parent]
        out[name] = w if parent < 0 else rot.mul(rot.conjugate(world[sk.names[parent]]), w)
    return out


def grounded(sk: Skeleton, local: dict[str, np.ndarray], travel: np.ndarray) -> np.ndarray:
    """センター's translation per frame: the travel, lifted or lowered so that the lowest
    foot point is at its rest height (the floor)."""
    frames = len(travel)
    positions, _ = pose(sk, local, {"センター": travel}, frames)
    out = travel.copy()
    out[:, 1] = travel[:, 1] - ground.Feet.of(sk, positions).heights.min(1)
    return out


def reduce_rotations(q: np.ndarray, threshold: float) -> list[int]:
    """Frames to keep so that slerp between kept keys stays within ``threshold`` radians."""
    return _reduce(len(q), lambda a, b, t: rot.angle(rot.slerp(q[a], q[b], ((t - a) / (b - a))[:, None]), q[t]), threshold)


def reduce_positions(p: np.ndarray, threshold: float) -> list[int]:
    return _reduce(len(p), lambda a, b, t: np.linalg.norm(
        p[a] + (p[b] - p[a]) * ((t - a) / (b - a))[:, None] - p[t], axis=1), threshold)


def _reduce(n: int, error, threshold: float) -> list[int]:
    keep = {0, n - 1}
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        t = np.arange(a + 1, b)
        e = error(a, b, t)
        worst = int(np.argmax(e))
        if e[worst] > threshold:
            m = int(t[worst])
            keep.add(m)
            stack += [(a, m), (m, b)]
    return sorted(keep)


def keys(name: str, q: np.ndarray | None, p: np.ndarray | None, options: Options) -> list[BoneKey]:
    """A bone's reduced keys from its rotations ``q`` (T, 4) and/or positions ``p`` (T, 3):
    with Bézier curves (edn.vmd.curves) or straight lines, within the options' limits."""
    frames = len(q if q is not None else p)
    angle = np.deg2rad(options.angle_threshold)
    if options.curves:
        kept = curves.reduce(frames, curves.track_segment(q, p, angle, options.position_threshold), 1.0)
    else:
        lines = set(reduce_rotations(q, angle)) if q is not None else set()
        if p is not None:
            lines |= set(reduce_positions(p, options.position_threshold))
        kept = {t: (curves.LINEAR,) * 4 for t in sorted(lines)}
    return [BoneKey(name, t, tuple(map(float, p[t])) if p is not None else (0.0, 0.0, 0.0),
                    tuple(map(float, q[t])) if q is not None else (0.0, 0.0, 0.0, 1.0), curves.block(c))
            for t, c in kept.items()]


def build_motion(joints: Joints3D, sk: Skeleton, options: Options = Options()) -> tuple[Motion, Report]:
    """The VMD motion of ``joints`` (any frame rate) for the model ``sk``."""
    joints = resample(joints)
    frames = len(joints)
    smoothed = {k: low_pass(v, options.smooth_sigma) for k, v in joints.joints.items()}
    world = {k: smooth_quaternions(v, options.smooth_sigma) for k, v in world_rotations(smoothed, sk).items()}
    local = {k: rot.continuous(v) for k, v in local_rotations(world, sk).items()}
    fingers = finger_rotations(joints.bends, sk)
    local |= fingers
    travel = low_pass(joints.translation, options.smooth_sigma)
    if options.in_place:
        travel[:, 2] = 0.0
    ik = not options.fk_legs and all(side + "足ＩＫ" in sk for side in SIDES)  # else FK legs
    standing = None
    if ik:
        positions, _ = pose(sk, local, {"センター": travel}, frames)
        standing, lift = ground.on_the_floor(ground.Feet.of(sk, positions), FPS)
        center = travel + lift[:, None] * ground.UP
    else:
        center = grounded(sk, local, travel)
    motion = Motion(_model_name(sk.name))
    tracks: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {name: (q, None) for name, q in local.items()}
    if ik:
        positions, worlds = pose(sk, local, {"センター": center}, frames)
        targets = [ground.ik_target(sk, side, positions, worlds, standing[:, i]) for i, side in enumerate(SIDES)]
        center = center - ground.knee_room(sk, positions, targets)[:, None] * ground.UP
        positions, worlds = pose(sk, local, {"センター": center}, frames)
        targets = [ground.ik_target(sk, side, positions, worlds, standing[:, i]) for i, side in enumerate(SIDES)]
        for side, target in zip(SIDES, targets):
            tracks[side + "足ＩＫ"] = (target.rotation, target.position - sk.position(side + "足ＩＫ"))
            if side + "つま先ＩＫ" in sk:  # at rest on its parent 足ＩＫ, whose rotation turns the foot
                tracks[side + "つま先ＩＫ"] = (np.tile(rot.IDENTITY, (frames, 1)), np.zeros((frames, 3)))
        tracks |= {name: (q, None) for name, q in ground.solve_legs(sk, positions, worlds, targets).items()}
    tracks["センター"] = (None, center)
    for name, (q, p) in tracks.items():
        motion.bones += keys(name, q, p, options)
    before, after = frames * len(tracks), len(motion.bones)
    if not ik and sk.ik:
        motion.ik.append(IKKey(0, True, {name: False for name in sk.ik}))
    report = Report(frames, joints.source, before, after, sorted(local) + ["センター"], standing,
                    float(center[:, 1].max() - np.median(center[:, 1])), float(np.ptp(center[:, 2])),
                    float((np.stack([rot.angle(q, rot.IDENTITY) for q in fingers.values()]) > 1e-3).any(0).mean())
                    if fingers else None)
    return motion, report


def _model_name(name: str) -> str:
    """The model name cut (at a character) to the 20 bytes of its VMD field."""
    while len(name.encode("cp932", errors="replace")) > 20:
        name = name[:-1]
    return name

"""Feet on the floor for the IK legs (``edn.vmd.motion``): when each foot stands, how high
センター is, and the foot IK targets, held in place while a foot stands.

Heights are a foot's lowest point (ankle or toe) above its place in the rest pose, whose sole
is on the floor (y = 0), with センター at the body's own travel (``edn.vmd.pose3d.travel``).

- **Contacts.** A foot stands in a frame when it is within CONTACT_HEIGHT of the lower foot and
  its ankle moves slower than CONTACT_SPEED (3D, over CONTACT_WINDOW frames either side, the
  body's travel included). Gaps of up to MIN_GAP frames are filled, then stands shorter than
  MIN_CONTACT frames dropped. A stand the floor estimate (below) leaves more than
  CONTACT_HEIGHT in the air (both feet low and slow at the top of a jump) is dropped, and the
  floor estimated again.
- **Floor.** The lift that puts the lower standing foot on the floor, averaged over
  FLOOR_SMOOTHING seconds of the frames where a foot stands (normalised convolution), apart
  on either side of SEPARATE seconds or more without a stand: the floor is one estimate that
  may drift slowly (a depth estimate slightly off
  tilts it), not each frame's noise. Where no foot stands (a jump) the lift is held at the
  lower of the stands' before and after, so センター rises and falls with the hips' own travel
  in the image; a jump down from a box (its floor higher than the one landed on) ends on the
  floor. A frame where a foot would still end below the floor is lifted by that much.
- **IK targets.** The ankle's place and the foot's world rotation from the FK pose; while a
  foot stands, its target is held at the stand's median place on the floor, the sole flat (the
  foot's rotation kept to its turn about the vertical), blended in and out over BLEND frames.
- **Reach.** A held target may be farther from the hip than the leg is long when the body
  sways over a straight leg; then MMD's IK cannot reach it and the foot hangs off its place.
  センター is lowered there (the knees bend) by what puts every held target within REACH of
  its leg, at most MAX_DROP, spread over the frames around.
- **FK legs to match.** The legs' FK rotations are solved for the targets (two bones, the knee
  kept in the plane it bends in, forwards, its roll kept; the ankle turned as the target), so a reader
  without IK sees the feet where MMD's IK puts them, and MMD's IK starts from its answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from edn.vmd import rotations as rot
from edn.vmd.skeleton import SIDES, Skeleton

CONTACT_HEIGHT = 0.6    # MMD units (5 cm)
CONTACT_SPEED = 6.0     # MMD units a second (48 cm/s)
CONTACT_WINDOW = 2      # frames either side for the speed
MIN_GAP = 2             # frames
MIN_CONTACT = 4         # frames
FLOOR_SMOOTHING = 1.0   # seconds (Gaussian sigma)
SEPARATE = 0.5          # seconds without a foot standing that part two floor estimates
BLEND = 4               # frames into and out of a lock
REACH = 0.995           # of the leg's length: how far a standing foot's target may be from the hip
MAX_DROP = 1.0          # MMD units (8 cm): the most センター is lowered so a leg reaches
UP = np.array([0.0, 1.0, 0.0])


@dataclass
class Feet:
    """Per frame and side (SIDES order): ``heights`` (T, 2) of each foot's lowest point above
    its rest height, ``ankles`` (T, 2, 3) the ankles' places."""
    heights: np.ndarray
    ankles: np.ndarray

    @classmethod
    def of(cls, sk: Skeleton, positions: np.ndarray) -> "Feet":
        heights, ankles = [], []
        for side in SIDES:
            points = [sk.index(side + "足首")] + ([sk.index(sk.toe(side))] if sk.toe(side) else [])
            heights.append((positions[:, points, 1] - sk.rest[points, 1]).min(1))
            ankles.append(positions[:, points[0]])
        return cls(np.stack(heights, 1), np.stack(ankles, 1))


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The [start, end) stretches where a (T,) bool mask is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def clean(mask: np.ndarray, min_gap: int = MIN_GAP, min_run: int = MIN_CONTACT) -> np.ndarray:
    """Gaps of up to ``min_gap`` frames between Trues filled, then runs shorter than
    ``min_run`` dropped."""
    out = mask.copy()
    for a, b in runs(~out):
        if 0 < a and b < len(out) and b - a <= min_gap:
            out[a:b] = True
    for a, b in runs(out):
        if b - a < min_run:
            out[a:b] = False
    return out


def contacts(feet: Feet, fps: float) -> np.ndarray:
    """(T, 2) bool: where each foot stands (module text)."""
    frames = len(feet.heights)
    k = CONTACT_WINDOW
    ahead = feet.ankles[np.minimum(np.arange(frames) + k, frames - 1)]
    behind = feet.ankles[np.maximum(np.arange(frames) - k, 0)]
    span = (np.minimum(np.arange(frames) + k, frames - 1) - np.maximum(np.arange(frames) - k, 0))
    speed = np.linalg.norm(ahead - behind, axis=-1) / np.maximum(span, 1)[:, None] * fps
    low = feet.heights - feet.heights.min(1, keepdims=True) < CONTACT_HEIGHT
    standing = low & (speed < CONTACT_SPEED)
    return np.stack([clean(standing[:, s]) for s in range(standing.shape[1])], 1)


def on_the_floor(feet: Feet, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Where each foot stands (T, 2) and センター's lift (T,): the contacts, less any that the
    floor estimate leaves in the air (two low, slow feet at the top of a jump), and the lift
    again without them."""
    standing = contacts(feet, fps)
    lift = floor_lift(feet, standing, fps)
    grounded = standing & (feet.heights + lift[:, None] < CONTACT_HEIGHT)
    if (grounded != standing).any():
        standing = np.stack([clean(grounded[:, s]) for s in range(grounded.shape[1])], 1)
        lift = floor_lift(feet, standing, fps)
    return standing, lift


def floor_lift(feet: Feet, standing: np.ndarray, fps: float) -> np.ndarray:
    """(T,) what センター is raised by each frame (module text: Floor)."""
    heights = np.where(standing, feet.heights, np.inf).min(1)
    any_standing = np.isfinite(heights)
    if not any_standing.any():  # never standing: the median lowest point is the floor
        lift = np.full(len(heights), -float(np.median(feet.heights.min(1))))
    else:
        lift = np.zeros(len(heights))
        sigma = FLOOR_SMOOTHING * fps
        # one floor estimate per stretch between long flights: a box's top is not the ground
        for a, b in runs(~clean(~any_standing, min_gap=0, min_run=int(round(SEPARATE * fps)))):
            weight = gaussian_filter1d(any_standing[a:b].astype(float), sigma, mode="nearest")
            total = gaussian_filter1d(np.where(any_standing[a:b], -heights[a:b], 0.0), sigma, mode="nearest")
            lift[a:b] = total / np.maximum(weight, 1e-9)
        for a, b in runs(~any_standing):  # in the air: the lower of the two floors around
            around = [lift[i] for i in (a - 1, b) if 0 <= i < len(lift)]
            lift[a:b] = min(around)
    below = feet.heights.min(1) + lift
    return lift + np.maximum(0.0, -below)


def flat(q: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Rotations (T, 4) reduced to their turn about the vertical: the one taking the rest
    ``forward`` (horizontal) to where ``q`` turns it, seen from above."""
    turned = rot.rotate(q, np.broadcast_to(forward, q[..., :3].shape)) * (1.0, 0.0, 1.0)
    heading = np.arctan2(turned[:, 0], turned[:, 2]) - np.arctan2(forward[0], forward[2])
    return np.stack([np.zeros_like(heading), np.sin(heading / 2), np.zeros_like(heading),
                     np.cos(heading / 2)], 1)


@dataclass
class Target:
    """One foot's IK target per frame: ``position`` (T, 3) world, ``rotation`` (T, 4) world,
    ``locked`` (T,) how much of it is the stand's lock (0-1)."""
    position: np.ndarray
    rotation: np.ndarray
    locked: np.ndarray


def ik_target(sk: Skeleton, side: str, positions: np.ndarray, worlds: np.ndarray,
              standing: np.ndarray) -> Target:
    """The foot IK target of ``side`` from the FK pose (positions (T, B, 3), world rotations
    (T, B, 4)) and where that foot stands (T,) (module text: IK targets)."""
    ankle = sk.index(side + "足首")
    free, q = positions[:, ankle], rot.continuous(worlds[:, ankle])
    toe = sk.toe(side)
    forward = (sk.position(toe) - sk.position(side + "足首")) if toe else np.array([0.0, 0.0, -1.0])
    forward = rot.normalize(forward * (1.0, 0.0, 1.0))
    frames = len(free)
    weight = np.zeros(frames)
    place = free.copy()
    t = np.arange(frames)
    for a, b in runs(standing):
        spot = np.median(free[a:b], 0)
        spot[1] = sk.rest[ankle, 1]
        distance = np.maximum(0, np.maximum(a - t, t - (b - 1)))
        w = np.clip(1.0 - distance / (BLEND + 1), 0.0, 1.0)
        nearer = w > weight
        weight[nearer], place[nearer] = w[nearer], spot
    position = free + weight[:, None] * (place - free)
    position[:, 1] = np.maximum(position[:, 1], sk.rest[ankle, 1])  # never under the floor
    rotation = rot.continuous(rot.slerp(q, flat(q, forward), weight[:, None]))  # slerp takes the short way
    return Target(position, rotation, weight)


def knee_room(sk: Skeleton, positions: np.ndarray, targets: list[Target]) -> np.ndarray:
    """(T,) how far to lower センター so the held targets (``targets`` in SIDES order) are in
    reach of the hips posed in ``positions`` (module text: Reach)."""
    drop = np.zeros(len(positions))
    for side, target in zip(SIDES, targets):
        hip = positions[:, sk.index(side + "足")]
        leg = REACH * sk.leg_length(side)
        away = target.position - hip
        across = np.linalg.norm(away[:, [0, 2]], axis=1)
        below = np.sqrt(np.maximum(leg ** 2 - across ** 2, 0.0))  # how far below the hip it can reach
        need = np.where(target.locked > 0, np.maximum(0.0, -away[:, 1] - below), 0.0)
        drop = np.maximum(drop, np.minimum(need, MAX_DROP))
    if len(drop) > 1:  # spread over the frames around, never less than needed
        drop = np.maximum(drop, gaussian_filter1d(maximum_filter1d(drop, 2 * BLEND + 1), BLEND / 2))
    return drop


def solve_legs(sk: Skeleton, positions: np.ndarray, worlds: np.ndarray, targets: list[Target]) -> dict[str, np.ndarray]:
    """The local rotations of 足, ひざ and 足首 that put each ankle on its target and turn the
    foot as it (``targets`` in SIDES order), from the pose ``positions``/``worlds`` (module
    text: FK legs to match)."""
    out: dict[str, np.ndarray] = {}
    for side, target in zip(SIDES, targets):
        hip_i, knee_i, ankle_i = (sk.index(side + b) for b in ("足", "ひざ", "足首"))
        hip, knee, ankle = positions[:, hip_i], positions[:, knee_i], positions[:, ankle_i]
        thigh = np.linalg.norm(sk.rest[knee_i] - sk.rest[hip_i])
        shin = np.linalg.norm(sk.rest[ankle_i] - sk.rest[knee_i])
        reach = target.position - hip
        d = np.clip(np.linalg.norm(reach, axis=1), abs(thigh - shin) + 1e-6, thigh + shin - 1e-6)
        u = rot.normalize(reach)
        bend = (knee - hip) - ((knee - hip) * u).sum(1, keepdims=True) * u  # towards the knee
        front = rot.rotate(worlds[:, hip_i], np.broadcast_to((0.0, 0.0, -1.0), hip.shape))
        front = front - (front * u).sum(1, keepdims=True) * u
        # a straight leg, or one bent backwards past straight: the knee bends forwards
        weak = (np.linalg.norm(bend, axis=1) < 1e-3) | ((bend * front).sum(1) < 0)
        bend[weak] = front[weak]
        along = (thigh ** 2 - shin ** 2 + d ** 2) / (2 * d)
        new_knee = hip + along[:, None] * u + np.sqrt(np.maximum(thigh ** 2 - along ** 2, 0))[:, None] * rot.normalize(bend)
        turn_thigh = rot.between(knee - hip, new_knee - hip)
        thigh_world = rot.mul(turn_thigh, worlds[:, hip_i])
        shin_was = rot.rotate(turn_thigh, ankle - knee)
        shin_world = rot.mul(rot.between(shin_was, target.position - new_knee), rot.mul(turn_thigh, worlds[:, knee_i]))
        parent = worlds[:, sk.parents[hip_i]]
        out[side + "足"] = rot.continuous(rot.mul(rot.conjugate(parent), thigh_world))
        out[side + "ひざ"] = rot.continuous(rot.mul(rot.conjugate(thigh_world), shin_world))
        out[side + "足首"] = rot.continuous(rot.mul(rot.conjugate(shin_world), target.rotation))
    return out

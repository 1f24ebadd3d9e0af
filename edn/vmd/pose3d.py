"""3D joints per frame, in MMD coordinates and units, from what the detector gave.

- MediaPipe world landmarks (metres, hip-centred, x to the image's right, y down, z away from
  the camera): X = x, Y = -y, Z = z, times 12.5 units per metre. A person facing the camera
  has their left on the image's right, so their left lands on +X, the model's left (左).
- 2D-only skeletons (OpenPose, imported JSON): lifted by known bone lengths. With a scaled
  orthographic camera each bone's depth change is +-sqrt(L^2 - (2D length / scale)^2); the
  sign is the one nearest the previous frame's, and where that does not decide (the first
  frame, a bone in the image plane) the one a joint limit allows: knees bend backwards,
  elbows forwards.

Travel (``travel``): the hips' centre through a pinhole camera. The person's scale in the image
(pixels per metre) is fitted every frame: with world landmarks, the least-squares scale between
the 2D keypoints and the landmarks' x, y; lifted, the least foreshortened bone's. Depth is
focal length / scale, the focal length from the camera's field of view across the frame's
longer side (DEFAULT_FOV, a phone's main camera, when not given); sideways and up follow the
hips' pixel offset from the frame's centre at that depth. The scale is cleaned first: a
frame more than SCALE_OUTLIER from the median of the second around it is dropped (a tracker's
first frames, a bad fit) and the rest smoothed over SCALE_SMOOTHING seconds, in log. Without the frame's size (OpenPose JSON) the scale is
the clip's median, and depth does not move. The height is settled later from the feet
(``edn.vmd.ground``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from edn.core.keypoints import J

UNITS_PER_METRE = 12.5  # MMD: about 8 cm per unit
DEFAULT_FOV = 65.0      # degrees across the frame's longer side
SCALE_SMOOTHING = 0.5   # seconds (Gaussian sigma) of the per-frame scale
SCALE_OUTLIER = 0.15    # a frame's scale this far (relative) from its second's median is dropped
# MediaPipe's 33 landmarks used here.
_MP = {"nose": 0, "l_ear": 7, "r_ear": 8, "l_sh": 11, "r_sh": 12, "l_el": 13, "r_el": 14,
       "l_wr": 15, "r_wr": 16, "l_pinky": 17, "r_pinky": 18, "l_index": 19, "r_index": 20,
       "l_hip": 23, "r_hip": 24, "l_knee": 25, "r_knee": 26, "l_ank": 27, "r_ank": 28,
       "l_heel": 29, "r_heel": 30, "l_toe": 31, "r_toe": 32}
# Bone lengths (metres) of the lifting's standard adult, and the tree it walks from the pelvis:
# (joint, parent, length, preferred depth sign when nothing else decides: -1 = towards the
# camera/front, +1 = away, 0 = none).
_LIFT_TREE = (
    ("neck", "pelvis", 0.50, 0), ("nose", "neck", 0.22, -1),
    ("l_ear", "neck", 0.20, 0), ("r_ear", "neck", 0.20, 0),
    ("l_sh", "neck", 0.18, 0), ("r_sh", "neck", 0.18, 0),
    ("l_el", "l_sh", 0.28, -1), ("r_el", "r_sh", 0.28, -1),
    ("l_wr", "l_el", 0.25, -1), ("r_wr", "r_el", 0.25, -1),
    ("l_hip", "pelvis", 0.10, 0), ("r_hip", "pelvis", 0.10, 0),
    ("l_knee", "l_hip", 0.42, -1), ("r_knee", "r_hip", 0.42, -1),
    ("l_ank", "l_knee", 0.40, 1), ("r_ank", "r_knee", 0.40, 1),
)
_COCO = {"nose": J["nose"], "l_ear": J["l_ear"], "r_ear": J["r_ear"], "l_sh": J["l_shoulder"],
         "r_sh": J["r_shoulder"], "l_el": J["l_elbow"], "r_el": J["r_elbow"], "l_wr": J["l_wrist"],
         "r_wr": J["r_wrist"], "l_hip": J["l_hip"], "r_hip": J["r_hip"], "l_knee": J["l_knee"],
         "r_knee": J["r_knee"], "l_ank": J["l_ankle"], "r_ank": J["r_ankle"]}


@dataclass
class Joints3D:
    """joints: name -> (T, 3) MMD coordinates relative to the body (units); translation:
    (T, 3) the body's travel (units); fps; source: how they were made; bends: finger bone ->
    (T,) its bend in radians (edn.vmd.fingers), empty without hands."""
    joints: dict[str, np.ndarray]
    translation: np.ndarray
    fps: float
    source: str
    bends: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.translation)


def fill_gaps(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(T, ...) values with the frames where ``present`` is False interpolated linearly in
    time from their neighbours (held at the ends)."""
    values = values.copy()
    t = np.arange(len(values))
    if present.all() or not present.any():
        return values
    flat = values.reshape(len(values), -1)
    for c in range(flat.shape[1]):
        flat[~present, c] = np.interp(t[~present], t[present], flat[present, c])
    return flat.reshape(values.shape)


def travel(keypoints: np.ndarray, pixels_per_metre: np.ndarray, fps: float,
           frame_size: tuple[int, int] | None, fov: float = DEFAULT_FOV) -> np.ndarray:
    """The hips' centre's travel (T, 3) in MMD units from the first frame (module text):
    ``pixels_per_metre`` (T,) the person's scale each frame (NaN where unknown), ``frame_size``
    (w, h) or None."""
    hips = keypoints[:, [J["l_hip"], J["r_hip"]]]
    seen = (hips[:, :, 2] > 0).all(1)
    known = np.isfinite(pixels_per_metre) & (pixels_per_metre > 0)
    out = np.zeros((len(keypoints), 3))
    if not seen.any() or not known.any():
        return out
    centre = fill_gaps(hips[:, :, :2].mean(1), seen)
    if frame_size is None:
        scale = np.full(len(keypoints), float(np.median(pixels_per_metre[known])))
        middle = centre[0]
    else:
        log_scale = np.log(np.where(known, pixels_per_metre, 1.0))
        half = int(round(fps / 2))
        usual = np.array([np.median(log_scale[max(0, t - half):t + half + 1][known[max(0, t - half):t + half + 1]])
                          if known[t] else 0.0 for t in range(len(log_scale))])
        kept = known & (np.abs(log_scale - usual) <= np.log1p(SCALE_OUTLIER))
        log_scale = fill_gaps(log_scale, kept if kept.any() else known)
        sigma = SCALE_SMOOTHING * fps
        scale = np.exp(gaussian_filter1d(log_scale, sigma, mode="nearest") if len(log_scale) > 1 else log_scale)
        middle = np.array(frame_size, float) / 2
    metres = (centre - middle) / scale[:, None]
    out[:, 0], out[:, 1] = metres[:, 0], -metres[:, 1]
    if frame_size is not None:
        focal = max(frame_size) / 2 / np.tan(np.deg2rad(fov) / 2)
        out[:, 2] = focal / scale
    return (out - out[0]) * UNITS_PER_METRE


def from_world_landmarks(world: np.ndarray, keypoints: np.ndarray, fps: float,
                         frame_size: tuple[int, int] | None = None, fov: float = DEFAULT_FOV) -> Joints3D:
    """MediaPipe world landmarks (T, 33, 4) and the same frames' 2D keypoints (T, 18, 3), in
    frames of ``frame_size`` (w, h; None when unknown)."""
    present = np.abs(world[:, :, :3]).sum((1, 2)) > 0
    w = fill_gaps(world[:, :, :3].astype(np.float64), present)
    mmd = np.stack([w[..., 0], -w[..., 1], w[..., 2]], -1) * UNITS_PER_METRE
    joints = {name: mmd[:, i] for name, i in _MP.items()}
    _derived(joints)
    return Joints3D(joints, travel(keypoints, _fitted_scale(w, keypoints, present), fps, frame_size, fov),
                    fps, "MediaPipe world landmarks")


def _fitted_scale(world: np.ndarray, keypoints: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Pixels per metre (T,) between the 2D keypoints and the world landmarks' x, y (both
    centred on the joints seen in 2D), least squares; NaN with fewer than 4 joints seen."""
    names = [n for n in _COCO if n in _MP]
    p2 = keypoints[:, [_COCO[n] for n in names]]
    p3 = world[:, [_MP[n] for n in names], :2]
    seen = (p2[:, :, 2] > 0) & present[:, None]
    out = np.full(len(keypoints), np.nan)
    for t in np.flatnonzero(seen.sum(1) >= 4):
        a, b = p2[t, seen[t], :2], p3[t, seen[t]]
        a, b = a - a.mean(0), b - b.mean(0)
        out[t] = (a * b).sum() / max((b * b).sum(), 1e-12)
    return out


def _derived(joints: dict[str, np.ndarray]) -> None:
    joints["pelvis"] = (joints["l_hip"] + joints["r_hip"]) / 2
    joints["neck"] = (joints["l_sh"] + joints["r_sh"]) / 2
    joints["head"] = (joints["l_ear"] + joints["r_ear"]) / 2


def lift(keypoints: np.ndarray, fps: float, frame_size: tuple[int, int] | None = None,
         fov: float = DEFAULT_FOV) -> Joints3D:
    """2D COCO-18 keypoints (T, 18, 3), pixels, -> 3D by known bone lengths (module text)."""
    k = keypoints.astype(np.float64)
    present = {n: k[:, i, 2] > 0 for n, i in _COCO.items()}
    xy = {n: fill_gaps(k[:, i, :2], present[n]) if present[n].any() else None for n, i in _COCO.items()}
    for name in ("l_sh", "r_sh", "l_hip", "r_hip"):
        if xy[name] is None:
            from edn.core.errors import InputError
            raise InputError("lifting to 3D needs both shoulders and both hips in some frames")
    xy["neck"] = (xy["l_sh"] + xy["r_sh"]) / 2
    xy["pelvis"] = (xy["l_hip"] + xy["r_hip"]) / 2
    for name, parent in (("nose", "neck"), ("l_ear", "neck"), ("r_ear", "neck")):
        if xy[name] is None:
            xy[name] = xy[parent] + [0.0, -1e-3]
    for name, parent in (("l_el", "l_sh"), ("r_el", "r_sh"), ("l_wr", "l_el"), ("r_wr", "r_el"),
                         ("l_knee", "l_hip"), ("r_knee", "r_hip"), ("l_ank", "l_knee"), ("r_ank", "r_knee")):
        if xy[name] is None:
            xy[name] = xy[parent] + [0.0, 1e-3]
    # pixels per metre: at each frame the least foreshortened bone's ratio (the lifting takes
    # the clip's median; the travel follows it frame by frame)
    ratios = np.stack([np.linalg.norm(xy[c] - xy[p], axis=1) / length for c, p, length, _ in _LIFT_TREE], 1)
    scale = float(np.median(ratios.max(1)))
    frames = len(k)
    joints = {"pelvis": np.zeros((frames, 3))}
    for child, parent, length, prefer in _LIFT_TREE:
        d2 = (xy[child] - xy[parent]) / scale  # metres, image axes (x right, y down)
        dz_abs = np.sqrt(np.maximum(0.0, length ** 2 - (d2 ** 2).sum(1)))
        dz = np.empty(frames)
        for t in range(frames):
            options = (dz_abs[t], -dz_abs[t])
            if t > 0 and dz_abs[t] > 0.02 * length:
                dz[t] = min(options, key=lambda z: abs(z - dz[t - 1]) + 0.1 * length * (np.sign(z) != prefer) * (prefer != 0))
            else:
                dz[t] = dz_abs[t] * (prefer if prefer else 1.0)
        offset = np.stack([d2[:, 0], -d2[:, 1], dz], 1) * UNITS_PER_METRE
        joints[child] = joints[parent] + offset
    joints["head"] = (joints["l_ear"] + joints["r_ear"]) / 2
    return Joints3D(joints, travel(keypoints, ratios.max(1), fps, frame_size, fov), fps,
                    "lifted from 2D by known bone lengths (no MediaPipe world landmarks)")

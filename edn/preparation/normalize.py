"""Global pose normalization (Everybody Dance Now, appendix): map a source dancer filmed at
another distance or height into the target's frame before drawing label maps.

Per frame: the ankle coordinate f is the lower ankle's y (image y grows downwards, so a
larger f is closer to the camera) and the height h is the distance from the head (nose, or
the ears' midpoint) to the ankles' midpoint. Per video (``ankle_stats``): the median m of f,
the closest position a_close = max f, the farthest position a_far = m - max{d = m - f :
0 < d < alpha (a_close - m)} (the farthest f still in a band above the median, which keeps
stray detections out), and the largest heights near each end. Per source frame
(``frame_transforms``): p = (f - a_far^s) / (a_close^s - a_far^s) places it between the
source's ends, the translation b sends f to the same place between the target's ends and the
scale c interpolates the target/source height ratios of the two ends.

Composition: x' = A + c (x - A) + (0, b) with the anchor A at the frame's ankles (x of their
midpoint, y = f). Scaling about the lower ankle leaves it where it is, so after the
translation it lands exactly on the target position a_far^t + p (a_close^t - a_far^t): the
ankle placement depends on b alone and the body height on c alone. Scaling about a point
fixed in the image instead (say its top edge) would move the ankle by (c - 1)(f - A_y),
tens of pixels for c = 0.7 at 512 px, and push the feet out of the target's floor range.
The reused transform of a frame without ankles keeps the last anchor too, so it is the same
map of the image plane as the last good frame.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edn.core.errors import InputError, UserError
from edn.core.keypoints import NUM_JOINTS, J

ALPHA = 0.5  # band above the median in which the farthest position is looked for
BETA = 0.05  # fraction of the ankle range around each end whose heights count
CONF_THRESHOLD = 0.1
MIN_FRAMES = 10


class TooFewFramesError(InputError):
    """A video has too few frames with both ankles and the head visible for its statistics."""

    def __init__(self, usable: int, frames: int, needed: int):
        self.usable, self.frames, self.needed = usable, frames, needed
        super().__init__(f"only {usable} of {frames} frames have both ankles and the head "
                         f"visible; at least {needed} are needed for the ankle statistics")


@dataclass(frozen=True)
class AnkleStats:
    """One video's ankle and height statistics (pixels of its frames)."""
    frames: int
    usable: int
    median: float
    close: float
    far: float
    height_close: float
    height_far: float
    median_height: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FrameTransforms:
    """Per-frame x' = anchor + scale (x - anchor) + (0, shift). ``measured`` is False where
    the frame had no ankles and reuses the last good transform."""
    anchor: np.ndarray  # (frames, 2)
    scale: np.ndarray  # (frames,) c
    shift: np.ndarray  # (frames,) b
    measured: np.ndarray  # (frames,) bool

    def to_dict(self) -> dict:
        return {"anchor": np.round(self.anchor, 3).tolist(),
                "c": np.round(self.scale, 6).tolist(),
                "b": np.round(self.shift, 3).tolist(),
                "measured": self.measured.tolist()}


def ankle_coordinates(poses: np.ndarray, conf_threshold: float = CONF_THRESHOLD
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame of (frames, 18, 3): f = the lower ankle's y, the ankles' midpoint (frames, 2)
    and whether both ankles are seen (f and the midpoint are 0 where not)."""
    r, l = poses[:, J["r_ankle"]], poses[:, J["l_ankle"]]
    seen = (r[:, 2] >= conf_threshold) & (l[:, 2] >= conf_threshold)
    f = np.where(seen, np.maximum(r[:, 1], l[:, 1]), 0.0)
    mid = np.where(seen[:, None], (r[:, :2] + l[:, :2]) / 2, 0.0)
    return f, mid, seen


def head_points(poses: np.ndarray, conf_threshold: float = CONF_THRESHOLD
                ) -> tuple[np.ndarray, np.ndarray]:
    """The nose, or the ears' midpoint where the nose is missing: (frames, 2) and seen."""
    nose, r_ear, l_ear = (poses[:, J[n]] for n in ("nose", "r_ear", "l_ear"))
    has_nose = nose[:, 2] >= conf_threshold
    has_ears = (r_ear[:, 2] >= conf_threshold) & (l_ear[:, 2] >= conf_threshold)
    head = np.where(has_nose[:, None], nose[:, :2], (r_ear[:, :2] + l_ear[:, :2]) / 2)
    seen = has_nose | has_ears
    return np.where(seen[:, None], head, 0.0), seen


def frame_measures(poses: np.ndarray, conf_threshold: float = CONF_THRESHOLD
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: ankle coordinate f, height h and whether both can be measured."""
    poses = np.asarray(poses, np.float64)
    f, ankle_mid, ankles_seen = ankle_coordinates(poses, conf_threshold)
    head, head_seen = head_points(poses, conf_threshold)
    usable = ankles_seen & head_seen
    h = np.where(usable, np.linalg.norm(head - ankle_mid, axis=1), 0.0)
    return f, h, usable


def far_position(f: np.ndarray, median: float, close: float, alpha: float = ALPHA) -> float:
    """a_far = m - max{d = m - f : 0 < d < alpha (a_close - m)}; m when no f is in the band."""
    d = median - f
    in_band = d[(d > 0) & (d < alpha * (close - median))]
    return float(median - in_band.max()) if in_band.size else float(median)


def end_height(f: np.ndarray, h: np.ndarray, end: float, band: float) -> float:
    """The largest height over frames whose f lies within ``band`` of ``end`` (widened to
    the nearest frame when none does, e.g. a zero range)."""
    dist = np.abs(f - end)
    return float(h[dist <= max(band, dist.min())].max())


def ankle_stats(poses: np.ndarray, alpha: float = ALPHA, beta: float = BETA,
                conf_threshold: float = CONF_THRESHOLD, min_frames: int = MIN_FRAMES
                ) -> AnkleStats:
    """A video's statistics from its (frames, 18, 3) keypoints.

    Raises TooFewFramesError when fewer than ``min_frames`` frames show both ankles and
    the head."""
    f, h, usable = frame_measures(poses, conf_threshold)
    if usable.sum() < max(min_frames, 1):
        raise TooFewFramesError(int(usable.sum()), len(f), max(min_frames, 1))
    f, h = f[usable], h[usable]
    median = float(np.median(f))
    close = float(f.max())
    far = far_position(f, median, close, alpha)
    band = beta * (close - far)
    return AnkleStats(frames=len(poses), usable=int(usable.sum()), median=median,
                      close=close, far=far,
                      height_close=end_height(f, h, close, band),
                      height_far=end_height(f, h, far, band),
                      median_height=float(np.median(h)))


def target_range(source: AnkleStats, target: AnkleStats) -> tuple[float, float]:
    """(far, close) positions the source's ends map to. When the source moves over a
    narrower range than the target, the target's range is shrunk to the source's width
    about its midpoint, so the source's motion is not stretched (the official code's
    choice)."""
    width_s = source.close - source.far
    if width_s < target.close - target.far:
        mid = (target.close + target.far) / 2
        return mid - width_s / 2, mid + width_s / 2
    return target.far, target.close


def frame_transforms(poses: np.ndarray, source: AnkleStats, target: AnkleStats,
                     conf_threshold: float = CONF_THRESHOLD) -> FrameTransforms:
    """The per-frame transforms taking the source ``poses`` (frames, 18, 3) to the target.

    p is used as is for the translation (a step beyond the far end, or a jump, stays a
    proportional step in the target) but clamped to [0, 1] for the scale: heights were only
    measured between the two ends, and extrapolating their ratio can drive c towards 0.
    Frames without both ankles reuse the last good transform (the first good one before
    any)."""
    f, ankle_mid, seen = ankle_coordinates(np.asarray(poses, np.float64), conf_threshold)
    if not seen.any():
        raise InputError("no source frame has both ankles visible")
    t_far, t_close = target_range(source, target)
    width_s = source.close - source.far
    p = (f - source.far) / width_s if width_s > 0 else np.full_like(f, 0.5)
    shift = t_far + p * (t_close - t_far) - f
    c_close = target.height_close / source.height_close
    c_far = target.height_far / source.height_far
    scale = c_far + np.clip(p, 0.0, 1.0) * (c_close - c_far)
    anchor = np.stack([ankle_mid[:, 0], f], axis=1)
    last = _last_good(seen)
    return FrameTransforms(anchor=anchor[last], scale=scale[last], shift=shift[last],
                           measured=seen.copy())


def _last_good(seen: np.ndarray) -> np.ndarray:
    """Index of the last frame with ankles at or before each frame (the first one before any)."""
    last = np.maximum.accumulate(np.where(seen, np.arange(len(seen)), -1))
    last[last < 0] = np.flatnonzero(seen)[0]
    return last


def apply_transforms(poses: np.ndarray, transforms: FrameTransforms) -> np.ndarray:
    """x' = A + c (x - A) + (0, b) for every found joint; joints with confidence 0 stay 0."""
    poses = np.asarray(poses, np.float32)
    anchor = transforms.anchor[:, None, :]
    xy = anchor + transforms.scale[:, None, None] * (poses[..., :2] - anchor)
    xy[..., 1] += transforms.shift[:, None]
    found = poses[..., 2:3] > 0
    out = poses.copy()
    out[..., :2] = np.where(found, xy, 0.0)
    return out


def normalize_sequence(source_poses: np.ndarray, target_poses: np.ndarray,
                       alpha: float = ALPHA, beta: float = BETA,
                       conf_threshold: float = CONF_THRESHOLD, min_frames: int = MIN_FRAMES
                       ) -> tuple[np.ndarray, FrameTransforms, AnkleStats, AnkleStats]:
    """Normalize a whole source sequence to a target: (normalized poses, transforms,
    source stats, target stats)."""
    source = ankle_stats(source_poses, alpha, beta, conf_threshold, min_frames)
    target = ankle_stats(target_poses, alpha, beta, conf_threshold, min_frames)
    transforms = frame_transforms(source_poses, source, target, conf_threshold)
    return apply_transforms(source_poses, transforms), transforms, source, target


# A fit is implausible when the source's median height after it falls outside this range of
# the target's median height, or when more than OUTSIDE_FRACTION of the source's ankles land
# outside the target's floor band (``floor_band``).
HEIGHT_RATIO_RANGE = (0.6, 1.6)
FLOOR_MARGIN = 0.1
OUTSIDE_FRACTION = 0.1
FITS = ("auto", "edn", "robust")
FIT_HELP = ("'edn' = EDN global pose normalization; 'robust' = one scale from the median "
            "heights, ankles from the median positions; 'auto' = edn, unless it would make the "
            "source's height or floor implausible, then robust")


def floor_band(target: AnkleStats) -> tuple[float, float]:
    """The target's floor band: its ankles' far..close range widened by ``FLOOR_MARGIN`` of
    its median height on both sides."""
    margin = FLOOR_MARGIN * target.median_height
    return target.far - margin, target.close + margin


def robust_transforms(poses: np.ndarray, source: AnkleStats, target: AnkleStats,
                      conf_threshold: float = CONF_THRESHOLD) -> FrameTransforms:
    """The robust fit: one scale c = target / source median height for every frame; the
    ankle coordinate mapped as f' = m_t + k (f - m_s), the source's median ankle position
    onto the target's, with its steps scaled by k = c, or less where the source's central
    95 % of ankle positions would not fit in the target's ``floor_band`` (and that span
    slid into the band where it sticks out). Frames without ankles reuse the last good
    transform, as in ``frame_transforms``."""
    f, ankle_mid, seen = ankle_coordinates(np.asarray(poses, np.float64), conf_threshold)
    if not seen.any():
        raise InputError("no source frame has both ankles visible")
    c = target.median_height / source.median_height
    band_lo, band_hi = floor_band(target)
    lo, hi = np.percentile(f[seen], [2.5, 97.5])
    k = min(c, (band_hi - band_lo) / (hi - lo)) if hi > lo else c
    offset = target.median - k * source.median
    offset += max(0.0, band_lo - (offset + k * lo)) - max(0.0, offset + k * hi - band_hi)
    shift = offset + (k - 1) * f
    anchor = np.stack([ankle_mid[:, 0], f], axis=1)
    last = _last_good(seen)
    return FrameTransforms(anchor=anchor[last], scale=np.full(len(f), c), shift=shift[last],
                           measured=seen.copy())


def fit_problems(normalized: np.ndarray, target: AnkleStats,
                 conf_threshold: float = CONF_THRESHOLD) -> list[str]:
    """What makes normalized source poses implausible in the target's frame: their median
    height against the target's, and their ankles against the target's floor band."""
    f, h, usable = frame_measures(normalized, conf_threshold)
    problems = []
    if usable.any():
        ratio = float(np.median(h[usable])) / target.median_height
        low, high = HEIGHT_RATIO_RANGE
        if not low <= ratio <= high:
            problems.append(f"median height {ratio:.2f}x the target's (outside [{low}, {high}])")
    _, _, seen = ankle_coordinates(np.asarray(normalized, np.float64), conf_threshold)
    if seen.any():
        band_lo, band_hi = floor_band(target)
        outside = ((f[seen] < band_lo) | (f[seen] > band_hi)).mean()
        if outside > OUTSIDE_FRACTION:
            problems.append(f"{outside:.0%} of the ankles outside the target's floor band "
                            f"[{band_lo:.0f}, {band_hi:.0f}] px")
    return problems


@dataclass(frozen=True)
class Fit:
    """A normalization as chosen: ``fit`` is the one applied ("edn" or "robust"),
    ``requested`` what was asked for, ``problems`` what was wrong with the EDN fit."""
    normalized: np.ndarray
    transforms: FrameTransforms
    fit: str
    requested: str
    problems: tuple[str, ...]

    def summary(self) -> str:
        """One line on the fit, for the user."""
        if not self.problems:
            return f"normalization: {self.fit} fit"
        issue = "; ".join(self.problems)
        if self.fit == "robust" and self.requested == "auto":
            return f"normalization: the EDN fit gives {issue}: using the robust fit (median heights and ankles)"
        return f"normalization: {self.fit} fit, although the EDN fit gives {issue}"


def fit_normalization(poses: np.ndarray, source: AnkleStats, target: AnkleStats, fit: str = "auto",
                      conf_threshold: float = CONF_THRESHOLD) -> Fit:
    """Normalize ``poses`` by the EDN fit ("edn"), the robust fit ("robust") or the EDN fit
    unless ``fit_problems`` finds it implausible, then the robust one ("auto")."""
    if fit not in FITS:
        raise UserError(f"unknown normalization fit {fit!r}; one of {', '.join(FITS)}")
    edn = frame_transforms(poses, source, target, conf_threshold) if fit != "robust" else None
    problems = () if edn is None else tuple(fit_problems(apply_transforms(poses, edn), target, conf_threshold))
    if edn is None or (fit == "auto" and problems):
        chosen, transforms = "robust", robust_transforms(poses, source, target, conf_threshold)
    else:
        chosen, transforms = "edn", edn
    return Fit(apply_transforms(poses, transforms), transforms, chosen, fit, problems)


def jumps_warning(jumps: list[int]) -> str | None:
    """The one-line warning for ``identity_jumps``' frames, or None when there are none."""
    if not jumps:
        return None
    return (f"warning: the source's tracked person may change at frames "
            f"{', '.join(map(str, jumps))} (a jump in position or size)")


def identity_jumps(poses: np.ndarray, max_shift: float = 0.5, max_size_change: float = 0.35,
                   conf_threshold: float = CONF_THRESHOLD) -> list[int]:
    """Frames where the tracked person seems to change: between consecutive frames with a
    person (skipping empty frames), the box centre moves by more than ``max_shift`` of the
    larger box height, or the box height changes by more than ``max_size_change``. The
    body's joints only (hands come and go with the detector)."""
    poses = np.asarray(poses, np.float64)[:, :NUM_JOINTS]
    seen = poses[..., 2] >= conf_threshold
    jumps, last = [], None
    for i in range(len(poses)):
        if seen[i].sum() < 4:
            continue
        pts = poses[i, seen[i], :2]
        lo, hi = pts.min(0), pts.max(0)
        box = ((lo + hi) / 2, max(hi[1] - lo[1], 1.0))
        if last is not None:
            (c0, h0), (c1, h1) = last, box
            if (np.linalg.norm(c1 - c0) > max_shift * max(h0, h1)
                    or abs(h1 - h0) > max_size_change * max(h0, h1)):
                jumps.append(i)
        last = box
    return jumps

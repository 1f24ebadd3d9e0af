"""Self-reenactment measures: image similarity to held-out real frames and the baselines a
model must beat (nearest-skeleton retrieval, the mean training frame, the background plate)."""
from __future__ import annotations

import math

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from edn.core.config import Config
from edn.core.errors import UserError
from edn.core.keypoints import (
    FACE,
    LEFT_HAND,
    NUM_JOINTS,
    RIGHT_HAND,
    WHOLE_JOINTS,
    fastest_quarter,
    joint_speed,
    torso_size,
)
from edn.core.face_box import face_box
from edn.core.skeleton import size_scale
from edn.core.window import body_box
from edn.evaluation.temporal import Motion, WarpingError


def ssim(pred: np.ndarray, real: np.ndarray) -> float:
    """SSIM of two uint8 RGB images (scikit-image, 7x7 window, channels averaged)."""
    return float(structural_similarity(pred, real, channel_axis=2, data_range=255))


def psnr(pred: np.ndarray, real: np.ndarray) -> float:
    """PSNR in dB of two uint8 images; inf for identical images."""
    if np.array_equal(pred, real):
        return math.inf
    return float(peak_signal_noise_ratio(real, pred, data_range=255))


def skeleton_distance(a: np.ndarray, b: np.ndarray, min_conf: float = 0.1) -> np.ndarray:
    """Mean joint distance between each pose of ``a`` (N, 18, 3) and each of ``b`` (M, 18, 3)
    over the joints seen in both: (N, M); inf where no joint is shared."""
    seen = (a[:, None, :, 2] > min_conf) & (b[None, :, :, 2] > min_conf)
    d = np.linalg.norm(a[:, None, :, :2] - b[None, :, :, :2], axis=-1)
    count = seen.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(seen, d, 0).sum(-1) / count
    return np.where(count > 0, mean, np.inf)


def nearest_skeleton(train_keypoints: np.ndarray, query_keypoints: np.ndarray,
                     pairs: int = 1 << 18) -> np.ndarray:
    """For each query pose, the index of the training frame with the closest skeleton;
    queries taken a chunk at a time, about ``pairs`` (query, training frame) pairs each, so
    memory stays bounded for minutes of frames on both sides."""
    step = max(1, pairs // max(1, len(train_keypoints)))
    return np.concatenate([skeleton_distance(query_keypoints[i:i + step], train_keypoints).argmin(axis=1)
                           for i in range(0, len(query_keypoints), step)])


class RegionScores:
    """SSIM and PSNR over one box of each frame, frame by frame (frames without a box, or a
    box under 7 px, the SSIM window, are left out)."""

    def __init__(self) -> None:
        self.ssim: list[float] = []
        self.psnr: list[float] = []

    def add(self, pred: np.ndarray, real: np.ndarray, box: tuple[int, int, int, int] | None) -> None:
        if box is None or box[2] - box[0] < 7 or box[3] - box[1] < 7:
            return
        crop_p, crop_r = pred[box[1]:box[3], box[0]:box[2]], real[box[1]:box[3], box[0]:box[2]]
        self.ssim.append(ssim(crop_p, crop_r))
        self.psnr.append(psnr(crop_p, crop_r))

    def result(self) -> dict[str, float]:
        """Mean SSIM and PSNR (of the finite PSNRs), and the number of frames used."""
        finite = [v for v in self.psnr if math.isfinite(v)]
        return {"ssim": float(np.mean(self.ssim)) if self.ssim else math.nan,
                "psnr": float(np.mean(finite)) if finite else (math.inf if self.psnr else math.nan),
                "frames": len(self.ssim)}

    def __add__(self, other: "RegionScores") -> "RegionScores":
        both = RegionScores()
        both.ssim, both.psnr = self.ssim + other.ssim, self.psnr + other.psnr
        return both


def hand_box(hand: np.ndarray, size: tuple[int, int], grow: float = 1.3, min_side: float = 16.0,
             min_conf: float = 0.1) -> tuple[int, int, int, int] | None:
    """Square box (x0, y0, x1, y1), exclusive ends, around a hand's points (21, 3): its
    longer extent times ``grow``, at least ``min_side`` px at a 512-px frame (scaled with the
    frame), clipped to the image of ``size`` (h, w); None with fewer than 5 points seen."""
    seen = hand[:, 2] > min_conf
    if seen.sum() < 5:
        return None
    h, w = size
    lo, hi = hand[seen, :2].min(0), hand[seen, :2].max(0)
    side = max(float((hi - lo).max()) * grow, min_side * size_scale(size))
    cx, cy = (lo + hi) / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    x1, y1 = x0 + round(side), y0 + round(side)
    return max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)


def points_distance(detected: np.ndarray, reference: np.ndarray,
                    min_conf: float = 0.1) -> dict[str, float]:
    """Points detected on generated frames against the input's (both (N, K, 3), e.g. the
    face's 70): mean L2 distance in pixels over the points found in both, and the fraction
    of the reference's points the detector missed."""
    ref_seen = reference[..., 2] > min_conf
    both = ref_seen & (detected[..., 2] > min_conf)
    d = np.linalg.norm(detected[..., :2] - reference[..., :2], axis=-1)
    return {"pixels": float(d[both].mean()) if both.any() else math.nan,
            "missed_fraction": float((ref_seen & ~both).sum() / ref_seen.sum())
            if ref_seen.any() else math.nan}


def pose_distance(detected: np.ndarray, reference: np.ndarray,
                  min_conf: float = 0.1) -> dict[str, float]:
    """The paper's pose metrics for skeletons detected on generated frames against the input
    skeletons (both (N, 18, 3); of whole-body ones the body's 18): mean L2 distance in pixels
    and in units of the reference's torso size over the joints found in both, the mean
    number of the reference's joints per frame that the detector missed, and the fraction
    of the reference's joints it missed (a distance over the joints found says nothing of
    the frames where nobody was found)."""
    detected, reference = detected[:, :NUM_JOINTS], reference[:, :NUM_JOINTS]
    ref_seen = reference[..., 2] > min_conf
    both = ref_seen & (detected[..., 2] > min_conf)
    d = np.linalg.norm(detected[..., :2] - reference[..., :2], axis=-1)
    torso = np.array([torso_size(r) for r in reference])[:, None]
    usable = both & (torso > 0)
    return {
        "pixels": float(d[both].mean()) if both.any() else math.nan,
        "torso_fraction": float((d / np.where(torso > 0, torso, 1))[usable].mean())
        if usable.any() else math.nan,
        "missed_per_frame": float((ref_seen & ~both).sum(-1).mean()),
        "missed_fraction": float((ref_seen & ~both).sum() / ref_seen.sum()) if ref_seen.any() else math.nan,
    }


class Flicker:
    """The flicker ratio, frame by frame: mean absolute change between consecutive generated
    frames over the same on the real frames; 1.0 is as stable as reality, above 1 flickers
    more."""

    def __init__(self) -> None:
        self.previous: tuple[np.ndarray, np.ndarray] | None = None
        self.change = np.zeros(2)  # summed |change| of the generated and the real frames

    def add(self, pred: np.ndarray, real: np.ndarray) -> None:
        frames = pred.astype(np.float32), real.astype(np.float32)
        if self.previous is not None:
            self.change += [np.abs(f - p).sum(dtype=np.float64) for f, p in zip(frames, self.previous)]
        self.previous = frames

    @property
    def ratio(self) -> float:
        generated, real = self.change
        return float(generated / real) if real > 0 else math.inf


class FrameScores:
    """Everything a candidate's frames are scored on, added frame by frame (a held-out span
    of any length in constant memory): whole-frame SSIM/PSNR, body-box, face-box, face-centre
    (the face box's central half: the face itself) and, for whole-body keypoints, hand-box
    (both hands of every frame, ``hand_box``) SSIM/PSNR, the flicker ratio and the warping
    error (``edn.evaluation.temporal``: what a frozen video cannot fake), the pose distance
    of what ``detector`` finds on each frame alone against the input skeleton (and, with
    ``face_points``, of the face's 70 points), the same pose distance over the quarter of the
    frames whose skeleton moves the most and over the others (``fastest_quarter``), and
    LPIPS when ``lpips`` is given. Boxes come from the input keypoints. ``size`` is (w, h)."""

    def __init__(self, size: tuple[int, int], detector, face_points: bool = False,
                 lpips=None) -> None:
        self.hw = (size[1], size[0])
        self.detector, self.face_points, self.lpips = detector, face_points, lpips
        self.ssim: list[float] = []
        self.psnr: list[float] = []
        self.regions = {k: RegionScores() for k in ("body", "face", "face_centre", "left", "right")}
        self.flicker = Flicker()
        self.warping = WarpingError()
        self.detected: list[np.ndarray] = []
        self.reference: list[np.ndarray] = []
        self.lpips_total = 0.0

    def add(self, pred: np.ndarray, real: np.ndarray, keypoints: np.ndarray,
            motion: Motion | None) -> None:
        """One frame: generated ``pred`` and ``real`` (h, w, 3) uint8, the input skeleton
        (18 or 130, 3), and the real video's motion from the frame before (``RealMotion``;
        None for the first)."""
        self.ssim.append(ssim(pred, real))
        self.psnr.append(psnr(pred, real))
        boxes = {"body": body_box(keypoints[:NUM_JOINTS], self.hw),
                 "face": face_box(keypoints, self.hw),
                 "face_centre": face_box(keypoints, self.hw, scale=0.5)}
        if len(keypoints) == WHOLE_JOINTS:
            boxes["left"] = hand_box(keypoints[LEFT_HAND], self.hw)
            boxes["right"] = hand_box(keypoints[RIGHT_HAND], self.hw)
        for name, box in boxes.items():
            self.regions[name].add(pred, real, box)
        self.flicker.add(pred, real)
        self.warping.add(pred, motion)
        found = np.zeros_like(keypoints, dtype=np.float32)
        if people := self.detector.detect(pred):
            found[:] = people[0].keypoints
        self.detected.append(found)
        self.reference.append(keypoints)
        if self.lpips is not None:
            self.lpips_total += self.lpips(pred[None], real[None])

    def result(self) -> dict:
        """The scores (the report's metrics of one candidate)."""
        r = self.regions
        detected, reference = np.stack(self.detected), np.stack(self.reference)
        scores = {"ssim": float(np.mean(self.ssim)), "psnr": float(np.mean(self.psnr)),
                  "body": r["body"].result(), "face": r["face"].result(),
                  "face_centre": r["face_centre"].result(),
                  "flicker_ratio": self.flicker.ratio, "warping_error": self.warping.result(),
                  "ssim_per_frame": self.ssim}
        if reference.shape[1] == WHOLE_JOINTS:
            scores["hands"] = (r["left"] + r["right"]).result()
        scores["pose_distance"] = pose_distance(detected, reference)
        if len(reference) >= 4:  # fast moves apart: where limbs go missing first
            fast = fastest_quarter(joint_speed(reference))
            scores["pose_distance_fastest_quarter"] = pose_distance(detected[fast], reference[fast])
            scores["pose_distance_other_frames"] = pose_distance(detected[~fast], reference[~fast])
        if self.face_points:
            scores["face_pose_distance"] = points_distance(detected[:, FACE], reference[:, FACE])
        if self.lpips is not None:
            scores["lpips"] = self.lpips_total / len(self.ssim)
        return scores


def held_out_split(fraction: float | None, trained_end: int, n: int) -> int:
    """The first held-out frame of ``n``: at ``fraction`` of them, else where the run's
    training frames end; never inside the training frames, and leaving at least 2 frames."""
    split = round(n * fraction) if fraction else trained_end
    if split < trained_end:
        raise UserError(f"the split (frame {split}) falls inside the frames the run was "
                         f"trained on (up to {trained_end})")
    if not 1 <= split < n - 1:
        raise UserError(f"no held-out frames: split at frame {split} of {n}")
    return split


POSE_LIMIT = 0.10  # pose distance a model must stay under, as a fraction of the torso
MISSED_LIMIT = 0.10  # fraction of the input's joints the detector may miss on a model's frames


def retrieval_verdict(name: str, scores: dict, retrieval: dict) -> str:
    """Whether ``name`` beats nearest-skeleton retrieval where a lookup of the training frames
    cannot cheat: body SSIM (the person, not the background) and pose distance (the person
    drawn where the skeleton is), with its pose distance under POSE_LIMIT of the torso and the
    detector missing at most MISSED_LIMIT of the input's joints on its frames (a distance over
    the few joints found on a smear would look fine). One line with the figures; "does NOT"
    and the failed checks when it does not."""
    body, ref_body = scores["body"]["ssim"], retrieval["body"]["ssim"]
    pose, ref_pose = scores["pose_distance"], retrieval["pose_distance"]
    figures = (f"body SSIM {body:.3f} vs {ref_body:.3f}, pose distance {pose['pixels']:.1f} px "
               f"= {pose['torso_fraction']:.3f} of the torso vs {ref_pose['pixels']:.1f} px, "
               f"missed joints {pose['missed_per_frame']:.2f} ({pose['missed_fraction']:.0%}) vs "
               f"{ref_pose['missed_per_frame']:.2f} per frame")
    failed = [what for ok, what in (
        (body > ref_body, "body SSIM"),
        (pose["pixels"] < ref_pose["pixels"], "pose distance"),
        (pose["torso_fraction"] < POSE_LIMIT, f"pose distance under {POSE_LIMIT:.2f} of the torso"),
        (pose["missed_fraction"] <= MISSED_LIMIT,
         f"at most {MISSED_LIMIT:.0%} of the joints missed"),
    ) if not ok]  # NaN (nothing detected) fails every comparison
    if not failed:
        return f"{name} beats nearest-skeleton retrieval: {figures}"
    return f"{name} does NOT beat nearest-skeleton retrieval ({', '.join(failed)}): {figures}"


ABLATION_COLUMNS = ("body SSIM", "face SSIM", "face centre SSIM", "hand SSIM",
                    "pose distance (px)", "face pose distance (px)", "missed joints / frame",
                    "flicker ratio", "warping error ratio", "fastest-quarter pose distance (px)")
_ABLATION_ORDER = ("pix2pixHD", "pix2pixHD +face", "pix2pixHD +face/hand labels",
                   "pix2pixHD +face/hand labels +face", "+temporal smoothing", "+face",
                   "+face/hand labels", "+face/hand labels +face")


def ablation_label(temporal: bool, face: bool, parts: tuple[str, ...] = ("body",),
                   levers: tuple[str, ...] = ()) -> str:
    """The paper's row name of a model: what it adds to frame-by-frame pix2pixHD (temporal
    smoothing, a face stage "+face"), "+face/hand labels" when its label maps draw more than
    the body, and the stability ``levers`` it trains with (``temporal_levers``)."""
    if parts != ("body",):
        words = ["+face/hand labels" if temporal else "pix2pixHD +face/hand labels"]
    elif not temporal:
        words = ["pix2pixHD"]
    else:
        words = ["+temporal smoothing"] if levers or not face else []
    return " ".join([*words, *levers, *(["+face"] if face else [])])


def temporal_levers(cfg: Config) -> tuple[str, ...]:
    """The stability levers of issue 32 that ``cfg`` trains with, as ablation words."""
    levers = []
    if cfg.loss.warp > 0:
        levers.append("+flow-warp loss" + (" ramped" if cfg.loss.warp_ramp > 0 else ""))
    if cfg.generator.temporal and cfg.discriminator.frames == 3:
        levers.append("+3-frame D")
    if cfg.train.fast_pairs > 1:
        levers.append("+fast pairs")
    return tuple(levers)


def ablation_rank(row: str) -> int:
    """A row's place in the paper's order (rows named "<label> (run)" rank as the label);
    other rows come after."""
    label = row.split(" (")[0]
    return _ABLATION_ORDER.index(label) if label in _ABLATION_ORDER else len(_ABLATION_ORDER)


def ablation_row(scores: dict) -> dict[str, float]:
    """The ablation columns from ``FrameScores.result()``; NaN for the hands and face points
    of keypoints without them, and for the fastest quarter's pose distance without a pose."""
    pose = scores["pose_distance"]
    face_pose = scores.get("face_pose_distance", {}).get("pixels", math.nan)
    return dict(zip(ABLATION_COLUMNS, (scores["body"]["ssim"], scores["face"]["ssim"],
                                       scores["face_centre"]["ssim"],
                                       scores.get("hands", {}).get("ssim", math.nan),
                                       pose["pixels"], face_pose, pose["missed_per_frame"],
                                       scores["flicker_ratio"], scores["warping_error"]["ratio"],
                                       scores.get("pose_distance_fastest_quarter", {}).get("pixels", math.nan))))


def ablation_table(rows: dict[str, dict[str, float]]) -> str:
    """A markdown table, the paper's rows first in their order, any others after."""
    lines = ["| model | " + " | ".join(ABLATION_COLUMNS) + " |",
             "|---|" + "---:|" * len(ABLATION_COLUMNS)]
    for name in sorted(rows, key=ablation_rank):
        cells = ["-" if math.isnan(rows[name][c]) else
                 f"{rows[name][c]:.1f}" if "pose" in c else f"{rows[name][c]:.3f}"
                 for c in ABLATION_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

"""Self-reenactment measures: image similarity to held-out real frames and the baselines a
model must beat (nearest-skeleton retrieval, the mean training frame, the background plate)."""
from __future__ import annotations

import math

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from edn.core.errors import UserError
from edn.core.keypoints import FACE, LEFT_HAND, NUM_JOINTS, RIGHT_HAND, WHOLE_JOINTS, torso_size
from edn.core.skeleton import face_box, size_scale
from edn.core.window import body_box


def ssim(pred: np.ndarray, real: np.ndarray) -> float:
    """SSIM of two uint8 RGB images (scikit-image, 7x7 window, channels averaged)."""
    return float(structural_similarity(pred, real, channel_axis=2, data_range=255))


def psnr(pred: np.ndarray, real: np.ndarray) -> float:
    """PSNR in dB of two uint8 images; inf for identical images."""
    if np.array_equal(pred, real):
        return math.inf
    return float(peak_signal_noise_ratio(real, pred, data_range=255))


def image_scores(preds: np.ndarray, reals: np.ndarray) -> dict[str, float]:
    """Mean SSIM and PSNR over frames (N, h, w, 3), plus the per-frame SSIM."""
    s = [ssim(p, r) for p, r in zip(preds, reals)]
    q = [psnr(p, r) for p, r in zip(preds, reals)]
    return {"ssim": float(np.mean(s)), "psnr": float(np.mean(q)), "ssim_per_frame": s}


def skeleton_distance(a: np.ndarray, b: np.ndarray, min_conf: float = 0.1) -> np.ndarray:
    """Mean joint distance between each pose of ``a`` (N, 18, 3) and each of ``b`` (M, 18, 3)
    over the joints seen in both: (N, M); inf where no joint is shared."""
    seen = (a[:, None, :, 2] > min_conf) & (b[None, :, :, 2] > min_conf)
    d = np.linalg.norm(a[:, None, :, :2] - b[None, :, :, :2], axis=-1)
    count = seen.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(seen, d, 0).sum(-1) / count
    return np.where(count > 0, mean, np.inf)


def nearest_skeleton(train_keypoints: np.ndarray, query_keypoints: np.ndarray) -> np.ndarray:
    """For each query pose, the index of the training frame with the closest skeleton."""
    return skeleton_distance(query_keypoints, train_keypoints).argmin(axis=1)


def region_scores(preds: np.ndarray, reals: np.ndarray,
                  boxes: list[tuple[int, int, int, int] | None]) -> dict[str, float]:
    """Mean SSIM and PSNR over the frames' boxes (frames without a box, or a box under 7 px,
    the SSIM window, are left out); counts the frames used."""
    s, q = [], []
    for p, r, b in zip(preds, reals, boxes):
        if b is None or b[2] - b[0] < 7 or b[3] - b[1] < 7:
            continue
        crop_p, crop_r = p[b[1]:b[3], b[0]:b[2]], r[b[1]:b[3], b[0]:b[2]]
        s.append(ssim(crop_p, crop_r))
        q.append(psnr(crop_p, crop_r))
    finite = [v for v in q if math.isfinite(v)]
    return {"ssim": float(np.mean(s)) if s else math.nan,
            "psnr": float(np.mean(finite)) if finite else (math.inf if q else math.nan),
            "frames": len(s)}


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


def flicker_ratio(generated: np.ndarray, real: np.ndarray) -> float:
    """Mean absolute change between consecutive generated frames over the same on the real
    frames: 1.0 is as stable as reality, above 1 flickers more."""
    def change(frames: np.ndarray) -> float:
        f = frames.astype(np.float32)
        return float(np.abs(np.diff(f, axis=0)).mean())
    real_change = change(real)
    return change(generated) / real_change if real_change > 0 else math.inf


def all_scores(frames: np.ndarray, real: np.ndarray, keypoints: np.ndarray,
               size: tuple[int, int]) -> dict:
    """Whole-frame, body-box, face-box, face-centre (the face box's central half: the face
    itself) and (whole-body keypoints) hand-box SSIM/PSNR and the flicker ratio of
    ``frames`` against ``real`` (N, h, w, 3), boxes from the input ``keypoints`` (N, 18 or
    130, 3); the hands' boxes, both hands of every frame, are ``hand_box``."""
    h, w = size[1], size[0]
    whole = image_scores(frames, real)
    scores = {
        "ssim": whole["ssim"], "psnr": whole["psnr"],
        "body": region_scores(frames, real, [body_box(k[:NUM_JOINTS], (h, w)) for k in keypoints]),
        "face": region_scores(frames, real, [face_box(k, (h, w)) for k in keypoints]),
        "face_centre": region_scores(frames, real,
                                     [face_box(k, (h, w), scale=0.5) for k in keypoints]),
        "flicker_ratio": flicker_ratio(frames, real),
        "ssim_per_frame": whole["ssim_per_frame"],
    }
    if keypoints.shape[1] == WHOLE_JOINTS:
        boxes = [hand_box(k[hand], (h, w)) for hand in (LEFT_HAND, RIGHT_HAND) for k in keypoints]
        scores["hands"] = region_scores(np.concatenate([frames, frames]),
                                        np.concatenate([real, real]), boxes)
    return scores


def detect_each(frames: np.ndarray, detector, points: int = NUM_JOINTS) -> np.ndarray:
    """The detector's most confident person in each frame independently: (N, ``points``, 3)
    (18, or 130 from a detector of the face and hands)."""
    out = np.zeros((len(frames), points, 3), np.float32)
    for i, frame in enumerate(frames):
        found = detector.detect(frame)
        if found:
            out[i] = found[0].keypoints
    return out


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
                    "flicker ratio")
_ABLATION_ORDER = ("pix2pixHD", "pix2pixHD +face", "pix2pixHD +face/hand labels",
                   "pix2pixHD +face/hand labels +face", "+temporal smoothing", "+face",
                   "+face/hand labels", "+face/hand labels +face")


def ablation_label(temporal: bool, face: bool, parts: tuple[str, ...] = ("body",)) -> str:
    """The paper's row name of a model: what it adds to frame-by-frame pix2pixHD (temporal
    smoothing, a face stage "+face"), and "+face/hand labels" when its label maps draw more
    than the body."""
    if parts != ("body",):
        base = "+face/hand labels" if temporal else "pix2pixHD +face/hand labels"
        return f"{base} +face" if face else base
    if not temporal:
        return "pix2pixHD +face" if face else "pix2pixHD"
    return "+face" if face else "+temporal smoothing"


def ablation_rank(row: str) -> int:
    """A row's place in the paper's order (rows named "<label> (run)" rank as the label);
    other rows come after."""
    label = row.split(" (")[0]
    return _ABLATION_ORDER.index(label) if label in _ABLATION_ORDER else len(_ABLATION_ORDER)


def ablation_row(scores: dict) -> dict[str, float]:
    """The ablation columns from ``all_scores`` + ``pose_distance`` (+ ``points_distance`` of
    the face as "face_pose_distance") output; NaN for the hands and face points of keypoints
    without them."""
    pose = scores["pose_distance"]
    face_pose = scores.get("face_pose_distance", {}).get("pixels", math.nan)
    return dict(zip(ABLATION_COLUMNS, (scores["body"]["ssim"], scores["face"]["ssim"],
                                       scores["face_centre"]["ssim"],
                                       scores.get("hands", {}).get("ssim", math.nan),
                                       pose["pixels"], face_pose, pose["missed_per_frame"],
                                       scores["flicker_ratio"])))


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

"""Self-reenactment measures: image similarity to held-out real frames and the baselines a
model must beat (nearest-skeleton retrieval, the mean training frame, the background plate)."""
from __future__ import annotations

import math

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


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

"""Jitter, lag and fast-move survival of the source skeletons under each smoothing filter
(issue 32, "stable input": a skeleton's jitter becomes label-map jitter, then flicker).

    python bench/keypoint_jitter.py [VIDEO ...]

Each video (default: the shared taiji.mp4 and the shared dance video) is tracked once by
MediaPipe without smoothing (left/right swaps fixed, as extraction does), then smoothed by:

  none        the raw track
  median7     the 7-frame median that extraction applies today (pose_detector.filtering)
  one_euro    a One-Euro filter (Casiez et al. 2012), causal, as live use would need it:
              min cutoff 1.0 Hz, beta 0.3 per torso/s, derivative cutoff 1.0 Hz
  zero_phase  a 2nd-order Butterworth low-pass at 6 Hz run forwards and backwards
              (scipy.signal.filtfilt): no lag

and measured on the body's 18 joints where seen, in torso units (the track's median torso):
  jitter      mean |second difference| per frame (acceleration: where noise lives)
  lag         frames by which the filtered velocity trails the raw one (cross-correlation
              peak, sub-frame), mean over joints
  fast_kept   the wrists' and ankles' 95th-percentile speed after filtering over before
              (1.0: fast moves survive)
Prints one JSON object. Figures depend on the CPU only through MediaPipe's timing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.signal import butter, filtfilt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edn.core.keypoints import J, NUM_JOINTS, torso_size  # noqa: E402
from edn.core.video import open_frames  # noqa: E402
from pose_detector.extract import extract_track, make_detector  # noqa: E402
from pose_detector.filtering import OneEuro, fix_side_swaps, median_filter  # noqa: E402

SHARED = ROOT.parent / "shared/data"
VIDEOS = (SHARED / "hybrik/examples/taiji.mp4", SHARED / "unianimate/data/videos/source_video.mp4")
EXTREMITIES = [J[n] for n in ("r_wrist", "l_wrist", "r_ankle", "l_ankle")]


def one_euro(track: np.ndarray, fps: float, scale: float = 1.0) -> np.ndarray:
    """The live One-Euro filter (pose_detector.filtering.OneEuro) over (T, J, 2) positions."""
    smooth = OneEuro(fps, scale=scale)
    seen = np.ones((*track.shape[:2], 1), track.dtype)
    return np.stack([smooth(np.concatenate([xy, seen[0]], 1))[:, :2] for xy in track])


def zero_phase(track: np.ndarray, fps: float, cutoff: float = 6.0) -> np.ndarray:
    b, a = butter(2, min(0.99, cutoff / (fps / 2)))
    return filtfilt(b, a, track, axis=0, padlen=min(len(track) - 1, 9))


def lag_frames(raw: np.ndarray, filtered: np.ndarray, max_lag: int = 8) -> float:
    """Frames by which ``filtered`` trails ``raw`` (1-D velocities), parabola-refined."""
    a, b = raw - raw.mean(), filtered - filtered.mean()
    lags = np.arange(-max_lag, max_lag + 1)
    corr = np.array([np.dot(a[max(0, -k):len(a) - max(0, k)], b[max(0, k):len(b) - max(0, -k)])
                     for k in lags])
    i = int(np.argmax(corr))
    if 0 < i < len(lags) - 1:
        denom = corr[i - 1] - 2 * corr[i] + corr[i + 1]
        return float(lags[i] + (0.5 * (corr[i - 1] - corr[i + 1]) / denom if denom else 0.0))
    return float(lags[i])


def measure(raw: np.ndarray, filtered: np.ndarray, seen: np.ndarray, scale: float) -> dict:
    """Jitter, lag and fast_kept of ``filtered`` (T, 18, 2) against ``raw``."""
    acc = np.linalg.norm(np.diff(filtered, 2, axis=0), axis=-1) / scale
    both = seen[2:] & seen[1:-1] & seen[:-2]
    speed_raw = np.linalg.norm(np.diff(raw, axis=0), axis=-1) / scale
    speed = np.linalg.norm(np.diff(filtered, axis=0), axis=-1) / scale
    moving = seen[1:] & seen[:-1]
    lags = [lag_frames(np.diff(raw[:, j], axis=0)[:, k], np.diff(filtered[:, j], axis=0)[:, k])
            for j in range(NUM_JOINTS) for k in range(2) if seen[:, j].all()]
    ends = [np.percentile(speed[moving[:, j], j], 95) / np.percentile(speed_raw[moving[:, j], j], 95)
            for j in EXTREMITIES if moving[:, j].sum() > 10]
    return {"jitter": round(float(acc[both].mean()), 5), "lag": round(float(np.mean(lags)), 2),
            "fast_kept": round(float(np.mean(ends)), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("videos", nargs="*", type=Path, default=[v for v in VIDEOS if v.is_file()])
    args = p.parse_args()
    if not args.videos:
        raise SystemExit(f"no video given and none of {', '.join(map(str, VIDEOS))} present")
    detector = make_detector("mediapipe")
    results = {}
    for video in args.videos:
        frames = open_frames(video)
        track = extract_track(frames, detector, smooth=False, progress=False)
        poses, _ = fix_side_swaps(track.keypoints[:, :NUM_JOINTS])
        seen = poses[..., 2] > 0.3
        scale = float(np.median([s for s in map(torso_size, poses) if s > 0]))
        raw = poses[..., :2].astype(np.float64)
        filters = {
            "none": raw,
            "median7": median_filter(poses)[..., :2].astype(np.float64),
            "one_euro": one_euro(raw, frames.fps, scale=scale),
            "zero_phase": zero_phase(raw, frames.fps),
        }
        results[video.name] = {"frames": len(poses), "fps": frames.fps, "torso_px": round(scale, 1),
                               **{name: measure(raw, f, seen, scale) for name, f in filters.items()}}
        print(f"{video.name}: {results[video.name]}", file=sys.stderr)
    print(json.dumps({"cpu": torch.backends.cpu.get_cpu_capability(), "results": results}, indent=2))


if __name__ == "__main__":
    main()

"""Why fast arm swings come out wrong (issue 32, part 4): is a fast wrist blurred in the
frames a model trains on?

Each video is prepared as the models see it (bench/synthesis_quality.py's evaluation crop at
256x256, MediaPipe). For every frame and wrist: its speed (px a frame at 256, from the frames
before and after) and the sharpness of the 24x24 patch around it (variance of the Laplacian
of the grey levels), over that wrist's median sharpness in the video (so a sleeve's texture
cancels). Compared: the quarter of the wrists that move fastest against the slowest half, and
the rank correlation of speed and sharpness.

    python bench/fast_limbs.py [VIDEO ...]

Prints one JSON object, a row per video.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from synthesis_quality import VIDEO, prepared_eval_set

import cv2
import numpy as np

from edn.core.keypoints import J
from edn.preparation.target_set import TargetSet

DANCE = VIDEO.parents[2] / "unianimate/data/videos/source_video.mp4"
WRISTS = [J["r_wrist"], J["l_wrist"]]
PATCH = 12  # half side (px at 256)


def sharpness(grey: np.ndarray, x: float, y: float) -> float:
    """Variance of the Laplacian over the patch around (x, y); NaN where it leaves the frame."""
    h, w = grey.shape
    x0, y0 = int(round(x)) - PATCH, int(round(y)) - PATCH
    if x0 < 0 or y0 < 0 or x0 + 2 * PATCH > w or y0 + 2 * PATCH > h:
        return float("nan")
    patch = grey[y0:y0 + 2 * PATCH, x0:x0 + 2 * PATCH]
    return float(cv2.Laplacian(patch, cv2.CV_32F).var())


def rank(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x)).astype(float)


def measure(video: Path) -> dict:
    prepared = prepared_eval_set(("body",), video)
    data = TargetSet.load(prepared, (256, 256))
    kp = data.keypoints
    speeds, sharp = [], []
    for t in range(1, len(data) - 1):
        grey = cv2.cvtColor(data.frames([t])[0], cv2.COLOR_RGB2GRAY)
        for j in WRISTS:
            if min(kp[t - 1, j, 2], kp[t, j, 2], kp[t + 1, j, 2]) <= 0.1:
                continue
            speeds.append(np.linalg.norm(kp[t + 1, j, :2] - kp[t - 1, j, :2]) / 2)
            sharp.append(sharpness(grey, *kp[t, j, :2]))
    speed, s = np.array(speeds), np.array(sharp)
    keep = np.isfinite(s)
    speed, s = speed[keep], s[keep] / np.median(s[keep])
    fast = speed >= np.quantile(speed, 0.75)
    slow = speed <= np.median(speed)
    return {"video": video.name, "wrists": int(len(speed)),
            "speed_px_per_frame": {"median": round(float(np.median(speed)), 2),
                                   "fastest_quarter_from": round(float(np.quantile(speed, 0.75)), 2)},
            "sharpness_fastest_quarter": round(float(np.median(s[fast])), 3),
            "sharpness_slowest_half": round(float(np.median(s[slow])), 3),
            "rank_correlation": round(float(np.corrcoef(rank(speed), rank(s))[0, 1]), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="*", type=Path, default=[v for v in (VIDEO, DANCE) if v.is_file()])
    args = ap.parse_args()
    if not args.videos:
        print(json.dumps({"skipped": f"neither {VIDEO} nor {DANCE} found"}))
        return 0
    print(json.dumps({"rows": [measure(v) for v in args.videos]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

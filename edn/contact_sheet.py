"""Contact sheets: a few frames tiled so a person can judge a result at a glance."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edn import normalize
from edn.skeleton import draw_skeleton
from edn.video import read_image_rgb

TILE = 256
SHEET_COLUMNS = 4


def normalization_sheet(target_frames: Path, target_poses: np.ndarray, normalized: np.ndarray,
                        transforms: normalize.FrameTransforms, target: normalize.AnkleStats,
                        tiles: int = 12, conf_threshold: float = normalize.CONF_THRESHOLD
                        ) -> np.ndarray:
    """Evenly spaced normalized source frames, each drawn over the target frame whose lower
    ankle is nearest in y (same depth), between lines at the target's far and close
    positions. Returns an RGB image."""
    f_src, _, seen_src = normalize.ankle_coordinates(normalized, conf_threshold)
    f_tgt, _, seen_tgt = normalize.ankle_coordinates(target_poses, conf_threshold)
    candidates = np.flatnonzero(seen_tgt)
    picks = np.flatnonzero(seen_src)
    picks = picks[np.linspace(0, len(picks) - 1, min(tiles, len(picks))).round().astype(int)]
    images = []
    for i in picks:
        j = int(candidates[np.argmin(np.abs(f_tgt[candidates] - f_src[i]))])
        frame = read_image_rgb(target_frames / f"{j:06d}.png")
        h, w = frame.shape[:2]
        for y in (target.far, target.close):
            cv2.line(frame, (0, round(y)), (w - 1, round(y)), (255, 255, 255), 1)
        frame = draw_skeleton(frame, normalized[i], conf_threshold, alpha=0.8)
        tile = cv2.resize(frame, (TILE, round(TILE * h / w)), interpolation=cv2.INTER_AREA)
        text = f"src {i} on tgt {j}  c={transforms.scale[i]:.3f} b={transforms.shift[i]:+.1f}"
        cv2.rectangle(tile, (0, 0), (TILE - 1, 19), (0, 0, 0), -1)  # keep the caption legible
        cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1,
                    cv2.LINE_AA)
        images.append(tile)
    blank = np.zeros_like(images[0])
    images += [blank] * (-len(images) % SHEET_COLUMNS)
    rows = [np.hstack(images[k:k + SHEET_COLUMNS]) for k in range(0, len(images), SHEET_COLUMNS)]
    return np.vstack(rows)

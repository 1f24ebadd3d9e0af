"""Agreement between two skeleton tracks (COCO-18 arrays)."""
from __future__ import annotations

import numpy as np

from edn.core.keypoints import NUM_JOINTS, J, torso_size

# Every COCO-18 joint but the neck, which COCO-17 references (and BODY_25B) do not have.
COCO17_JOINTS = np.array([i for i in range(18) if i != J["neck"]])


def pck(pred: np.ndarray, ref: np.ndarray, alpha: float = 0.2, min_ref_conf: float = 0.3,
        joints: np.ndarray = COCO17_JOINTS) -> np.ndarray:
    """Per-frame PCK@alpha: the fraction of the reference's joints (confidence >
    ``min_ref_conf``) that ``pred`` found within ``alpha`` x the reference's torso size
    (mean of the two shoulder-to-opposite-hip distances). A joint ``pred`` did not find
    counts as wrong. Frames whose reference has no such joint or no torso are NaN.
    pred, ref: (frames, 18, 3)."""
    pred, ref = pred[:, :NUM_JOINTS], ref[:, :NUM_JOINTS]  # the body of whole-body keypoints
    out = np.full(len(ref), np.nan)
    for t, (p, r) in enumerate(zip(pred, ref)):
        scale = torso_size(r)
        use = np.zeros(len(r), bool)
        use[joints] = True
        use &= r[:, 2] > min_ref_conf
        if scale <= 0 or not use.any():
            continue
        hit = (np.linalg.norm(p[:, :2] - r[:, :2], axis=1) < alpha * scale) & (p[:, 2] > 0)
        out[t] = (hit & use).sum() / use.sum()
    return out

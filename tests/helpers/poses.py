"""Synthetic skeletons for tests: a standing person, and a figure walking in depth with the
ground-truth normalization that maps it onto a target."""
import numpy as np

from edn.core.keypoints import J


def coco18_person(dx: float = 0.0) -> np.ndarray:
    """A standing person facing the camera (their right on the image's left)."""
    xy = {
        "nose": (50, 10), "r_eye": (47, 8), "l_eye": (53, 8), "r_ear": (44, 10), "l_ear": (56, 10),
        "r_shoulder": (40, 25), "l_shoulder": (60, 25), "r_elbow": (35, 40), "l_elbow": (65, 40),
        "r_wrist": (33, 55), "l_wrist": (67, 55), "r_hip": (44, 60), "l_hip": (56, 60),
        "r_knee": (43, 80), "l_knee": (57, 80), "r_ankle": (42, 100), "l_ankle": (58, 100),
    }
    pose = np.zeros((18, 3), np.float32)
    for name, (x, y) in xy.items():
        pose[J[name]] = (x + dx, y, 0.9)
    pose[J["neck"]] = (50 + dx, 25, 0.9)
    return pose


# A unit figure: ankles at y = 0, nose at height 1 (y up is negative in images).
UNIT = {
    "nose": (0.0, -1.0), "neck": (0.0, -0.82),
    "r_shoulder": (-0.12, -0.82), "r_elbow": (-0.18, -0.62), "r_wrist": (-0.2, -0.45),
    "l_shoulder": (0.12, -0.82), "l_elbow": (0.18, -0.62), "l_wrist": (0.2, -0.45),
    "r_hip": (-0.07, -0.5), "r_knee": (-0.08, -0.25), "r_ankle": (-0.09, 0.0),
    "l_hip": (0.07, -0.5), "l_knee": (0.08, -0.25), "l_ankle": (0.09, 0.0),
    "r_eye": (-0.03, -1.02), "l_eye": (0.03, -1.02), "r_ear": (-0.06, -1.0),
    "l_ear": (0.06, -1.0),
}


def figure(x: float, f: float, height: float, wave: float = 0.0, lift: float = 0.0) -> np.ndarray:
    """A pose whose lower ankle is at (x, f) and whose nose is ``height`` above the ankles
    (before the left foot is lifted by ``lift`` of the height); ``wave`` raises the wrists."""
    pose = np.zeros((18, 3), np.float32)
    for name, (ux, uy) in UNIT.items():
        if name.endswith("wrist"):
            uy -= wave
        if name == "l_ankle":
            uy -= lift
        pose[J[name]] = (x + ux * height, f + uy * height, 0.9)
    return pose


def source_walk() -> np.ndarray:
    """A dancer at fixed depths (far 300, standing 330, close 400) and walking between
    them, with a perspective height 0.9 (f - 100), waving and lifting a foot now and then.
    No frame lies within 5 % of the range of an end except the end's own cluster, so the
    largest height near an end is that end's height exactly."""
    rng = np.random.default_rng(0)
    fs = np.concatenate([np.full(10, 300.0), np.linspace(310, 390, 41), np.full(30, 330.0),
                         np.full(10, 400.0)])
    rng.shuffle(fs)
    return np.stack([figure(rng.uniform(150, 350), f, 0.9 * (f - 100),
                            wave=rng.uniform(0, 0.3), lift=rng.choice([0.0, 0.05]))
                     for f in fs])


def transform_like_target(source: np.ndarray, s_far: float, s_close: float, t_far: float,
                          t_close: float, c_far: float, c_close: float
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground truth: scale each frame about its lower ankle by c(p) and move that ankle to
    the same fraction p of the target's range. Returns (target poses, c, b)."""
    f = np.maximum(source[:, J["r_ankle"], 1], source[:, J["l_ankle"], 1]).astype(np.float64)
    p = (f - s_far) / (s_close - s_far)
    c = c_far + p * (c_close - c_far)
    b = t_far + p * (t_close - t_far) - f
    anchor = np.stack([(source[:, J["r_ankle"], 0] + source[:, J["l_ankle"], 0]) / 2, f], 1)
    target = source.astype(np.float64).copy()
    target[..., :2] = anchor[:, None] + c[:, None, None] * (source[..., :2] - anchor[:, None])
    target[..., 1] += b[:, None]
    return target.astype(np.float32), c, b

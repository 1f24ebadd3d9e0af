"""How long one 512 x 512 label map takes to render (it must never bottleneck training).

    python bench/label_speed.py [--frames N]

Renders synthetic moving figures on one core and prints JSON: ms per label map.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edn.core.skeleton import render_label_map  # noqa: E402


def random_poses(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Figures of about half the frame height, jittered, with ~10 % of joints missing."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.3 * size, 0.7 * size, (18, 2))
    xy = base + rng.normal(0, 0.05 * size, (n, 18, 2))
    conf = rng.uniform(0.2, 1.0, (n, 18, 1)) * (rng.random((n, 18, 1)) > 0.1)
    return np.concatenate([xy, conf], axis=2).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="label maps to render")
    parser.add_argument("--size", type=int, default=512, help="label map side in pixels")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # a data-loader worker renders on one core
    poses = random_poses(args.frames, args.size)
    for pose in poses[:50]:  # warm-up
        render_label_map(pose, (args.size, args.size))
    start = time.perf_counter()
    for pose in poses:
        render_label_map(pose, (args.size, args.size))
    ms = (time.perf_counter() - start) * 1000 / args.frames
    print(json.dumps({"size": [args.size, args.size], "frames": args.frames,
                      "ms_per_label_map": round(ms, 4), "label_maps_per_s": round(1000 / ms, 1)}))


if __name__ == "__main__":
    main()

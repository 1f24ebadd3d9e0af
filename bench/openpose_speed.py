"""The OpenPose network's forward pass at 368x656: plain fp32 eager against the backend's
path on this CPU, in the same run, and the whole detection (maps + grouping) per image.

    python bench/openpose_speed.py [--runs 3] [--precision auto|fp32|bf16]

Uses the weights in the weights folder when the user brought them, else a seeded random
initialisation (the speed does not depend on the values). The image is a frame of the shared
Pose2Sim video when present, resized to 368x656, else noise. Prints one JSON object: the CPU
capability, whether it has native bf16, the precision the backend chose, median and range of
each figure in milliseconds (the forward pass; the maps = resizing, forward and resampling
onto the common grid; with real weights also the grouping), the speed-up, and the largest difference of the backend's maps
from the plain fp32 maps as a fraction of their largest magnitude.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from edn.core.paths import weights_dir
from edn.core.runtime import native_bf16
from pose_detector.backends.openpose import OpenPoseNet
from pose_detector.extract import openpose_weights
from pose_detector.openpose.network import OpenPoseBody, load_openpose
from pose_detector.openpose.paf import decode

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / ("shared/data/pose2sim/Pose2Sim/S00_Demo_BatchSession/S00_P00_SingleParticipant/"
                       "S00_P00_T01_BalancingTrial/videos/cam01.mp4")
HEIGHT, WIDTH = 368, 656


def timed(fn, runs: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def summary(ms: list[float]) -> dict:
    return {"median": round(statistics.median(ms), 1), "min": round(min(ms), 1), "max": round(max(ms), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    args = ap.parse_args()
    found = openpose_weights(weights_dir())
    if found is not None:
        net, weights = load_openpose(found), str(found)
    else:
        torch.manual_seed(0)
        net, weights = OpenPoseBody().eval(), "random (no OpenPose weights brought)"
    capture = cv2.VideoCapture(str(VIDEO))
    ok, frame = capture.read() if VIDEO.is_file() else (False, None)
    image = cv2.resize(frame, (WIDTH, HEIGHT)) if ok else \
        (np.random.default_rng(0).random((HEIGHT, WIDTH, 3)) * 255).astype(np.uint8)

    x = torch.from_numpy(image.transpose(2, 0, 1).copy())[None].float() / 256 - 0.5
    with torch.inference_mode():
        plain = timed(lambda: net(x), args.runs)
        reference = OpenPoseNet(net, "cpu", "fp32").maps(image)
    fast_net = OpenPoseNet(net, "cpu", args.precision)
    with torch.inference_mode():
        fast = timed(lambda: fast_net._forward(image), args.runs)
    maps = fast_net.maps(image)
    deviation = max(float(np.abs(a - b).max() / np.abs(a).max()) for a, b in zip(reference[:2], maps[:2]))
    with torch.inference_mode():
        whole = timed(lambda: fast_net.maps(image), args.runs)
    grouping: object = "random weights give thousands of peaks: see bench/paf_decode.py"
    if found is not None:
        grouping = summary(timed(lambda: decode(*maps), max(args.runs, 20)))
    print(json.dumps({
        "cpu": torch.backends.cpu.get_cpu_capability(), "native_bf16": native_bf16(),
        "threads": torch.get_num_threads(), "weights": weights, "input": f"{HEIGHT}x{WIDTH}",
        "precision": fast_net.precision,
        "plain_fp32_forward_ms": summary(plain), "backend_forward_ms": summary(fast),
        "maps_ms": summary(whole), "grouping_ms": grouping,
        "map_deviation_from_fp32": round(deviation, 5),
        "speedup": round(statistics.median(plain) / statistics.median(fast), 2),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

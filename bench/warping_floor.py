"""Where a trained model's warping error comes from, and what an output filter buys (issue 32).

On bench/temporal_ablation.py's runs (taiji's 256x256 evaluation crop, its held-out frames),
three measurements of the warping-error ratio (edn.evaluation.temporal):

- ``jittered real``: the real frames, each moved by a random whole pixel in x and y (-1, 0 or
  1): how much a sub-pixel-steady video loses to a 1 px wobble;
- ``smoothed labels``: each run's frames made from the held-out skeletons smoothed over time
  (a Gaussian of SIGMAS frames on every joint seen in all of them): the share of the error the
  skeletons' own jitter explains;
- ``output filter``: each run's frames passed through a flow-guided temporal filter
  (Bonneel et al. 2015's idea): frame t is blended with the filter's frame t-1 moved by the
  flow between the generated frames t-1 and t, on the pixels that flow follows (edn.core.flow),
  by ``strength x exp(-(d / tolerance)^2)`` with d the two frames' mean absolute difference
  there. Scored like a model row: body SSIM, the pose distance, the fastest quarter's.

    python bench/warping_floor.py [--runs tmp_today_2000 ...]

Prints one JSON object. The filter is measured here only: it is not in edn/ (results.md says
why).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

from synthesis_quality import CACHE, ROOT, VIDEO, prepared_eval_set

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from edn.core.flow import FlowEstimator, grey
from edn.core.keypoints import PARTS
from edn.evaluation.metrics import FrameScores, ablation_row
from edn.evaluation.temporal import Motion, RealMotion, WarpingError
from edn.inference.transfer import Renderer
from edn.preparation.prepare import detector_of
from edn.preparation.target_set import TargetSet
from pose_detector.extract import make_detector

SIGMAS = (1.0, 2.0, 4.0)                     # frames
FILTERS = ((0.7, 20.0), (0.7, 60.0))        # (strength, tolerance in levels 0-255)


def output_filter(frames: Iterator[np.ndarray], strength: float,
                  tolerance: float) -> Iterator[np.ndarray]:
    """The flow-guided temporal filter of the module's docstring over uint8 frames."""
    flows = FlowEstimator()
    before: tuple[np.ndarray, np.ndarray] | None = None  # generated grey t-1, filtered t-1
    for frame in frames:
        made = frame.astype(np.float32)
        out = made
        if before is not None:
            flow = flows.between(before[0], grey(frame))
            moved = flow.warp(before[1])
            d = np.abs(made - moved).mean(-1)
            weight = strength * flow.followed * np.exp(-(d / tolerance) ** 2)
            out = made + weight[..., None] * (moved - made)
        before = (grey(frame), out)
        yield np.clip(out + 0.5, 0, 255).astype(np.uint8)


def ratio(frames: Iterator[np.ndarray], motions: list[Motion | None]) -> float:
    error = WarpingError()
    for frame, motion in zip(frames, motions):
        error.add(frame, motion)
    return round(error.result()["ratio"], 3)


def smoothed(keypoints: np.ndarray, sigma: float) -> np.ndarray:
    out = keypoints.copy()
    seen = (keypoints[:, :, 2] > 0).all(0)
    out[:, seen, :2] = gaussian_filter1d(keypoints[:, seen, :2], sigma, axis=0, mode="nearest")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", default=["tmp_today_2000", "tmp_warp100_fast_pairs3_2000",
                                                  "tmp_warp100_fast_pairs3_6000"],
                    help="runs of bench/temporal_ablation.py (in .cache/bench/weights)")
    args = ap.parse_args()
    if not VIDEO.is_file():
        print(json.dumps({"skipped": f"{VIDEO} not found"}))
        return 0
    prepared = prepared_eval_set(PARTS)
    weights = CACHE / "weights"
    missing = [r for r in args.runs if not (weights / r).is_dir()]
    if missing:
        print(json.dumps({"skipped": f"no run {missing} (python bench/temporal_ablation.py)"}))
        return 0
    out: dict = {}
    for name in args.runs:
        renderer = Renderer(weights / name, torch.device("cpu"), face=False)
        data = TargetSet.load(prepared, renderer.target.size)
        split = renderer.target.frames[1]
        keypoints = data.keypoints[split:]
        reals = [data.frames([split + i])[0] for i in range(len(keypoints))]
        real_motion = RealMotion()
        motions = [real_motion.add(frame) for frame in reals]
        if "jittered real" not in out:
            rng = np.random.default_rng(0)
            out["jittered real"] = ratio(
                (np.roll(f, tuple(rng.integers(-1, 2, 2)), (0, 1)) for f in reals), motions)
        row: dict = {"as made": ratio((f.body for f in renderer.stream(keypoints)), motions)}
        for sigma in SIGMAS:
            row[f"labels smoothed {sigma:g} frames"] = ratio(
                (f.body for f in renderer.stream(smoothed(keypoints, sigma))), motions)
        detector = make_detector(detector_of(data.folder), weights=ROOT / "weights",
                                 parts=data.meta.parts)
        for strength, tolerance in ((0.0, 1.0), *FILTERS):
            scores = FrameScores(data.size, detector)
            made = output_filter((f.body for f in renderer.stream(keypoints)), strength, tolerance)
            for i, frame in enumerate(made):
                scores.add(frame, reals[i], keypoints[i], motions[i])
            result = scores.result()
            columns = ablation_row(result)
            row[f"output filter {strength:g}/{tolerance:g}"] = {
                "body SSIM": round(columns["body SSIM"], 3),
                "pose distance (px)": round(columns["pose distance (px)"], 2),
                "missed joints / frame": round(columns["missed joints / frame"], 3),
                "fastest quarter (px)": round(columns["fastest-quarter pose distance (px)"], 2),
                "flicker ratio": round(columns["flicker ratio"], 3),
                "warping error ratio": round(columns["warping error ratio"], 3)}
        out[name] = row
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

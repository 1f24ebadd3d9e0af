"""The temporal levers of issue 32 on taiji, one row each at equal iterations.

Same set (taiji's 256x256 evaluation crop with face and hand keypoints, bench/ablation.py's),
split (0.8) and seed as bench/ablation.py. Each row is the `cpu` preset's body stage with one
lever changed (ROWS); `main/evaluate.py --ablate` scores them all on the held-out frames beside
nearest-skeleton retrieval: body SSIM, the pose distance (all held-out frames, and the quarter
whose skeleton moves the most), the flicker ratio and the warping-error ratio.

    python bench/temporal_ablation.py [--iters 2000] [--rows today warp100 ...] [--eval-only]

Prints one JSON object (a row per run); the report is in .cache/bench/temporal/, with
strip.png: 8 consecutive held-out frames of every row (edn.evaluation.reenactment's sheet is
spread over the whole test part).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from collections.abc import Callable

from ablation import run
from synthesis_quality import CACHE, SPLIT, VIDEO, prepared_eval_set

import numpy as np
import torch

from edn.core.config import Config
from edn.core.keypoints import PARTS
from edn.core.video import write_image_rgb
from edn.inference.transfer import Renderer
from edn.preparation.target_set import TargetSet
from edn.training.presets import cpu


def with_loss(**changes: float) -> Callable[[Config], Config]:
    return lambda cfg: dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, **changes))


def with_train(**changes: int) -> Callable[[Config], Config]:
    return lambda cfg: dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **changes))


def with_discriminator(**changes: int) -> Callable[[Config], Config]:
    return lambda cfg: dataclasses.replace(
        cfg, discriminator=dataclasses.replace(cfg.discriminator, **changes))


def today(cfg: Config) -> Config:
    """The `cpu` preset as it was before issue 32: no flow-warp loss, every pair once an epoch."""
    return with_train(fast_pairs=1)(with_loss(warp=0.0)(cfg))


def lever(*changes: Callable[[Config], Config]) -> Callable[[Config], Config]:
    """``today`` with ``changes`` applied in turn."""
    def apply(cfg: Config) -> Config:
        cfg = today(cfg)
        for change in changes:
            cfg = change(cfg)
        return cfg
    return apply


# name -> the levers, applied to the `cpu` preset as it was before issue 32 (today's preset has
# the flow-warp loss 100 and fast pairs 3: the last row).
ROWS: dict[str, Callable[[Config], Config]] = {
    "today": today,
    "warp100": lever(with_loss(warp=100.0)),
    "warp300": lever(with_loss(warp=300.0)),
    "warp100_ramp": lever(with_loss(warp=100.0, warp_ramp=0.5)),
    # On top of the flow-warp loss (the first lever kept):
    "warp100_d3": lever(with_loss(warp=100.0), with_discriminator(frames=3)),
    "warp100_fast_pairs3": lever(with_loss(warp=100.0), with_train(fast_pairs=3)),
}


def strip(prepared: str, weights, names: list[str], out, first: int, count: int = 8) -> None:
    """``count`` consecutive held-out frames from ``first`` (index into the test part): one row
    per run, then the real frames."""
    rows = []
    data, start = None, 0
    for name in names:
        renderer = Renderer(weights / name, torch.device("cpu"), face=False)
        if data is None:
            data = TargetSet.load(prepared, renderer.target.size)
            start = renderer.target.frames[1] + first  # the frames trained on end there
        made = [f.body for f in renderer.stream(data.keypoints[start:start + count])]
        rows.append(np.concatenate(made, 1))
    assert data is not None
    rows.append(np.concatenate(list(data.frames(np.arange(start, start + count))), 1))
    write_image_rgb(out, np.concatenate(rows, 0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=2000, help="iterations of each row's body model")
    ap.add_argument("--rows", nargs="+", choices=sorted(ROWS), default=list(ROWS),
                    help="the rows to train (and score)")
    ap.add_argument("--eval-only", action="store_true", help="score the existing runs")
    ap.add_argument("--strip-from", type=int, default=40,
                    help="first held-out frame of strip.png")
    args = ap.parse_args()
    if not VIDEO.is_file():
        print(json.dumps({"skipped": f"{VIDEO} not found"}))
        return 0
    prepared = str(prepared_eval_set(PARTS))
    weights = CACHE / "weights"
    common = ["--target", prepared, "--weights-dir", str(weights), "--quiet"]
    names = [f"tmp_{row}_{args.iters}" for row in args.rows]
    configs = CACHE / "temporal_configs"
    configs.mkdir(parents=True, exist_ok=True)
    if not args.eval_only:
        for row, name in zip(args.rows, names):
            shutil.rmtree(weights / name, ignore_errors=True)
            cfg = ROWS[row](cpu())
            cfg.train.stages = cfg.train.stages[:1]  # the body stage: the levers act there
            cfg.save(configs / f"{row}.json")
            run("main/train.py", *common, "--name", name, "--config", str(configs / f"{row}.json"),
                "--split", str(SPLIT), "--iters", str(args.iters))
    report = CACHE / "temporal"
    run("main/evaluate.py", *common, "--name", *names, "--ablate", "-o", str(report), "--overwrite")
    metrics = json.loads((report / "metrics.json").read_text())
    runs = metrics["ablation"]["runs"]
    out = {}
    for row, name in zip(args.rows, names):
        label = next(label for label, run_name in runs.items() if run_name == name)
        scores = metrics["metrics"][label]
        fast = scores["pose_distance_fastest_quarter"]
        out[row] = {k: round(v, 3) for k, v in metrics["ablation"]["rows"][label].items()} | {
            "fastest quarter pose (torso)": round(fast["torso_fraction"], 3),
            "fastest quarter missed": round(fast["missed_fraction"], 3),
            "warping error": round(scores["warping_error"]["generated"], 2)}
    retrieval = metrics["metrics"]["nearest_skeleton_retrieval"]
    out["retrieval"] = {"fastest quarter pose (torso)":
                        round(retrieval["pose_distance_fastest_quarter"]["torso_fraction"], 3),
                        "warping error ratio": round(retrieval["warping_error"]["ratio"], 3),
                        "real warping error": round(retrieval["warping_error"]["real"], 2)}
    strip(prepared, weights, names, report / "strip.png", args.strip_from)
    print(json.dumps({"iterations": args.iters, "rows": out, "report": str(report)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

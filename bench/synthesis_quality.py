"""Quality per minute of training: taiji self-reenactment, model vs nearest-skeleton retrieval.

Protocol (as in ../shared/BASELINES.md): ../shared/data/hybrik/examples/taiji.mp4, one fixed
crop = the square around all keypoints of the whole video with a 30 % margin, clipped to the
frame, resized to 256x256. For each budget in --minutes, a fresh run of `main/train.py
--preset PRESET --split 0.8 --minutes M` (its learning-rate decay fitted into M minutes),
then `main/evaluate.py` on the last 20 % of the frames: each generated sequentially from its
own skeleton and compared with the real frame, beside nearest-skeleton retrieval from the
training frames. The figures: body SSIM, pose distance (pixels and fraction of the torso)
and missed joints per frame, for the model and for retrieval, and the evaluation's verdict.

    python bench/synthesis_quality.py [--minutes 5 10 25 | --iters 500 1400] [--cpu-path fp32]
                                      [--preset cpu] [--eval-only]

--iters trains fixed iteration counts instead of time budgets: an AVX2 CPU ran the `cpu` preset
at about 1.04 s an iteration before its change to two downsamplings (about 25 % less since), so
500 is about what 9 minutes reach there and 1,400 what 25 do.
--cpu-path fp32 forces the fp32 path (what an AVX2-only CPU runs) on a CPU with native bf16.
Prints one JSON object (the CPU capability string and path, and a row per budget) and writes
.cache/bench/quality_per_minute.png: each budget's evaluation sheet (skeleton | generated |
real for six held-out frames) side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from edn.core.openpose_json import read_sequence
from edn.core.runtime import ENV_VAR, PATHS, cpu_plan
from edn.preparation.prepare import PreparedMeta, keypoints_to_original, motion_box, prepare_video
from pose_detector.extract import make_detector

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared/data/hybrik/examples/taiji.mp4"
CACHE = ROOT / ".cache" / "bench"
SIZE = (256, 256)
SPLIT = 0.8


def eval_box(keypoints: np.ndarray, frame_size: tuple[int, int], margin: float = 0.3):
    """The square around all keypoints with ``margin`` of its side added, clipped to the frame."""
    x0, y0, x1, y1 = motion_box(keypoints)
    side = max(x1 - x0, y1 - y0) * (1 + margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    W, H = frame_size
    return (max(0.0, cx - side / 2), max(0.0, cy - side / 2),
            min(float(W), cx + side / 2), min(float(H), cy + side / 2))


def prepared_eval_set(parts: tuple[str, ...] = ("body",), video: Path = VIDEO) -> Path:
    """``video`` (taiji) prepared on the evaluation crop at 256x256 (cached), with the keypoint
    ``parts`` (the crop is the body's, whatever the parts)."""
    name = f"{video.stem}_eval256" + ("" if parts == ("body",) else "_" + "_".join(parts))
    out = CACHE / name
    if (out / "meta.json").is_file():
        return out
    first = CACHE / f"{video.stem}_track"
    if not (first / "meta.json").is_file():
        prepare_video(video, first, make_detector("mediapipe"), size=(512, 512), masks=False)
    meta = PreparedMeta.load(first)
    original = keypoints_to_original(read_sequence(first / "keypoints"), meta.crop_box, meta.size)
    box = eval_box(original, meta.original_size)
    prepare_video(video, out, make_detector("mediapipe", segmentation=True, parts=parts), size=SIZE,
                  crop_box=box)
    return out


def row(metrics: dict) -> dict:
    """The bench's figures of one run's metrics.json."""
    def figures(m: dict) -> dict:
        pose = m["pose_distance"]
        return {"body_ssim": round(m["body"]["ssim"], 4), "pose_px": round(pose["pixels"], 2),
                "pose_torso": round(pose["torso_fraction"], 4),
                "missed_joints": round(pose["missed_per_frame"], 2), "ssim": round(m["ssim"], 4)}
    model, retrieval = metrics["metrics"]["model"], metrics["metrics"]["nearest_skeleton_retrieval"]
    return {"iterations": metrics["checkpoint_iteration"], "model": figures(model),
            "retrieval": figures(retrieval), "verdict": metrics["verdict"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, nargs="+",
                        help="training budgets, one fresh run each (default 5 10 25)")
    budget.add_argument("--iters", type=int, nargs="+",
                        help="iteration counts instead, one fresh run each (e.g. 500 1400)")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--cpu-path", choices=PATHS, help=f"force the CPU path (sets {ENV_VAR})")
    ap.add_argument("--eval-only", action="store_true", help="evaluate the existing runs")
    args = ap.parse_args()
    if not VIDEO.is_file():
        print(json.dumps({"skipped": f"{VIDEO} not found"}))
        return 0
    env = dict(os.environ)
    if args.cpu_path:
        env[ENV_VAR] = args.cpu_path
        os.environ[ENV_VAR] = args.cpu_path
    plan = cpu_plan()
    prepared = str(prepared_eval_set())
    weights = CACHE / "weights"
    rows, sheets = {}, []
    budgets = ([("it", str(n), "--iters") for n in args.iters] if args.iters else
               [("min", f"{m:g}", "--minutes") for m in (args.minutes or [5, 10, 25])])
    for unit, amount, flag in budgets:
        label = f"{amount} {unit}"
        name = f"quality_{args.preset}_{plan.path}_{amount}{unit}"
        common = ["--name", name, "--target", prepared, "--weights-dir", str(weights), "--quiet"]
        if not args.eval_only:
            shutil.rmtree(weights / name, ignore_errors=True)
            subprocess.run([sys.executable, "main/train.py", *common, "--preset", args.preset,
                            "--split", str(SPLIT), flag, amount],
                           cwd=ROOT, env=env, check=True)
        report = CACHE / name
        subprocess.run([sys.executable, "main/evaluate.py", *common, "-o", str(report),
                        "--overwrite"], cwd=ROOT, env=env, check=True)
        rows[label] = row(json.loads((report / "metrics.json").read_text()))
        sheet = cv2.imread(str(report / "report.png"))
        cv2.putText(sheet, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                    (255, 255, 255), 2, cv2.LINE_AA)
        sheets.append(sheet)
    path = CACHE / "quality_per_minute.png"
    cv2.imwrite(str(path), np.hstack(sheets))
    print(json.dumps({"cpu": plan.describe(), "preset": args.preset, "protocol":
                      "taiji.mp4, 256x256 eval crop, train on the first 80 % of frames, "
                      "test on the last 20 %", "rows": rows, "sheet": str(path)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Transfer quality on held-out real frames: the taiji self-reenactment of issue 4.

Protocol (as in ../shared/BASELINES.md): ../shared/data/hybrik/examples/taiji.mp4, one fixed
crop = the square around all keypoints of the whole video with a 30 % margin, clipped to the
frame, resized to 256x256. Train `main/train.py --preset PRESET` on the first 80 % of the
frames for at most MINUTES, generate the last 20 % from their own skeletons (sequentially,
each frame conditioned on the previous generated one, the first on zeros) and compare with
the real frames. Baselines on the same frames, in the same run: the training frame with the
nearest skeleton, the mean training frame, and the model's background plate alone.

    python bench/synthesis_quality.py [--minutes 60] [--preset cpu] [--name NAME] [--eval-only]

Prints one JSON object; writes a side-by-side strip of a few frames to
.cache/bench/quality_NAME.png (label | generated | real).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from edn.data import TargetSet
from edn.data_prep import PreparedMeta, keypoints_to_original, motion_box, prepare_video
from edn.evaluate import image_scores, nearest_skeleton
from edn.keypoints import read_sequence
from edn.trainer import pick_device
from edn.transfer import Renderer
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


def prepared_eval_set() -> Path:
    """taiji prepared on the evaluation crop at 256x256 (cached)."""
    out = CACHE / "taiji_eval256"
    if (out / "meta.json").is_file():
        return out
    first = CACHE / "taiji_track"
    if not (first / "meta.json").is_file():
        prepare_video(VIDEO, first, make_detector("mediapipe"), size=(512, 512), masks=False)
    meta = PreparedMeta.load(first)
    original = keypoints_to_original(read_sequence(first / "keypoints"), meta.crop_box, meta.size)
    box = eval_box(original, meta.original_size)
    prepare_video(VIDEO, out, make_detector("mediapipe", segmentation=True), size=SIZE,
                  crop_box=box)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--iters", type=int, help="train this many iterations instead of --minutes")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--config", type=Path, help="a config JSON instead of the preset")
    ap.add_argument("--name", default="bench_taiji")
    ap.add_argument("--eval-only", action="store_true", help="evaluate the existing run")
    args = ap.parse_args()
    if not VIDEO.is_file():
        print(json.dumps({"skipped": f"{VIDEO} not found"}))
        return 0
    prepared = prepared_eval_set()
    weights = CACHE / "weights"
    run = weights / args.name
    if not args.eval_only:
        shutil.rmtree(run, ignore_errors=True)
        r = subprocess.run([sys.executable, str(ROOT / "main/train.py"), "--target", str(prepared),
                            "--name", args.name, "--preset", args.preset, "--split", str(SPLIT),
                            *(["--iters", str(args.iters)] if args.iters
                              else ["--minutes", str(args.minutes)]),
                            "--weights-dir", str(weights),
                            *(["--config", str(args.config)] if args.config else [])])
        if r.returncode:
            return r.returncode
    renderer = Renderer(run, pick_device("cpu"))
    meta = PreparedMeta.load(prepared)
    first_test, end = renderer.target.frames[1], meta.frames
    everything = TargetSet.load(prepared, SIZE)
    train, test = slice(0, first_test), slice(first_test, end)
    labels, generated = renderer.render(everything.keypoints[test])
    real = everything.frames[test]
    nearest = nearest_skeleton(everything.keypoints[train], everything.keypoints[test])
    mean_frame = everything.frames[train].astype(np.float32).mean(0).round().astype(np.uint8)
    plate = renderer.generator.model.plate if hasattr(renderer.generator.model, "plate") else None
    results = {
        "protocol": f"taiji.mp4, eval crop {[round(v) for v in meta.crop_box]} -> 256x256, "
                    f"train frames [0, {first_test}), test [{first_test}, {end})",
        "config": str(args.config or args.preset), "iterations": renderer.iteration,
        "model": image_scores(generated, real),
        "nearest_skeleton_retrieval": image_scores(everything.frames[train][nearest], real),
        "mean_training_frame": image_scores(np.repeat(mean_frame[None], len(real), 0), real),
    }
    if plate is not None:
        plate_img = ((plate.float().permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
        results["background_plate_alone"] = image_scores(np.repeat(plate_img[None], len(real), 0), real)
    strip = [np.hstack([labels[i], generated[i], real[i]]) for i in np.linspace(0, len(real) - 1, 4).astype(int)]
    sheet = CACHE / f"quality_{args.name}.png"
    cv2.imwrite(str(sheet), cv2.cvtColor(np.vstack(strip), cv2.COLOR_RGB2BGR))
    summary = {k: ({"ssim": round(v["ssim"], 4), "psnr": round(v["psnr"], 2)} if isinstance(v, dict) else v)
               for k, v in results.items()}
    summary["sheet"] = str(sheet)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

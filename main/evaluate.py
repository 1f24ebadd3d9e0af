"""python main/evaluate.py --name NAME --target VIDEO_OR_PREPARED_DIR [--split 0.8] -o REPORT_DIR"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edn.data import TargetSet
from edn.data_prep import PreparedMeta
from edn.evaluate import all_scores, detect_each, nearest_skeleton, pose_distance
from edn.io import atomic_write_text, staged_dir
from edn.contact_sheet import write_report
from edn.trainer import pick_device
from edn.transfer import Renderer
from edn.video import InputError
from pose_detector.extract import WEIGHTS_DIR, make_detector


def prepared_set_of(target: Path, renderer: Renderer) -> Path:
    """The prepared set to evaluate on: ``target`` itself when it is one, else (a video) the
    set the run was trained on, which must come from that video (same crop)."""
    if target.is_dir():
        return target
    trained_on = Path(renderer.target.prepared_set)
    meta = PreparedMeta.load(trained_on)
    if Path(meta.source).resolve() != target.resolve():
        raise InputError(f"the run was trained on a set made from {meta.source}, not {target}; "
                         "pass that prepared set (or its video) as --target")
    return trained_on


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Self-reenactment evaluation: the model (trained on the frames before the "
                    "split) regenerates the held-out frames from their own skeletons, "
                    "sequentially, and each is compared with the real frame. Writes "
                    "REPORT_DIR/metrics.json (every figure, the config, the checkpoint "
                    "iteration, the split), report.png (input skeleton | generated | real for "
                    "a spread of held-out frames) and ssim_per_frame.png.")
    p.add_argument("--name", required=True, help="the trained run: weights/NAME")
    p.add_argument("--target", required=True, type=Path,
                   help="the target's prepared set, or the video it was made from")
    p.add_argument("--split", type=float,
                   help="first held-out frame as a fraction (default: where the run's "
                        "training frames end, from weights/NAME/target.json)")
    p.add_argument("-o", "--out", required=True, type=Path, help="report folder")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR,
                   help="where run folders live (default: the checkout's weights/)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    try:
        renderer = Renderer(args.weights_dir / args.name, pick_device(args.device))
        if args.out.exists() and not args.overwrite:
            raise FileExistsError(f"{args.out} exists (use --overwrite to replace it)")
        prepared = prepared_set_of(args.target, renderer)
        size = renderer.target.size
        data = TargetSet.load(prepared, size)
        n = len(data.frames)
        split = round(n * args.split) if args.split else renderer.target.frames[1]
        if split < renderer.target.frames[1]:
            raise ValueError(f"the split (frame {split}) falls inside the frames the run was "
                             f"trained on (up to {renderer.target.frames[1]})")
        if not 1 <= split < n - 1:
            raise ValueError(f"no held-out frames: split at frame {split} of {n}")
        train, test = slice(0, split), slice(split, n)
        keypoints, real = data.keypoints[test], data.frames[test]
        labels, generated = renderer.render(keypoints, progress=not args.quiet)
        retrieved = data.frames[train][nearest_skeleton(data.keypoints[train], keypoints)]
        mean_frame = data.frames[train].astype(np.float32).mean(0).round().astype(np.uint8)
        candidates = {"model": generated, "nearest_skeleton_retrieval": retrieved,
                      "mean_training_frame": np.repeat(mean_frame[None], len(real), 0)}
        detector = make_detector("auto")
        metrics = {}
        for name, frames in candidates.items():
            scores = all_scores(frames, real, keypoints, size)
            scores["pose_distance"] = pose_distance(detect_each(frames, detector), keypoints)
            metrics[name] = scores
        model, retrieval = metrics["model"], metrics["nearest_skeleton_retrieval"]
        beats = model["ssim"] > retrieval["ssim"] and model["psnr"] > retrieval["psnr"]
        verdict = ("the model beats nearest-skeleton retrieval in SSIM and PSNR" if beats else
                   "the model does NOT beat nearest-skeleton retrieval: it has learned nothing "
                   "a lookup of the training frames could not do")
        report = {
            "run": str(args.weights_dir / args.name), "checkpoint_iteration": renderer.iteration,
            "config": json.loads((args.weights_dir / args.name / "config.json").read_text()),
            "prepared_set": str(prepared), "size": list(size),
            "split": {"first_test_frame": split, "frames": n,
                      "trained_on": list(renderer.target.frames)},
            "lpips": "skipped: no LPIPS backbone weights in weights/ (nothing is downloaded)",
            "verdict": verdict, "metrics": metrics,
        }
        with staged_dir(args.out, overwrite=True) as out:
            atomic_write_text(out / "metrics.json", json.dumps(report, indent=2))
            write_report(out, labels, generated, real, metrics)
    except (InputError, FileExistsError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    for name, m in metrics.items():
        print(f"{name:28s} SSIM {m['ssim']:.4f}  PSNR {m['psnr']:.2f}  body SSIM "
              f"{m['body']['ssim']:.4f}  face SSIM {m['face']['ssim']:.4f}  pose "
              f"{m['pose_distance']['pixels']:.1f} px  flicker {m['flicker_ratio']:.2f}",
              file=sys.stderr)
    print(f"{verdict}\nreport -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

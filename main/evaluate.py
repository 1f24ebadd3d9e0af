"""python main/evaluate.py --name NAME [NAME ... --ablate] --target VIDEO_OR_PREPARED_DIR
[--split 0.8] -o REPORT_DIR"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edn.console import VERBOSE_HELP, quiet_third_party
from edn.data import TargetSet
from edn.data_prep import PreparedMeta
from edn.evaluate import (ablation_label, ablation_rank, ablation_row, ablation_table, all_scores,
                          detect_each, held_out_split, nearest_skeleton, pose_distance,
                          retrieval_verdict)
from edn.io import atomic_write_text, staged_dir
from edn.lpips_score import LPIPS
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Self-reenactment evaluation: the model (trained on the frames before the "
                    "split) regenerates the held-out frames from their own skeletons, "
                    "sequentially, and each is compared with the real frame. Writes "
                    "REPORT_DIR/metrics.json (every figure, the config, the checkpoint "
                    "iteration, the split), report.png (input skeleton | generated | real for "
                    "a spread of held-out frames) and ssim_per_frame.png; with --ablate also "
                    "ablation.md, the paper's ablation table. LPIPS is computed when "
                    "weights/alexnet-owt-7be5be79.pth (torchvision's AlexNet) is present, and "
                    "reported as skipped otherwise; nothing is downloaded.")
    p.add_argument("--name", required=True, nargs="+",
                   help="the trained run: weights/NAME (with --ablate: every run to compare)")
    p.add_argument("--target", required=True, type=Path,
                   help="the target's prepared set, or the video it was made from")
    p.add_argument("--split", type=float,
                   help="first held-out frame as a fraction (default: where the runs' "
                        "training frames end, from weights/NAME/target.json; the latest "
                        "of them with several runs)")
    p.add_argument("-o", "--out", required=True, type=Path, help="report folder")
    p.add_argument("--ablate", action="store_true",
                   help="compare the runs of --name side by side, as in the paper's ablation: "
                        "a run trained with --no-temporal is the pix2pixHD row, a temporally "
                        "smoothed run the +temporal smoothing row, and a run with a face stage "
                        "is scored both without it and with it (+face)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR,
                   help="where run folders live (default: the checkout's weights/)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    args = p.parse_args(argv)
    if len(args.name) > 1 and not args.ablate:
        p.error("several --name runs need --ablate")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with quiet_third_party(args.verbose):
        try:
            device = pick_device(args.device)
            renderers = {name: Renderer(args.weights_dir / name, device) for name in args.name}
            first = renderers[args.name[0]]
            if args.out.exists() and not args.overwrite:
                raise FileExistsError(f"{args.out} exists (use --overwrite to replace it)")
            prepared = prepared_set_of(args.target, first)
            size = first.target.size
            for name, r in renderers.items():
                if r.target.size != size or Path(r.target.prepared_set) != Path(first.target.prepared_set):
                    raise ValueError(f"run {name} was trained on another set or size than {args.name[0]}")
            data = TargetSet.load(prepared, size)
            n = len(data.frames)
            split = max(held_out_split(args.split, r.target.frames[1], n) for r in renderers.values())
            train, test = slice(0, split), slice(split, n)
            keypoints, real = data.keypoints[test], data.frames[test]
            detector = make_detector("auto")
            perceptual, lpips_note = LPIPS.from_weights_dir(WEIGHTS_DIR, device)

            def scores(frames: np.ndarray) -> dict:
                result = all_scores(frames, real, keypoints, size)
                result["pose_distance"] = pose_distance(detect_each(frames, detector), keypoints)
                if perceptual is not None:
                    result["lpips"] = perceptual(frames, real)
                return result

            candidates: dict[str, np.ndarray] = {}
            ablation: dict[str, str] = {}  # row -> run (and whether its face stage was used)
            labels = np.empty(0)
            for name, renderer in renderers.items():
                temporal = renderer.cfg.generator.temporal
                labels, body, refined = renderer.render_both(keypoints, progress=not args.quiet)
                if refined is None:
                    outputs = {False: body}
                elif args.ablate:  # a face stage's run is scored without and with it
                    outputs = {False: body, True: refined}
                else:
                    outputs = {True: refined}
                for face, frames in outputs.items():
                    row = ablation_label(temporal, face) if args.ablate else "model"
                    if row in candidates:
                        row = f"{row} ({name})"
                    candidates[row] = frames
                    ablation[row] = f"{name}{' with its face stage' if face else ''}"
            model_rows = list(candidates)
            candidates["nearest_skeleton_retrieval"] = data.frames[train][
                nearest_skeleton(data.keypoints[train], keypoints)]
            mean_frame = data.frames[train].astype(np.float32).mean(0).round().astype(np.uint8)
            candidates["mean_training_frame"] = np.repeat(mean_frame[None], len(real), 0)
            metrics = {name: scores(frames) for name, frames in candidates.items()}
            retrieval = metrics["nearest_skeleton_retrieval"]
            verdicts = {row: retrieval_verdict(row, metrics[row], retrieval) for row in model_rows}
            best = max(model_rows, key=ablation_rank)  # the report sheet shows the fullest model

            def per_run(values: dict) -> object:
                # One run: its value as such; --ablate: a value per run.
                return values if args.ablate else values[args.name[0]]

            report = {
                "run": per_run({name: str(args.weights_dir / name) for name in args.name}),
                "checkpoint_iteration": per_run({name: r.iteration for name, r in renderers.items()}),
                "config": per_run({name: json.loads((args.weights_dir / name / "config.json").read_text())
                                   for name in args.name}),
                "prepared_set": str(prepared), "size": list(size),
                "split": {"first_test_frame": split, "frames": n,
                          "trained_on": per_run({name: list(r.target.frames)
                                                 for name, r in renderers.items()})},
                "lpips": lpips_note,
                "verdict": verdicts if args.ablate else verdicts["model"], "metrics": metrics,
            }
            table = ""
            if args.ablate:
                rows = {row: ablation_row(metrics[row]) for row in sorted(model_rows, key=ablation_rank)}
                rows["nearest-skeleton retrieval (baseline)"] = ablation_row(retrieval)
                table = ablation_table(rows)
                report["ablation"] = {"rows": rows, "runs": ablation}
            with staged_dir(args.out, overwrite=True) as out:
                atomic_write_text(out / "metrics.json", json.dumps(report, indent=2))
                if table:
                    atomic_write_text(out / "ablation.md", table)
                shown = {k: v for k, v in metrics.items() if k == best or k not in model_rows}
                write_report(out, labels, candidates[best], real, shown)
        except (InputError, FileExistsError, FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted: nothing was written", file=sys.stderr)
            return 130
        for name, m in metrics.items():
            print(f"{name:28s} SSIM {m['ssim']:.4f}  PSNR {m['psnr']:.2f}  body SSIM "
                  f"{m['body']['ssim']:.4f}  face SSIM {m['face']['ssim']:.4f}  pose "
                  f"{m['pose_distance']['pixels']:.1f} px  flicker {m['flicker_ratio']:.2f}"
                  + (f"  LPIPS {m['lpips']:.3f}" if "lpips" in m else ""), file=sys.stderr)
        print(f"{table}report -> {args.out}\n" + "\n".join(verdicts.values()), file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())

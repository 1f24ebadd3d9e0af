"""python main/evaluate.py --name NAME [NAME ... --ablate] --target VIDEO_OR_PREPARED_DIR
[--split 0.8] -o REPORT_DIR"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edn.core.cli import add_common_flags, run_command
from edn.core.paths import WEIGHTS_HELP, weights_dir
from edn.evaluation.reenactment import EvaluationOptions, evaluate_runs


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
    p.add_argument("--student", action="store_true",
                   help="evaluate the runs' distilled student generators (main/train.py --distill)")
    p.add_argument("--weights-dir", type=Path, help=WEIGHTS_HELP)
    p.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_common_flags(p)
    args = p.parse_args(argv)
    if len(args.name) > 1 and not args.ablate:
        p.error("several --name runs need --ablate")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: run(args), args.verbose, "interrupted: nothing was written")


def run(args: argparse.Namespace) -> int:
    weights = weights_dir(args.weights_dir)
    result = evaluate_runs(EvaluationOptions(
        runs={name: weights / name for name in args.name}, target=args.target, out=args.out,
        weights=weights, device=args.device, split=args.split, ablate=args.ablate, student=args.student,
        overwrite=args.overwrite, progress=not args.quiet))
    for name, m in result.metrics.items():
        print(f"{name:28s} SSIM {m['ssim']:.4f}  PSNR {m['psnr']:.2f}  body SSIM "
              f"{m['body']['ssim']:.4f}  face SSIM {m['face']['ssim']:.4f}  pose "
              f"{m['pose_distance']['pixels']:.1f} px  flicker {m['flicker_ratio']:.2f}  warping "
              f"{m['warping_error']['ratio']:.2f}"
              + (f"  fastest quarter pose {m['pose_distance_fastest_quarter']['pixels']:.1f} px"
                 if "pose_distance_fastest_quarter" in m else "")
              + (f"  LPIPS {m['lpips']:.3f}" if "lpips" in m else ""), file=sys.stderr)
    print(f"{result.table}report -> {args.out}\n" + "\n".join(result.verdicts.values()),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

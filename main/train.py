"""python main/train.py --target VIDEO_OR_PREPARED_DIR --name NAME [--preset cpu|paper]
[--iters N | --minutes M] [--device auto] [--resume]
python main/train.py --name NAME --distill [--iters N | --minutes M] [--resume]"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edn.core.cli import add_common_flags, run_command
from edn.core.paths import WEIGHTS_HELP, weights_dir
from edn.core.video import TRUNCATED_HELP
from edn.training.distill import DistillOptions, distill
from edn.training.presets import PRESETS
from edn.training.run import RunOptions, train_run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Train a model of one target person from a video of them (static camera, "
                    "a few minutes). Everything is kept in weights/NAME/: the prepared target "
                    "set (when given a video), config.json, checkpoint.pt, target.json (the "
                    "target's normalization statistics) and TensorBoard logs in logs/.")
    p.add_argument("--target", type=Path,
                   help="the target video, or a folder made by data/video2data.py")
    p.add_argument("--name", required=True, help="run name: the folder weights/NAME")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="model and schedule preset for a new run (default cpu: sized to train "
                        "on this kind of 2-core machine within an hour, then an optional face "
                        "stage, --stage 1; "
                        "paper: EDN's 512x256 global stage, 1024x512 local enhancer, face "
                        "stage); --resume and later stages use the run's config.json")
    p.add_argument("--config", type=Path,
                   help="a config JSON (as saved in weights/NAME/config.json) instead of --preset")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--iters", type=int,
                        help="train until this iteration (with --resume: replaces the saved "
                             "plan, e.g. to extend a finished run)")
    length.add_argument("--minutes", type=float,
                        help="fit the run (and its learning-rate decay) into this many minutes")
    p.add_argument("--split", type=float,
                   help="train on the first SPLIT fraction of the frames only (e.g. 0.8 keeps "
                        "the rest for main/evaluate.py; default 1.0). --resume and later "
                        "stages keep the run's frames (weights/NAME/target.json)")
    p.add_argument("--stage", type=int, default=0,
                   help="training stage of the preset, each started from the finished stage "
                        "before it in the same --name, whose checkpoint is kept as "
                        "checkpoint_stageN.pt (cpu: 0 = 256x256 generator, 1 = face GAN; "
                        "paper: 0 = 512x256 global generator, 1 = 1024x512 local enhancer, "
                        "2 = face GAN). Later stages use the run's saved config.json")
    p.add_argument("--no-temporal", action="store_true",
                   help="plain frame-by-frame pix2pixHD: no temporal smoothing (for the "
                        "ablation of main/evaluate.py --ablate)")
    p.add_argument("--body-only", action="store_true",
                   help="draw the body alone in the label maps, even when the target's "
                        "keypoints have a face and hands (which a new run draws by default; "
                        "for the ablation of main/evaluate.py --ablate)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--seed", type=int, default=0, help="seed of the data order and weights")
    p.add_argument("--resume", action="store_true", help="continue weights/NAME (or its student) exactly")
    p.add_argument("--distill", action="store_true",
                   help="instead of training, distil the trained run weights/NAME into a small "
                        "student generator (weights/NAME/student.pt) for live transfer "
                        "(main/live.py, main/test.py --student); --iters (default 3000) or "
                        "--minutes set its length")
    p.add_argument("--save-every", type=int, default=500, help="checkpoint period (iterations)")
    p.add_argument("--weights-dir", type=Path, help=WEIGHTS_HELP)
    p.add_argument("--allow-truncated", action="store_true", help=TRUNCATED_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_common_flags(p)
    args = p.parse_args(argv)
    if args.target is None and not args.distill:
        p.error("--target is required (except with --distill)")
    if args.distill and (args.target is not None or args.preset or args.config or args.split is not None):
        p.error("--distill distils the run weights/NAME as it was trained: no --target, --preset, "
                "--config or --split")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.distill:
        return distill_main(args)
    options = RunOptions(
        target=args.target, name=args.name, weights=weights_dir(args.weights_dir),
        preset=args.preset, config=args.config, iters=args.iters, minutes=args.minutes,
        split=args.split, stage=args.stage, no_temporal=args.no_temporal,
        body_only=args.body_only, device=args.device,
        seed=args.seed, resume=args.resume, save_every=args.save_every, progress=not args.quiet,
        allow_truncated=args.allow_truncated)

    def body() -> int:
        trainer = train_run(options)
        print(f"trained {trainer.iteration} iterations -> {options.run_dir}", file=sys.stderr)
        return 0

    return run_command(body, args.verbose, f"interrupted: the last checkpoint is in "
                                           f"{options.run_dir}; continue with --resume")


def distill_main(args: argparse.Namespace) -> int:
    if args.iters is not None and args.iters < 1 or args.minutes is not None and args.minutes <= 0:
        raise SystemExit("error: --iters and --minutes must be more than 0")
    options = DistillOptions(run_dir=weights_dir(args.weights_dir) / args.name,
                             iterations=args.iters if args.iters is not None else DistillOptions.iterations,
                             minutes=args.minutes, device=args.device, seed=args.seed,
                             resume=args.resume, save_every=args.save_every, progress=not args.quiet)

    def body() -> int:
        done = distill(options)
        print(f"distilled {done.iterations} iterations in {done.seconds / 60:.1f} min "
              f"(loss {done.loss:.4f}) -> {done.path}", file=sys.stderr)
        return 0

    return run_command(body, args.verbose, f"interrupted: the student is saved every "
                                           f"{options.save_every} iterations in {options.run_dir}; "
                                           "continue with --distill --resume")


if __name__ == "__main__":
    sys.exit(main())

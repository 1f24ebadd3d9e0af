"""python main/train.py --target VIDEO_OR_PREPARED_DIR --name NAME [--preset cpu|paper]
[--iters N | --minutes M] [--device auto] [--resume]"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from edn.config import PRESETS, Config, preset
from edn.console import VERBOSE_HELP, quiet_third_party
from edn.data import TargetSet
from edn.data_prep import PreparedMeta, prepare_video
from edn.keypoints import read_sequence
from edn.normalize import TooFewFramesError
from edn.trainer import CHECKPOINT, CONFIG, Trainer, pick_device
from edn.transfer import TARGET, TargetInfo
from edn.video import InputError
from pose_detector.extract import WEIGHTS_DIR, NoPersonError, make_detector


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Train a model of one target person from a video of them (static camera, "
                    "a few minutes). Everything is kept in weights/NAME/: the prepared target "
                    "set (when given a video), config.json, checkpoint.pt, target.json (the "
                    "target's normalization statistics) and TensorBoard logs in logs/.")
    p.add_argument("--target", required=True, type=Path,
                   help="the target video, or a folder made by data/video2data.py")
    p.add_argument("--name", required=True, help="run name: the folder weights/NAME")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="model and schedule preset for a new run (default cpu: sized to train "
                        "on this kind of 2-core machine within an hour, then a face stage; "
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
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--seed", type=int, default=0, help="seed of the data order and weights")
    p.add_argument("--resume", action="store_true", help="continue weights/NAME exactly")
    p.add_argument("--save-every", type=int, default=500, help="checkpoint period (iterations)")
    p.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR,
                   help="where run folders live (default: the checkout's weights/)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    return p.parse_args(argv)


def training_end(args: argparse.Namespace, run_dir: Path, frames: int, continuing: bool) -> int:
    """The end of the frames trained on: a continued run keeps its own (a resumed run on
    other frames would not continue exactly, and a later stage must not see held-out ones)."""
    asked = None if args.split is None else max(2, int(round(frames * args.split)))
    if continuing and (run_dir / TARGET).is_file():
        kept = TargetInfo.load(run_dir).frames[1]
        if asked is not None and asked != kept:
            raise ValueError(f"{run_dir} trains on frames 0..{kept}; --split {args.split} "
                             f"would make it 0..{asked} (leave --split out to keep them)")
        return kept
    return asked if asked is not None else frames


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with quiet_third_party(args.verbose):
        run_dir = args.weights_dir / args.name
        try:
            if args.split is not None and not 0 < args.split <= 1:
                raise ValueError("--split must be in (0, 1]")
            previous = None
            if args.stage > 0 and not args.resume:
                if not (run_dir / CHECKPOINT).exists():
                    raise FileNotFoundError(f"stage {args.stage} starts from stage {args.stage - 1} "
                                            f"of the same run: no {run_dir / CHECKPOINT}")
                previous = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=False)
                if previous["stage"] != args.stage - 1:
                    raise ValueError(f"{run_dir / CHECKPOINT} is stage {previous['stage']}, "
                                     f"not {args.stage - 1}")
            elif (run_dir / CHECKPOINT).exists() and not args.resume:
                raise FileExistsError(f"{run_dir} already has a checkpoint: pass --resume to "
                                      "continue it, or choose another --name")
            if args.resume and not (run_dir / CHECKPOINT).exists():
                raise FileNotFoundError(f"nothing to resume: no {run_dir / CHECKPOINT}")
            device = pick_device(args.device)
            torch.manual_seed(args.seed)
            continuing = args.resume or args.stage > 0
            if args.config:
                cfg, source = Config.load(args.config), str(args.config)
            elif continuing and (run_dir / CONFIG).is_file():
                # The run's own settings (e.g. --no-temporal), not the preset's.
                cfg, source = Config.load(run_dir / CONFIG), str(run_dir / CONFIG)
                if args.preset:
                    print(f"note: continuing with {source}; --preset is ignored", file=sys.stderr)
            else:
                cfg, source = preset(args.preset or "cpu"), f"preset {args.preset or 'cpu'}"
            if args.no_temporal:
                if continuing and cfg.generator.temporal:
                    raise ValueError(f"{source} uses temporal smoothing; --no-temporal applies to a "
                                     "new run")
                cfg.generator.temporal = False
            prepared = args.target
            if prepared.is_file() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
                raise ValueError("with several processes, prepare the target first "
                                 "(python data/video2data.py VIDEO -o DIR) and pass --target DIR")
            if prepared.is_file():
                prepared = run_dir / "target_set"
                if not (prepared / "meta.json").is_file():
                    print(f"preparing {args.target} -> {prepared}", file=sys.stderr)
                    prepare_video(args.target, prepared, make_detector("auto", segmentation=True),
                                  size=(cfg.data.prepared_size, cfg.data.prepared_size),
                                  progress=not args.quiet)
            meta = PreparedMeta.load(prepared)
            if not 0 <= args.stage < len(cfg.train.stages):
                raise ValueError(f"{source} has stages 0..{len(cfg.train.stages) - 1}, not "
                                 f"{args.stage}; a run saved before a stage existed can take one "
                                 "with --config (its config.json with the stage added)")
            stage = cfg.train.stages[args.stage]
            size = (stage.width, stage.height)
            end = training_end(args, run_dir, meta.frames, continuing)
            target = TargetSet.load(prepared, size, range(0, end))
            stride = 2 ** (cfg.generator.n_downsampling + stage.n_local_enhancers)
            info = TargetInfo.measure(prepared.resolve(), read_sequence(prepared / "keypoints"),
                                      (0, end), meta.size, size, meta.fps,
                                      window_multiple=stride if cfg.generator.person_window else None)
            plate = target.plate(cfg.data.plate_frames) if cfg.generator.composite else None
            trainer = Trainer(cfg, target, run_dir, device, stage=args.stage, seed=args.seed,
                              plate=plate, log=lambda m: print(m, file=sys.stderr),
                              window=info.window)
            if args.resume:
                trainer.resume()
            else:
                run_dir.mkdir(parents=True, exist_ok=True)
                if previous is not None:
                    trainer.start_from_stage(previous)
                    trainer.dist.barrier()  # every process has read the earlier stage
                    if trainer.dist.main:
                        (run_dir / CHECKPOINT).rename(run_dir / f"checkpoint_stage{args.stage - 1}.pt")
                if trainer.dist.main:
                    info.save(run_dir)
            if args.iters:
                trainer.planned = args.iters
            if args.resume:
                print(f"resumed at iteration {trainer.iteration} of {trainer.planned}", file=sys.stderr)
            deadline = None
            if args.minutes and not args.resume:
                deadline = time.time() + args.minutes * 60
                trainer.plan_minutes(args.minutes)
            trainer.train(save_every=args.save_every, progress=not args.quiet, deadline=deadline)
        except (InputError, NoPersonError, TooFewFramesError, FileExistsError, FileNotFoundError,
                ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"interrupted: the last checkpoint is in {run_dir}; continue with --resume",
                  file=sys.stderr)
            return 130
        print(f"trained {trainer.iteration} iterations -> {run_dir}", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())

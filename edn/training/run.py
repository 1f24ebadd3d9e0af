"""A training run's life-cycle in its folder (weights/NAME, docs/formats.md): which config,
new run or resumed or a later stage, the target prepared once, the frames trained on, the
target's statistics, the earlier stage's checkpoint kept, then training."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edn.core.config import Config
from edn.core.errors import RunError, UserError
from edn.core.keypoints import PARTS
from edn.core.paths import CHECKPOINT, CONFIG, META, TARGET, TARGET_SET, stage_checkpoint
from edn.core.run import TargetInfo, load_checkpoint, run_lock
from edn.core.runtime import pick_device
from edn.core.window import window_size
from edn.preparation.normalize import ankle_stats
from edn.preparation.prepare import PreparedMeta, prepare_video
from edn.preparation.target_set import TargetSet
from edn.training.presets import preset
from edn.training.trainer import Trainer
from pose_detector.extract import make_detector

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    """What main/train.py's flags ask for (see its --help)."""
    target: Path                # a video, or a prepared set
    name: str
    weights: Path               # the weights folder; the run is weights/NAME
    preset: str | None = None
    config: Path | None = None
    iters: int | None = None
    minutes: float | None = None
    split: float | None = None
    stage: int = 0
    no_temporal: bool = False
    body_only: bool = False  # label maps of the body alone, whatever parts the set has
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    allow_truncated: bool = False  # a target video cut short: warn instead of stopping
    save_every: int = 500
    progress: bool = True

    @property
    def run_dir(self) -> Path:
        return self.weights / self.name

    @property
    def continuing(self) -> bool:
        """A resumed run or a later stage: the run's own config and frames."""
        return self.resume or self.stage > 0


def check_start(options: RunOptions) -> dict | None:
    """What the run folder allows: a new run needs none there, --resume a checkpoint, a later
    stage the finished stage before it. Returns that earlier stage's checkpoint."""
    if options.split is not None and not 0 < options.split <= 1:
        raise UserError("--split must be in (0, 1]")
    checkpoint = options.run_dir / CHECKPOINT
    if options.resume:
        if not checkpoint.exists():
            raise RunError(f"nothing to resume: no {checkpoint}")
        return None
    if options.stage > 0:
        if not checkpoint.exists():
            raise RunError(f"stage {options.stage} starts from stage {options.stage - 1} of the "
                           f"same run: no {checkpoint}")
        previous = load_checkpoint(checkpoint)
        if previous["stage"] != options.stage - 1:
            raise RunError(f"{checkpoint} is stage {previous['stage']}, not {options.stage - 1}")
        return previous
    if checkpoint.exists():
        raise RunError(f"{options.run_dir} already has a checkpoint: pass --resume to continue "
                       "it, or choose another --name")
    return None


def run_config(options: RunOptions) -> tuple[Config, str]:
    """The config and where it came from: --config, else the run's own when continuing (its
    settings, e.g. --no-temporal, not the preset's), else the preset (default cpu)."""
    own = options.run_dir / CONFIG
    if options.config:
        cfg, source = Config.load(options.config), str(options.config)
    elif options.continuing and own.is_file():
        cfg, source = Config.load(own), str(own)
        if options.preset:
            log.info("note: continuing with %s; --preset is ignored", source)
    else:
        name = options.preset or "cpu"
        cfg, source = preset(name), f"preset {name}"
    if options.no_temporal:
        if options.continuing and cfg.generator.temporal:
            raise RunError(f"{source} uses temporal smoothing; --no-temporal applies to a new run")
        cfg.generator.temporal = False
    if options.body_only and options.continuing:
        raise RunError("--body-only applies to a new run; a continued run keeps the parts "
                       f"{source} draws ({', '.join(cfg.data.parts)})")
    if not 0 <= options.stage < len(cfg.train.stages):
        raise RunError(f"{source} has stages 0..{len(cfg.train.stages) - 1}, not {options.stage}; "
                       "a run saved before a stage existed can take one with --config (its "
                       "config.json with the stage added)")
    return cfg, source


def prepared_target(options: RunOptions, cfg: Config) -> Path:
    """The prepared set to train on: --target itself, or the run's own set made from the
    video once (weights/NAME/target_set)."""
    if not options.target.exists():
        raise UserError(f"--target {options.target}: no such file or folder")
    if options.target.is_dir():
        return options.target
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError("with several processes, prepare the target first "
                        "(python data/video2data.py VIDEO -o DIR) and pass --target DIR")
    prepared = options.run_dir / TARGET_SET
    if not (prepared / META).is_file():
        log.info("preparing %s -> %s", options.target, prepared)
        prepare_video(options.target, prepared,
                      make_detector("auto", segmentation=True, weights=options.weights,
                                    parts=PARTS),
                      size=(cfg.data.prepared_size, cfg.data.prepared_size),
                      progress=options.progress, allow_truncated=options.allow_truncated)
    return prepared


def training_end(options: RunOptions, frames: int) -> int:
    """The end of the frames trained on: a continued run keeps its own (a resumed run on
    other frames would not continue exactly, and a later stage must not see held-out ones)."""
    asked = None if options.split is None else max(2, int(round(frames * options.split)))
    if options.continuing and (options.run_dir / TARGET).is_file():
        kept = TargetInfo.load(options.run_dir).frames[1]
        if asked is not None and asked != kept:
            raise RunError(f"{options.run_dir} trains on frames 0..{kept}; --split "
                           f"{options.split} would make it 0..{asked} (leave --split out to "
                           "keep them)")
        return kept
    return asked if asked is not None else frames


def measure_target(target: TargetSet, window_multiple: int | None) -> TargetInfo:
    """target.json of a run on ``target`` (the frames trained on, at the model's size); with
    ``window_multiple`` (the generator's stride) the person window's size too."""
    assert target.meta is not None, "a run trains on a prepared set"
    window = None if window_multiple is None else window_size(
        target.keypoints, target.size, window_multiple)
    return TargetInfo(str(target.folder.resolve()), (target.span.start, target.span.stop),
                      target.meta.size, target.size, target.meta.fps,
                      ankle_stats(target.prepared_keypoints).to_dict(), window)


def start_run(options: RunOptions) -> Trainer:
    """A trainer ready to train: resumed, started from the earlier stage (whose checkpoint is
    kept as checkpoint_stageN.pt), or new; target.json written for a new stage."""
    previous = check_start(options)
    device = pick_device(options.device)
    torch.manual_seed(options.seed)
    cfg, _ = run_config(options)
    prepared = prepared_target(options, cfg)
    meta = PreparedMeta.load(prepared)
    if not options.continuing:
        cfg.data.parts = ["body"] if options.body_only else list(meta.parts)
    log.info("label maps: %s", ", ".join(cfg.data.parts))
    stage = cfg.train.stages[options.stage]
    size = (stage.width, stage.height)
    end = training_end(options, meta.frames)
    target = TargetSet.load(prepared, size, range(0, end), tuple(cfg.data.parts), meta)
    stride = 2 ** (cfg.generator.n_downsampling + stage.n_local_enhancers)
    info = measure_target(target, stride if cfg.generator.person_window else None)
    plate: np.ndarray | None = target.plate(cfg.data.plate_frames) if cfg.generator.composite else None
    trainer = Trainer(cfg, target, options.run_dir, device, stage=options.stage, seed=options.seed,
                      plate=plate, window=info.window, weights=options.weights)
    run_dir = options.run_dir
    if options.resume:
        trainer.resume()
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        if previous is not None:
            trainer.start_from_stage(previous)
            trainer.dist.barrier()  # every process has read the earlier stage
            if trainer.dist.main:
                (run_dir / CHECKPOINT).rename(run_dir / stage_checkpoint(options.stage - 1))
        if trainer.dist.main:
            info.save(run_dir)
    return trainer


def train_run(options: RunOptions) -> Trainer:
    """Start (``start_run``) and train: to --iters, or fitted into --minutes; the run folder
    locked meanwhile (``edn.core.run.run_lock``; by the first process of a torchrun job)."""
    if int(os.environ.get("RANK", "0")) != 0:
        return _train(options)
    with run_lock(options.run_dir):
        return _train(options)


def _train(options: RunOptions) -> Trainer:
    trainer = start_run(options)
    if options.iters:
        trainer.planned = options.iters
    if options.resume:
        log.info("resumed at iteration %d of %d", trainer.iteration, trainer.planned)
    deadline = None
    if options.minutes and not options.resume:
        deadline = time.time() + options.minutes * 60
        trainer.plan_minutes(options.minutes)
    try:
        trainer.train(save_every=options.save_every, progress=options.progress, deadline=deadline)
    finally:
        trainer.dist.close()
    return trainer

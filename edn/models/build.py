"""Networks from their configs, and loading their trained weights."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edn.core.config import Config, DiscriminatorConfig, GeneratorConfig, StageConfig
from edn.core.errors import CheckpointError, ConfigError, RunError
from edn.core.paths import CHECKPOINT, CONFIG
from edn.core.run import TargetInfo, load_checkpoint
from edn.models.composite import CompositeGenerator
from edn.models.discriminator import MultiscaleDiscriminator
from edn.models.generator import GlobalGenerator, LocalEnhancer


def build_generator(
    cfg: GeneratorConfig, n_local_enhancers: int, plate: np.ndarray | None = None
) -> nn.Module:
    """The stage's generator; the global generator keeps width `cfg.ngf` in every stage.
    With `cfg.composite`, `plate` (h, w, 3) uint8 is the background the person is put over."""
    if cfg.person_window and not cfg.composite:
        raise ConfigError("generator.person_window needs generator.composite: the window is "
                          "pasted into the background plate")
    if not cfg.composite:
        return _pix2pixhd_generator(cfg, n_local_enhancers, cfg.output_nc)
    if plate is None:
        raise ValueError("a composite generator needs the target's background plate")
    base = _pix2pixhd_generator(cfg, n_local_enhancers, cfg.output_nc + 1)  # + mask logit
    plate_t = torch.from_numpy(plate).permute(2, 0, 1).float().div(127.5).sub(1.0)
    return CompositeGenerator(base, plate_t)


def _pix2pixhd_generator(cfg: GeneratorConfig, n_local_enhancers: int, output_nc: int) -> nn.Module:
    if n_local_enhancers == 0:
        return GlobalGenerator(cfg.input_nc, output_nc, cfg.ngf, cfg.n_downsampling, cfg.n_blocks)
    return LocalEnhancer(
        cfg.input_nc,
        output_nc,
        cfg.ngf // 2**n_local_enhancers,
        cfg.n_downsampling,
        cfg.n_blocks,
        n_local_enhancers,
        cfg.n_blocks_local,
    )


def build_discriminator(cfg: DiscriminatorConfig, gen: GeneratorConfig) -> MultiscaleDiscriminator:
    # Temporally smoothed, D sees the label maps and frames of cfg.frames consecutive frames;
    # else one of each.
    if cfg.frames not in (2, 3):
        raise ConfigError(f"discriminator.frames must be 2 or 3, not {cfg.frames}")
    frames = cfg.frames if gen.temporal else 1
    return MultiscaleDiscriminator(frames * (gen.label_nc + gen.output_nc), cfg.ndf, cfg.n_layers, cfg.num_d)


def load_weights(network: nn.Module, state: dict, source: str) -> None:
    """``network.load_state_dict(state)``; a state of another shape or layout (a checkpoint
    of another config) is a CheckpointError naming the first mismatch."""
    try:
        network.load_state_dict(state)
    except RuntimeError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else "mismatch"
        raise CheckpointError(f"{source} does not fit this config's "
                              f"{type(network).__name__}: {detail[:200]}") from None


@dataclass
class TrainedRun:
    """A trained run's generator (its plate from the checkpoint), with the run's config,
    target, checkpoint and the stage the checkpoint is of."""
    cfg: Config
    target: TargetInfo
    state: dict
    stage: StageConfig
    generator: nn.Module


def load_trained_run(run_dir: Path, device: torch.device) -> TrainedRun:
    """weights/NAME as its checkpoint left it (a RunError where it is not a trained run)."""
    if not (run_dir / CONFIG).is_file() or not (run_dir / CHECKPOINT).is_file():
        raise RunError(f"{run_dir} is not a trained run (no {CONFIG} or {CHECKPOINT}); "
                       "train one with main/train.py")
    cfg = Config.load(run_dir / CONFIG)
    target = TargetInfo.load(run_dir)
    state = load_checkpoint(run_dir / CHECKPOINT, device)
    if not 0 <= state["stage"] < len(cfg.train.stages):
        raise RunError(f"{run_dir / CHECKPOINT} is of stage {state['stage']}, which "
                       f"{run_dir / CONFIG} does not have")
    stage = cfg.train.stages[state["stage"]]
    # the plate is a placeholder of the right size: the checkpoint holds the real one
    generator = build_generator(cfg.generator, stage.n_local_enhancers,
                                plate=np.zeros((*target.size[::-1], 3), np.uint8))
    load_weights(generator, state["model"]["generator"], str(run_dir / CHECKPOINT))
    return TrainedRun(cfg, target, state, stage, generator.to(device))

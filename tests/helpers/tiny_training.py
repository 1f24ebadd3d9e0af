"""A tiny model and target set for training tests; run under torchrun it is the DDP worker:

    python -m torch.distributed.run --nproc_per_node 2 -m tests.helpers.tiny_training OUT_DIR ITERS

each rank trains ITERS iterations (batch 1 per rank) and saves its generator to
OUT_DIR/rank{R}.pt.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from edn.core.config import (
    Config,
    DataConfig,
    DiscriminatorConfig,
    FaceConfig,
    GeneratorConfig,
    LossConfig,
    StageConfig,
    TrainConfig,
)
from edn.core.keypoints import PARTS
from edn.core.openpose_json import write_sequence
from edn.preparation.prepare import PreparedMeta
from edn.preparation.target_set import TargetSet
from edn.training.trainer import Trainer

SIZE = 32


@dataclass
class ArrayFrames:
    """A target set's pixels held in memory (``edn.preparation.target_set.FrameReader``)."""
    images: np.ndarray  # (N, h, w, 3) uint8 RGB
    masks: np.ndarray   # (N, h, w) uint8

    def frame(self, i: int) -> np.ndarray:
        return self.images[i]

    def mask(self, i: int) -> np.ndarray:
        return self.masks[i]


def tiny_config(fast: bool = True, batch_size: int = 1, composite: bool = True,
                temporal: bool = True, face: bool = False) -> Config:
    """Stage 0: a global generator at 32x32; stage 1: a local enhancer at 64x64, or with
    ``face`` the face GAN at 32x32."""
    second = (StageConfig(SIZE, SIZE, 0, iterations=4, decay_iterations=2, face=True) if face
              else StageConfig(2 * SIZE, 2 * SIZE, 1, iterations=2, decay_iterations=1))
    return Config(
        name="tiny",
        generator=GeneratorConfig(ngf=4, n_downsampling=2, n_blocks=1, composite=composite,
                                  temporal=temporal),
        discriminator=DiscriminatorConfig(ndf=4, n_layers=2, num_d=2),
        loss=LossConfig(feat_match=10.0, vgg=0.0, l1=10.0, mask=5.0),
        data=DataConfig(prepared_size=SIZE),
        train=TrainConfig(batch_size=batch_size, fast=fast,
                          stages=[StageConfig(SIZE, SIZE, 0, iterations=6, decay_iterations=3),
                                  second]),
        face=FaceConfig(ngf=4, n_downsampling=1, n_blocks=1, ndf=4, n_layers=2, num_d=1),
    )


def tiny_target(frames: int = 8, scale: int = 1) -> TargetSet:
    """A bright square walking right on a gradient, with its skeleton and mask (at
    ``scale`` times 32 pixels)."""
    rng = np.random.default_rng(0)
    background = np.linspace(0, 120, SIZE, dtype=np.float32)[None, :, None].repeat(SIZE, 0).repeat(3, 2)
    images, masks, kps = [], [], []
    for t in range(frames):
        image = background.copy() + rng.normal(0, 2, background.shape)
        mask = np.zeros((SIZE, SIZE), np.float32)
        x = 4 + 2 * (t % 10)  # walks right, then starts again
        image[8:28, x:x + 8] = (220, 180, 60)
        mask[8:28, x:x + 8] = 1
        kp = np.zeros((18, 3), np.float32)
        kp[0] = (x + 4, 9, 1)     # nose
        kp[1] = (x + 4, 12, 1)    # neck
        kp[8] = (x + 2, 18, 1)    # r hip
        kp[10] = (x + 2, 27, 1)   # r ankle
        images.append(image.clip(0, 255).astype(np.uint8))
        masks.append(mask)
        kps.append(kp)
    size = SIZE * scale
    images = [cv2.resize(i, (size, size), interpolation=cv2.INTER_NEAREST) for i in images]
    masks = [cv2.resize(m, (size, size), interpolation=cv2.INTER_NEAREST) for m in masks]
    keypoints = np.stack(kps)
    keypoints[..., :2] *= scale
    return TargetSet(Path("."), None, (size, size), range(frames), keypoints, keypoints, PARTS,
                     ArrayFrames(np.stack(images), (np.stack(masks) * 255).astype(np.uint8)))


def write_prepared(folder: Path, frames: int = 12) -> None:
    """``tiny_target`` written as a prepared set (data/video2data.py's layout) at 12 fps."""
    target = tiny_target(frames)
    (folder / "frames").mkdir(parents=True)
    (folder / "masks").mkdir()
    for i in range(frames):
        image, mask = target.reader.frame(i), target.reader.mask(i)
        cv2.imwrite(str(folder / "frames" / f"{i:06d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(folder / "masks" / f"{i:06d}.png"), mask)
    kp = target.keypoints.copy()
    kp[:, 13] = kp[:, 10] + (4, 0, 0)  # a second ankle, so normalization has statistics
    kp[:, 13, 2] = 1
    write_sequence(folder / "keypoints", kp, "tiny")
    PreparedMeta(source="synthetic", fps=12.0, original_size=(32, 32), crop_box=(0, 0, 32, 32),
                 size=(32, 32), detector="none", frames=frames, masks=True,
                 frames_with_person=frames).save(folder)


def noise_video(path: Path, frames: int, size: tuple[int, int] = (120, 160),
                faststart: bool = False) -> Path:
    """A video of noise (nobody in it), 10 fps. ``faststart``: the index first, as most
    cameras and web videos write it, so that a copy cut short stays readable."""
    import subprocess

    import imageio_ffmpeg

    from edn.core.video import Mp4Writer

    rng = np.random.default_rng(0)
    with Mp4Writer(path, fps=10) as w:
        for _ in range(frames):
            w.write(rng.integers(0, 255, (*size, 3), dtype=np.uint8))
    if faststart:
        moved = path.with_name("fs_" + path.name)
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(path),
                        "-c", "copy", "-movflags", "+faststart", str(moved)], check=True)
        moved.replace(path)
    return path


def make_trainer(run_dir: Path, cfg: Config | None = None, stage: int = 0,
                 window: tuple[int, int] | None = None) -> Trainer:
    torch.manual_seed(0)
    cfg = cfg or tiny_config()
    target = tiny_target(scale=cfg.train.stages[stage].width // SIZE)
    plate = target.plate() if cfg.generator.composite else None
    return Trainer(cfg, target, run_dir, torch.device("cpu"), stage=stage, seed=3, plate=plate,
                   window=window)


if __name__ == "__main__":
    out, iters = Path(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(1)
    trainer = make_trainer(out / "run", tiny_config(fast=False))
    trainer.planned = iters
    for _ in range(iters):
        trainer.step()
    torch.save(trainer.model.generator.state_dict(), out / f"rank{trainer.dist.rank}.pt")
    trainer.dist.close()


def window_run(tmp_path: Path) -> Path:
    """A tiny trained run on a person window over its plate (tiny_config), with its prepared
    set (write_prepared) and the set's ankle statistics: what distillation and live transfer
    start from."""
    from edn.core.openpose_json import read_sequence
    from edn.core.run import TargetInfo
    from edn.preparation.normalize import ankle_stats

    prepared = tmp_path / "set"
    write_prepared(prepared)
    cfg = tiny_config()
    cfg.generator.person_window = True
    run = tmp_path / "run"
    trainer = make_trainer(run, cfg, window=(16, 24))
    trainer.save()
    stats = ankle_stats(read_sequence(prepared / "keypoints"), min_frames=2).to_dict()
    TargetInfo(str(prepared), (0, 12), (SIZE, SIZE), (SIZE, SIZE), 12.0, stats, window=(16, 24)).save(run)
    return run

"""Training a target person's model: data order, schedule, checkpoints, logging, DDP.

Everything a run needs to continue exactly lives in ``RUN/checkpoint.pt`` (models, optimisers,
scaler, iteration, planned length, RNG state); the data order is a pure function of the seed
and the iteration (``edn.data.batch_indices``), so an interrupted and resumed run on CPU ends
with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from edn.config import Config
from edn.data import TargetSet, batch_indices, to_tensor
from edn.face_stage import FaceStage
from edn.io import atomic_write
from edn.losses import VGGLoss
from edn.models.composite import CompositeGenerator
from edn.models.face import face_crop_box
from edn.train_step import FramePair, TemporalPix2PixHD
from edn.window import crop, shift_keypoints, window_box, window_origin

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)


@dataclass
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""
    rank: int = 0
    world_size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    @classmethod
    def from_env(cls, device: torch.device) -> "Distributed":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(dist.get_rank(), world)


def lr_at(iteration: int, total: int, decay: int, base_lr: float) -> float:
    """pix2pixHD's schedule: constant, then linear to zero over the last ``decay`` iterations."""
    start = total - decay
    if iteration < start or decay <= 0:
        return base_lr
    return base_lr * max(0.0, (total - iteration) / decay)


def core(generator: torch.nn.Module) -> torch.nn.Module:
    """The pix2pixHD generator inside a composite one (itself otherwise)."""
    return generator.base if isinstance(generator, CompositeGenerator) else generator


def _stage_size(cfg: Config, stage: int) -> tuple[int, int]:
    s = cfg.train.stages[stage]
    return s.width, s.height


def save_torch(path: Path, obj: dict) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))


class Trainer:
    """One training stage of one run folder (weights/NAME)."""

    def __init__(self, cfg: Config, target: TargetSet, run_dir: str | Path,
                 device: torch.device, stage: int = 0, seed: int = 0,
                 plate: np.ndarray | None = None, log=print,
                 window: tuple[int, int] | None = None) -> None:
        """``window`` (w, h): train on the person window of that size (edn.window) that
        holds both frames of each pair, instead of whole frames."""
        self.cfg, self.target, self.stage, self.seed = cfg, target, stage, seed
        self.window = window
        self.run_dir = Path(run_dir)
        self.device = device
        self.dist = Distributed.from_env(device)
        self.log = log if self.dist.main else (lambda *a, **k: None)
        vgg = VGGLoss.from_weights_dir()  # logs that the perceptual loss is off without weights
        kind = FaceStage if cfg.train.stages[stage].face else TemporalPix2PixHD
        self.model = kind.from_config(cfg, stage, device, vgg=vgg, plate=plate,
                                      distributed=self.dist.world_size > 1)
        self.iteration = 0
        self.planned = cfg.train.stages[stage].iterations
        # Pair i is frames (i, i + 1), cut at origins[i] with a person window; the face
        # stage trains on the pairs whose frame i + 1 shows a face in the image.
        self.pairs = np.arange(len(target.frames) - 1)
        kp = target.keypoints
        self.origins = [window_origin((kp[i], kp[i + 1]), window, target.size)
                        for i in self.pairs] if window is not None else None
        if isinstance(self.model, FaceStage):
            h, w = self.pair_size[1], self.pair_size[0]
            self.pairs = np.array([i for i in self.pairs if face_crop_box(
                self.pair_keypoints(i), (h, w), self.model.face_side) is not None], int)
            if len(self.pairs) < 1:
                raise ValueError("the face stage needs frames that show a face; none does")
        if len(self.pairs) < 1:
            raise ValueError("training needs at least two consecutive frames")

    # -- checkpoints -------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "iteration": self.iteration, "planned": self.planned, "stage": self.stage,
            "seed": self.seed, "model": self.model.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    def save(self) -> None:
        if self.dist.main:
            self.cfg.save_atomic(self.run_dir / CONFIG)
            save_torch(self.run_dir / CHECKPOINT, self.state())

    def resume(self) -> bool:
        """Load RUN/checkpoint.pt if there is one; returns whether it did."""
        path = self.run_dir / CHECKPOINT
        if not path.is_file():
            return False
        state = torch.load(path, map_location=self.device, weights_only=False)
        if state["stage"] != self.stage or state["seed"] != self.seed:
            raise ValueError(f"{path} is from stage {state['stage']} seed {state['seed']}, "
                             f"not stage {self.stage} seed {self.seed}")
        self.model.load_state_dict(state["model"])
        self.iteration, self.planned = state["iteration"], state["planned"]
        torch.set_rng_state(state["torch_rng"])
        return True

    def start_from_stage(self, previous: dict) -> None:
        """Begin this stage from a finished earlier stage's checkpoint: the local enhancer's
        global generator takes the earlier stage's trained weights (pix2pixHD's schedule);
        the face stage freezes the earlier stage's whole generator."""
        if isinstance(self.model, FaceStage):
            now, before = self.cfg.train.stages[self.stage], self.cfg.train.stages[previous["stage"]]
            if (now.width, now.height, now.n_local_enhancers) != (
                    before.width, before.height, before.n_local_enhancers):
                raise ValueError(f"the face stage {self.stage} must keep stage {previous['stage']}'s "
                                 "size and local enhancers")
            self.model.generator.load_state_dict(previous["model"]["generator"])
            return
        earlier = TemporalPix2PixHD.from_config(
            self.cfg, previous["stage"], self.device,
            plate=np.zeros((*_stage_size(self.cfg, previous["stage"])[::-1], 3), np.uint8))
        earlier.load_state_dict(previous["model"])
        core(self.model.generator).load_global(core(earlier.generator))

    # -- training ----------------------------------------------------------------------
    @property
    def pair_size(self) -> tuple[int, int]:
        """(w, h) of what a training pair shows: the person window, or the whole frame."""
        return self.window if self.window is not None else self.target.size

    def pair_keypoints(self, i: int) -> np.ndarray:
        """Frame i + 1's keypoints in the coordinates of pair i."""
        pose = self.target.keypoints[i + 1]
        return pose if self.origins is None else shift_keypoints(pose, self.origins[i])

    def batch(self, iteration: int) -> FramePair:
        idx = self.pairs[batch_indices(iteration, self.cfg.train.batch_size, len(self.pairs),
                                       self.seed, self.dist.rank, self.dist.world_size)]
        t = self.target
        keypoints = np.stack([self.pair_keypoints(i) for i in idx])
        if self.origins is None or self.window is None:
            return FramePair(to_tensor(t.labels[idx]), to_tensor(t.labels[idx + 1]),
                             to_tensor(t.frames[idx]), to_tensor(t.frames[idx + 1]),
                             torch.from_numpy(t.masks[idx])[:, None],
                             torch.from_numpy(t.masks[idx + 1])[:, None], keypoints)
        boxes = [window_box(self.origins[i], self.window) for i in idx]

        def cut(images: np.ndarray) -> np.ndarray:
            return np.stack([im[y0:y1, x0:x1] for im, (x0, y0, x1, y1) in zip(images, boxes)])

        plate = self.model.generator.plate
        return FramePair(to_tensor(cut(t.labels[idx])), to_tensor(cut(t.labels[idx + 1])),
                         to_tensor(cut(t.frames[idx])), to_tensor(cut(t.frames[idx + 1])),
                         torch.from_numpy(cut(t.masks[idx]))[:, None],
                         torch.from_numpy(cut(t.masks[idx + 1]))[:, None], keypoints,
                         crop(plate.expand(len(idx), -1, -1, -1), boxes))

    def plan_minutes(self, minutes: float, probe: int = 5) -> None:
        """Fit the planned length (and so the LR decay) into ``minutes`` from the speed of a
        few real steps after a first, untimed one (which may compile); ``train`` refines it
        until the decay starts. Only for a fresh run: a resumed run keeps its saved plan."""
        begin = time.perf_counter()
        self.step()
        start = time.perf_counter()
        for _ in range(probe):
            self.step()
        now = time.perf_counter()
        self._replan(minutes * 60 - (now - begin), (now - start) / probe)
        self.log(f"planning {self.planned} iterations for {minutes:g} minutes")

    def _replan(self, seconds_left: float, seconds_per_step: float) -> None:
        self.planned = self.iteration + max(1, int(seconds_left / seconds_per_step))

    def decay_start(self) -> int:
        stage = self.cfg.train.stages[self.stage]
        return self.planned - self._decay_length(stage)

    def _decay_length(self, stage) -> int:
        # The decay keeps the configured share of the run when the run is re-planned.
        return round(self.planned * stage.decay_iterations / max(stage.iterations, 1))

    def step(self) -> dict[str, torch.Tensor]:
        decay = self._decay_length(self.cfg.train.stages[self.stage])
        self.model.set_lr(lr_at(self.iteration, self.planned, decay, self.cfg.train.lr))
        losses = self.model.step(self.batch(self.iteration))
        self.iteration += 1
        return losses

    def train(self, save_every: int = 500, log_every: int = 25, image_every: int = 250,
              progress: bool = True, deadline: float | None = None,
              replan_every: int = 50) -> None:
        """Run until the planned iteration count (or the ``deadline``, a time.time()),
        saving every ``save_every`` iterations and at the end or on Ctrl-C. With a deadline
        the plan follows the measured speed after 10 and then every ``replan_every``
        iterations until the learning-rate decay begins (a shared machine's speed drifts)."""
        writer = None
        if self.dist.main:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(self.run_dir / "logs"))
        bar = tqdm(total=self.planned, initial=self.iteration, unit="it", dynamic_ncols=True,
                   disable=not (progress and self.dist.main), desc=f"train {self.run_dir.name}")
        started, first = time.time(), self.iteration
        try:
            while self.iteration < self.planned:
                if deadline is not None and time.time() >= deadline:
                    self.log("time budget reached")
                    break
                losses = self.step()
                bar.update()
                done = self.iteration - first
                if (deadline is not None and self.iteration < self.decay_start()
                        and (done % replan_every == 0 or done == 10)):
                    self._replan(deadline - time.time(), (time.time() - started) / done)
                    bar.total = self.planned
                    bar.refresh()
                if self.iteration % log_every == 0 and writer is not None:
                    values = {k: float(v) for k, v in losses.items()}
                    for k, v in values.items():
                        writer.add_scalar(f"loss/{k}", v, self.iteration)
                    bar.set_postfix({k: f"{v:.3f}" for k, v in values.items()})
                if self.iteration % image_every == 0 and writer is not None:
                    writer.add_images("label|generated|real", self.preview(), self.iteration)
                if self.iteration % save_every == 0:
                    self.save()
        except KeyboardInterrupt:
            self.log(f"interrupted at iteration {self.iteration}: saving")
            self.save()
            raise
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        self.save()

    @torch.no_grad()
    def preview(self, frames: int = 3) -> torch.Tensor:
        """(frames, 3, H, 3W) in [0, 1]: label | generated (sequentially) | real."""
        t = self.target
        idx = np.linspace(0, len(t.frames) - 2, frames).astype(int)
        labels = to_tensor(t.labels[idx]).to(self.device)
        fake = self.model.generate(labels, torch.zeros_like(labels), t.keypoints[idx])
        real = to_tensor(t.frames[idx]).to(self.device)
        return torch.cat([labels, fake.float(), real], 3).add(1).div(2).clamp(0, 1).cpu()


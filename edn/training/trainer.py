"""Training a target person's model: data order, schedule, checkpoints, logging, DDP.

Everything a run needs to continue exactly lives in ``RUN/checkpoint.pt`` (models, optimisers,
scaler, iteration, planned length, RNG state); the data order is a pure function of the seed
and the iteration (``edn.training.data.batch_indices``), so an interrupted and resumed run on CPU ends
with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from edn.core.config import Config
from edn.core.errors import RunError, UserError
from edn.core.flow import FlowEstimator, grey
from edn.core.keypoints import fastest_quarter, joint_speed
from edn.core.paths import CHECKPOINT, CONFIG, LOGS, weights_dir
from edn.core.run import load_checkpoint, save_checkpoint
from edn.core.tensors import to_tensor
from edn.core.window import crop, shift_keypoints, window_box, window_origin
from edn.models.losses import VGGLoss
from edn.preparation.target_set import TargetSet
from edn.training.data import batch_indices
from edn.training.face_stage import FaceStage
from edn.training.pix2pixhd_stage import TemporalPix2PixHD
from edn.training.stage import FramePair, Stage

log = logging.getLogger(__name__)


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

    def close(self) -> None:
        """End the job's process group: left to the interpreter's exit, gloo's threads can
        still be running and abort the process ("terminate called without an active
        exception")."""
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()

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


def make_stage(cfg: Config, stage: int, device: torch.device, plate: np.ndarray | None = None,
               distributed: bool = False, weights: Path | None = None) -> Stage:
    """The stage ``stage`` of ``cfg``: the face GAN where the config says so, else pix2pixHD.
    The VGG19 perceptual loss is loaded only when its weight is not 0 (and its weights are
    in the ``weights`` folder, default ``edn.core.paths.weights_dir()``)."""
    vgg = VGGLoss.from_weights_dir(weights_dir(weights)) if cfg.loss.vgg > 0 else None
    kind = FaceStage if cfg.train.stages[stage].face else TemporalPix2PixHD
    return kind.from_config(cfg, stage, device, vgg=vgg, plate=plate, distributed=distributed)


class Trainer:
    """One training stage of one run folder (weights/NAME)."""

    def __init__(self, cfg: Config, target: TargetSet, run_dir: str | Path,
                 device: torch.device, stage: int = 0, seed: int = 0,
                 plate: np.ndarray | None = None,
                 window: tuple[int, int] | None = None, weights: Path | None = None) -> None:
        """``window`` (w, h): train on the person window of that size (edn.core.window) that
        holds both frames of each pair, instead of whole frames. ``weights``: the weights
        folder brought weights (VGG19) are looked for in."""
        self.cfg, self.target, self.stage, self.seed = cfg, target, stage, seed
        self.window = window
        self.run_dir = Path(run_dir)
        self.device = device
        self.dist = Distributed.from_env(device)
        self.model = make_stage(cfg, stage, device, plate, self.dist.world_size > 1, weights)
        self.flows: FlowEstimator | None = None  # made when a stage first needs the flow
        self.iteration = 0
        self.saved: int | None = None  # iteration of the checkpoint on disk, if any
        self.planned = cfg.train.stages[stage].iterations
        # Pair i is frames (i, i + 1) (and i + 2 for a stage that judges three), cut at
        # origins[i] with a person window; the stage trains on the pairs it says it does (the
        # face stage: those showing a face).
        kp = target.keypoints
        span = self.model.frames
        pairs = range(len(target) - span + 1)
        self.origins = [window_origin(kp[i:i + span], window, target.size)
                        for i in pairs] if window is not None else None
        w, h = self.pair_size
        self.pairs = np.array([i for i in pairs if self.model.trains_on(self.pair_keypoints(i), (h, w))], int)
        if len(self.pairs) < 1:
            raise UserError("no frame pair to train this stage on: training needs two consecutive "
                            "frames (and the face stage frames that show a face)")
        if cfg.train.fast_pairs > 1:
            fast = self.pairs[fastest_quarter(joint_speed(kp)[self.pairs + 1])]
            self.pairs = np.concatenate([self.pairs, np.repeat(fast, cfg.train.fast_pairs - 1)])

    def _log(self, message: str) -> None:
        if self.dist.main:
            log.info(message)

    # -- checkpoints -------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "iteration": self.iteration, "planned": self.planned, "stage": self.stage,
            "seed": self.seed, "model": self.model.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    def save(self) -> None:
        if self.dist.main:
            self.cfg.save(self.run_dir / CONFIG)
            save_checkpoint(self.run_dir / CHECKPOINT, self.state())
        self.saved = self.iteration

    def resume(self) -> bool:
        """Load RUN/checkpoint.pt if there is one; returns whether it did."""
        path = self.run_dir / CHECKPOINT
        if not path.is_file():
            return False
        state = load_checkpoint(path, self.device)
        if state["stage"] != self.stage or state["seed"] != self.seed:
            raise RunError(f"{path} is from stage {state['stage']} seed {state['seed']}, "
                           f"not stage {self.stage} seed {self.seed}")
        self.model.load_state_dict(state["model"], str(path))
        self.iteration, self.planned = state["iteration"], state["planned"]
        self.saved = self.iteration
        torch.set_rng_state(state["torch_rng"])
        return True

    def start_from_stage(self, previous: dict) -> None:
        """Begin this stage from a finished earlier stage's checkpoint (``Stage.start_from``)."""
        self.model.start_from(previous, self.cfg)

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
        """The pairs of ``iteration``'s batch, read from the target set (``TargetSet``: from
        disk, a batch at a time)."""
        idx = self.pairs[batch_indices(iteration, self.cfg.train.batch_size, len(self.pairs),
                                       self.seed, self.dist.rank, self.dist.world_size)]
        t = self.target
        keypoints = np.stack([self.pair_keypoints(i) for i in idx])
        span = self.model.frames
        every = np.concatenate([idx + k for k in range(span)])  # frames t, then t + 1, ...
        labels, frames, masks = t.labels(every), t.frames(every), t.masks(every)
        plate = None
        if self.window is not None and self.origins is not None:
            boxes = [window_box(self.origins[i], self.window) for i in idx] * span
            labels, frames, masks = (
                np.stack([im[y0:y1, x0:x1] for im, (x0, y0, x1, y1) in zip(images, boxes)])
                for images in (labels, frames, masks))
            generator_plate = self.model.generator.plate
            assert isinstance(generator_plate, torch.Tensor), "person windows need a composite generator"
            plate = crop(generator_plate.expand(len(idx), -1, -1, -1), boxes[:len(idx)])
        b = len(idx)
        masks_t = torch.from_numpy(masks)[:, None]
        pair = FramePair(to_tensor(labels[:b]), to_tensor(labels[b:2 * b]), to_tensor(frames[:b]),
                         to_tensor(frames[b:2 * b]), masks_t[:b], masks_t[b:2 * b], keypoints, plate)
        if span == 3:
            pair.label_t2, pair.real_t2 = to_tensor(labels[2 * b:]), to_tensor(frames[2 * b:])
            pair.mask_t2 = masks_t[2 * b:]
        if self.model.uses_flow():
            # Per batch, not stored at preparation: DIS on a 172x256 window pair takes 5 ms
            # (2 % of a cpu-preset step), its flow would take 0.5 MB a frame on disk.
            self.flows = self.flows or FlowEstimator()
            flows = [self.flows.between(grey(t), grey(t1)) for t, t1 in zip(frames[:b], frames[b:2 * b])]
            pair.flow = torch.from_numpy(np.stack([f.where for f in flows]))
            pair.followed = torch.from_numpy(np.stack([f.followed for f in flows]))[:, None].float()
        return pair

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
        self._log(f"planning {self.planned} iterations for {minutes:g} minutes")

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
        self.model.set_progress(self.iteration / self.planned)
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
            writer = SummaryWriter(str(self.run_dir / LOGS))
        bar = tqdm(total=self.planned, initial=self.iteration, unit="it", dynamic_ncols=True,
                   disable=not (progress and self.dist.main), desc=f"train {self.run_dir.name}")
        started, first = time.time(), self.iteration
        try:
            while self.iteration < self.planned:
                if deadline is not None and time.time() >= deadline:
                    self._log("time budget reached")
                    break
                losses = self.step()
                self.check_finite(losses)
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
            self._log(f"interrupted at iteration {self.iteration}: saving")
            self.save()
            raise
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        self.save()

    def check_finite(self, losses: dict[str, torch.Tensor]) -> None:
        """Stop on a NaN or infinite loss (the weights are spoilt from this step on), saving
        nothing: the checkpoint on disk stays the last good one."""
        values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        if bool(torch.isfinite(values).all()):
            return
        name, value = next((k, float(v)) for k, v in zip(losses, values) if not torch.isfinite(v))
        kept = (f"the checkpoint of iteration {self.saved} in {self.run_dir} is kept"
                if self.saved is not None else "no checkpoint was written")
        raise RunError(f"the {name} loss is {value} at iteration {self.iteration}: training "
                       f"stopped; {kept} (a lower learning rate, or --fp32, may avoid it)")

    @torch.no_grad()
    def preview(self, frames: int = 3) -> torch.Tensor:
        """(frames, 3, H, 3W) in [0, 1]: label | generated (sequentially) | real."""
        t = self.target
        idx = np.linspace(0, len(t) - 2, frames).astype(int)
        labels = to_tensor(t.labels(idx)).to(self.device)
        fake = self.model.generate(labels, torch.zeros_like(labels), t.keypoints[idx])
        real = to_tensor(t.frames(idx)).to(self.device)
        return torch.cat([labels, fake.float(), real], 3).add(1).div(2).clamp(0, 1).cpu()


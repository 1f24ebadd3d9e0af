"""Distilling a run's student generator (edn.models.student, issue 34: live transfer) from the
run's own generator, the teacher, so that it runs live on 2 CPU cores.

- **Data.** Short sequences of the target's training skeletons, each kept as it is, jittered
  (every joint moved by JITTER px, independently per frame), mirrored (left and right swapped
  about the frame's centre) or blended with another sequence (a random share up to BLEND):
  the teacher's whole function, not only its training frames. The teacher renders each
  sequence as it renders a transfer (its previous output as its temporal input, its windows,
  its plate); each frame's window (label, previous frame, plate, teacher's frame) goes into a
  pool of POOL samples, drawn anew every BLOCK iterations; a step takes BATCH of them. Every
  other sequence is rendered from the student's own previous frames (the student as it was
  when the pool was drawn), as it will be live, the teacher drawing from those: the student
  learns to recover from its own drift.
  Everything random is seeded by (seed, block) and (seed, iteration), so a resumed run draws
  what the uninterrupted one would.
- **Loss.** L1 between the student's composited window and the teacher's, plus EDGES times
  the L1 of their neighbouring pixels' differences (L1 alone drew soft limbs), Adam, the learning
  rate decayed linearly over the second half of the planned iterations. With ``minutes``,
  the plan is set from the time of the first iterations and kept.
- **Stored** as STUDENT (edn.core.paths) in the run folder (the student's generator config,
  weights, optimizer, iteration and plan): written atomically every ``save_every`` iterations
  and at the end; a run resumes from it exactly with ``resume``.
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from edn.core.config import Config
from edn.core.errors import RunError
from edn.core.keypoints import flip_left_right
from edn.core.paths import CHECKPOINT, STUDENT
from edn.core.run import TargetInfo, load_checkpoint, save_checkpoint
from edn.core.runtime import Precision, pick_device
from edn.core.skeleton import render_label_map
from edn.core.tensors import to_tensor
from edn.core.window import Box, crop, paste, window_box, window_origin
from edn.models.build import build_generator, load_trained_run, load_weights
from edn.models.generator import generator_input
from edn.models.student import student_config
from edn.preparation.target_set import TargetSet

SEQUENCE = 6        # frames of a teacher rollout
JITTER = 2.0        # px (at the model's size), Gaussian sigma
BLEND = 0.5         # the largest share of another sequence blended in
POOL = 192          # teacher samples kept
BLOCK = 96          # iterations between new pools (each sample is used about 4 times)
BATCH = 8
TIMING = 10         # iterations timed to plan a run given in minutes
EDGES = 1.0         # weight of the L1 of neighbouring pixels' differences
LEARNING_RATE = 2e-4


@dataclass
class DistillOptions:
    """What main/train.py --distill asks for (see its --help)."""
    run_dir: Path
    iterations: int = 3000
    minutes: float | None = None  # stop after this many minutes (the decay follows the time)
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    save_every: int = 250
    progress: bool = True


@dataclass
class Teacher:
    """The run's generator for distillation (eval mode, no gradients), its config, target and
    the precision it runs at."""
    generator: torch.nn.Module
    cfg: Config
    target: TargetInfo
    parts: tuple[str, ...]
    precision: Precision
    iteration: int
    poses: np.ndarray  # the training frames' skeletons at the model's size

    @classmethod
    def load(cls, run_dir: Path, device: torch.device) -> "Teacher":
        run = load_trained_run(run_dir, device)
        if run.target.window is None or not run.cfg.generator.composite:
            raise RunError(f"{run_dir} draws whole frames: distillation needs a run on a person "
                           "window over its plate (the `cpu` preset's)")
        first, end = run.target.frames
        poses = TargetSet.load(run.target.prepared_set, run.target.size).keypoints[first:end]  # model pixels
        if len(poses) < SEQUENCE:
            raise RunError(f"the run trained on {len(poses)} frames: distillation needs {SEQUENCE}")
        return cls(run.generator.eval().requires_grad_(False), run.cfg, run.target, tuple(run.cfg.data.parts),
                   Precision(device, run.cfg.train.fast), run.state["iteration"], poses)


class Sequences:
    """Augmented skeleton sequences from the target's training frames, at the model's size."""

    def __init__(self, teacher: Teacher, rng: np.random.Generator) -> None:
        self.poses = teacher.poses
        self.width = teacher.target.size[0]
        self.rng = rng

    def _take(self) -> np.ndarray:
        start = int(self.rng.integers(0, len(self.poses) - SEQUENCE + 1))
        return self.poses[start:start + SEQUENCE].copy()

    def __call__(self) -> np.ndarray:
        """One sequence (SEQUENCE, joints, 3): as it is, jittered, mirrored or blended."""
        poses = self._take()
        seen = poses[..., 2] > 0
        kind = int(self.rng.integers(0, 4))
        if kind == 1:
            poses[..., :2] += self.rng.normal(0.0, JITTER, poses[..., :2].shape) * seen[..., None]
        elif kind == 2:
            poses[..., 0] = np.where(seen, self.width - 1 - poses[..., 0], 0.0)
            poses = flip_left_right(poses)
        elif kind == 3:
            other = self._take()
            share = float(self.rng.uniform(0.0, BLEND))
            both = seen & (other[..., 2] > 0)
            mixed = (1 - share) * poses[..., :2] + share * other[..., :2]
            poses[..., :2] = np.where(both[..., None], mixed, poses[..., :2])
        return poses.astype(np.float32)


def teacher_rollout(teacher: Teacher, poses: np.ndarray, device: torch.device,
                    student: torch.nn.Module | None = None) -> list[tuple[torch.Tensor, ...]]:
    """The teacher renders ``poses`` as a transfer does; per frame the window's (label,
    previous frame, plate, teacher's frame), each (3, h, w) on ``device``. With ``student``,
    the previous frame is the student's own (as it will be live) and the teacher draws from it."""
    size, window = teacher.target.size, teacher.target.window
    assert window is not None
    hw = (size[1], size[0])
    plate = teacher.generator.plate[None]
    temporal = teacher.cfg.generator.temporal
    prev = torch.zeros(1, 3, *hw, device=device)
    out, origin = [], None
    for pose in poses:
        origin = window_origin([pose], window, size, fallback=origin)
        box: list[Box] = [window_box(origin, window)]
        label = to_tensor(render_label_map(pose, hw, parts=teacher.parts)[None]).to(device)
        x, p, q = crop(label, box), crop(prev, box), crop(plate, box)
        inputs = generator_input(x, p, temporal)
        with torch.no_grad(), teacher.precision.autocast():
            drawn = teacher.generator(inputs, q).float()
            follows = drawn if student is None else student(inputs, q).float()
        out.append((x[0], p[0], q[0], drawn[0]))
        prev = paste(plate, follows, box)
    return out


@dataclass
class Distilled:
    """What a distillation did: iterations, seconds, the last loss, where it is stored."""
    iterations: int
    seconds: float
    loss: float
    path: Path


def teacher_pool(teacher: Teacher, seed: int, block: int, device: torch.device,
                 student: torch.nn.Module) -> list[tuple[torch.Tensor, ...]]:
    """POOL teacher samples from the sequences seeded by (seed, block), every other sequence
    with the student's (as it is at the block's start) previous frames."""
    sequences = Sequences(teacher, np.random.default_rng([seed, block]))
    pool: list[tuple[torch.Tensor, ...]] = []
    for k in itertools.count():
        if len(pool) >= POOL:
            return pool[:POOL]
        pool += teacher_rollout(teacher, sequences(), device, student if k % 2 else None)
    raise AssertionError("unreachable")


def edges(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical differences of neighbouring pixels."""
    return image[..., :, 1:] - image[..., :, :-1], image[..., 1:, :] - image[..., :-1, :]


def distill(options: DistillOptions) -> Distilled:
    """Train the run's student (module text); returns what was done."""
    device = pick_device(options.device)
    teacher = Teacher.load(options.run_dir, device)
    cfg = student_config(teacher.cfg.generator)
    torch.manual_seed(options.seed)
    student = build_generator(cfg, 0, plate=np.zeros((*teacher.target.size[::-1], 3), np.uint8)).to(device)
    student.plate.copy_(teacher.generator.plate)
    optimizer = torch.optim.Adam(student.parameters(), lr=LEARNING_RATE, betas=(0.5, 0.999))
    path = options.run_dir / STUDENT
    iteration, seconds = 0, 0.0
    planned = options.iterations if options.minutes is None else None
    at_block = copy.deepcopy(student).eval()  # the student as it was when the pool was drawn
    scaler = torch.amp.GradScaler(device.type, enabled=teacher.precision.needs_grad_scaler)  # fp16 on CUDA
    if options.resume and path.is_file():
        state = load_checkpoint(path, device)
        load_weights(student, state["model"], str(path))
        load_weights(at_block, state["pool_model"], str(path))
        optimizer.load_state_dict(state["optimizer"])
        if "scaler" in state:  # students distilled before the scaler have none
            scaler.load_state_dict(state["scaler"])
        iteration, seconds, planned = state["iteration"], state["seconds"], state["planned"]
    elif path.exists():
        raise RunError(f"{path} exists: continue it with --resume, or remove it to start again")
    bar = tqdm(total=planned, initial=iteration, unit="it", desc="distill", disable=not options.progress)
    started = time.perf_counter() - seconds
    pool, block, timed, pool_seconds = None, -1, 0.0, 0.0
    loss_value = float("nan")

    def save() -> None:
        save_checkpoint(path, {"model": student.state_dict(), "pool_model": at_block.state_dict(),
                               "config": dataclasses.asdict(cfg),
                               "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                               "iteration": iteration,
                               "planned": planned, "seconds": time.perf_counter() - started,
                               "teacher_checkpoint": str(options.run_dir / CHECKPOINT),
                               "teacher_iteration": teacher.iteration})

    while planned is None or iteration < planned:
        if iteration // BLOCK != block:
            if iteration % BLOCK == 0:  # a new block (a resumed one keeps its saved student)
                at_block.load_state_dict(student.state_dict())
            block = iteration // BLOCK
            drawing = time.perf_counter()
            pool = teacher_pool(teacher, options.seed, block, device, at_block)
            timed = time.perf_counter()
            pool_seconds = timed - drawing
        if planned is None and iteration == TIMING:  # --minutes: the plan from the first steps
            per_step = (time.perf_counter() - timed) / TIMING + pool_seconds / BLOCK
            left = options.minutes * 60 - (time.perf_counter() - started)
            planned = TIMING + max(1, int(left / per_step))
            bar.total = planned
        fraction = iteration / planned if planned else 0.0
        for group in optimizer.param_groups:
            group["lr"] = LEARNING_RATE * min(1.0, 2.0 * (1.0 - fraction))
        picks = np.random.default_rng([options.seed, block, iteration]).choice(POOL, BATCH, replace=False)
        label, prev, plate, wanted = (torch.stack(part) for part in zip(*(pool[i] for i in picks)))
        with teacher.precision.autocast():
            drawn = student(generator_input(label, prev, cfg.temporal), plate)
            drawn = drawn.float()
            loss = (drawn - wanted).abs().mean() + EDGES * sum(
                (a - b).abs().mean() for a, b in zip(edges(drawn), edges(wanted)))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        iteration += 1
        loss_value = float(loss.detach())
        if not np.isfinite(loss_value):
            raise RunError(f"the distillation's loss is {loss_value} at iteration {iteration}: "
                           f"the last good student is in {path}")
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}")
        if iteration % options.save_every == 0:
            save()
    bar.close()
    save()
    return Distilled(iteration, time.perf_counter() - started, loss_value, path)

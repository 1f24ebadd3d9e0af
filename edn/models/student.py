"""A run's student generator (issue 34: live transfer): a narrower copy of the run's generator,
distilled from it by edn.training.distill and stored as STUDENT in the run folder.

Its shape (``student_config``): the teacher's generator with STUDENT_NGF channels and
STUDENT_BLOCKS residual blocks, its downsamplings, temporal input, plate composite and person
window kept. Measured on the fp32 path (AMD EPYC, one thread, a 184x256 window): the `cpu`
preset's teacher (32 channels, 6 blocks) 104 ms a frame; 16 channels and 6 blocks 38 ms;
16 and 3 blocks 30 ms; 24 and 3 blocks 58 ms; 16 and 3 blocks with three downsamplings 33 ms.
Six blocks for the pictures: distilled the same way, the 6-block student's pose distance on
taiji's held-out frames was 4.2 px (the teacher's 4.7), the 3-block's 7.0 and the 4-block's 8.6.
Compiled, as main/live.py runs it, the 6-block student keeps the live loop over 15 frames a
second with AVX2 emulated (docs/results.md, "Live transfer").
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from edn.core.config import GeneratorConfig
from edn.core.errors import RunError
from edn.core.paths import STUDENT
from edn.core.run import TargetInfo, load_checkpoint
from edn.models.build import build_generator, load_weights

STUDENT_NGF = 16
STUDENT_BLOCKS = 6


def student_config(teacher: GeneratorConfig) -> GeneratorConfig:
    """The student's generator: the teacher's, narrower and shallower (module text)."""
    return dataclasses.replace(teacher, ngf=STUDENT_NGF, n_blocks=STUDENT_BLOCKS)


def load_student(run_dir: Path, device: torch.device) -> tuple[torch.nn.Module, GeneratorConfig, dict]:
    """The run's distilled student generator (its plate from the checkpoint), its config and
    what the checkpoint says of its training (iteration, seconds)."""
    path = run_dir / STUDENT
    if not path.is_file():
        raise RunError(f"{run_dir} has no student ({STUDENT}): make one with "
                       f"main/train.py --name {run_dir.name} --distill")
    state = load_checkpoint(path, device)
    cfg = GeneratorConfig(**state["config"])
    target = TargetInfo.load(run_dir)
    net = build_generator(cfg, 0, plate=np.zeros((*target.size[::-1], 3), np.uint8))
    load_weights(net, state["model"], str(path))
    return net, cfg, {"iteration": state["iteration"], "seconds": state["seconds"],
                      "teacher_iteration": state.get("teacher_iteration")}

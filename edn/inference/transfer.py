"""Transfer: a trained target model renders a source's skeletons, frame after frame."""
from __future__ import annotations

import dataclasses
import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from edn.core.keypoints import check_parts, scale_keypoints
from edn.core.paths import CHECKPOINT
from edn.core.run import TargetInfo
from edn.core.runtime import Precision
from edn.core.skeleton import render_label_map
from edn.core.tensors import to_tensor, to_uint8
from edn.core.window import Box, window_box, window_origin
from edn.inference.fast import FastGenerator, generate_frame, generate_video
from edn.models.build import load_trained_run, load_weights
from edn.models.face import build_face_generator, refine_faces
from edn.models.student import load_student
from edn.preparation.normalize import (
    AnkleStats,
    Fit,
    ankle_stats,
    fit_normalization,
    identity_jumps,
)

log = logging.getLogger(__name__)


@dataclass
class RenderedFrame:
    """One frame of a transfer: its label map, the body generator's frame and, with a face
    stage, the same with its face refined; uint8 (h, w, 3)."""
    label: np.ndarray
    body: np.ndarray
    refined: np.ndarray | None

    @property
    def result(self) -> np.ndarray:
        """The frame shown: refined when there is a refined one."""
        return self.refined if self.refined is not None else self.body


class Renderer:
    """A run's generator for inference: label map + previous output -> next frame, its face
    then refined by the face stage when the run has one (and ``face`` is on). With
    ``student``, the run's distilled student generator draws instead (no face stage)."""

    def __init__(self, run_dir: str | Path, device: torch.device, fast: bool = True,
                 face: bool = True, student: bool = False, compile: bool = False) -> None:
        run_dir = Path(run_dir)
        run = load_trained_run(run_dir, device)
        self.cfg, self.target, state, stage = run.cfg, run.target, run.state, run.stage
        self.parts: tuple[str, ...] = check_parts(self.cfg.data.parts)  # drawn in its label maps
        self.iteration = state["iteration"]
        self.student = student  # the run's distilled student instead of its generator, no face stage
        generator = run.generator
        if student:
            generator, student_cfg, info = load_student(run_dir, device)
            self.cfg = dataclasses.replace(self.cfg, generator=student_cfg)
            if info["teacher_iteration"] not in (None, self.iteration):
                log.warning("the student was distilled from iteration %s of the run, which is now at "
                            "%d: distil it again (main/train.py --distill) to follow", info["teacher_iteration"],
                            self.iteration)
        self.device = device
        precision = Precision(device, fast and self.cfg.train.fast)
        self.generator = FastGenerator(generator.to(device), precision, compile=compile,
                                       temporal=self.cfg.generator.temporal)
        self.has_face_stage = stage.face
        self.face: FastGenerator | None = None
        if stage.face and face and not student:
            g = self.cfg.generator
            face_generator = build_face_generator(self.cfg.face, g.label_nc, g.output_nc)
            load_weights(face_generator, state["model"]["face_generator"], str(run_dir / CHECKPOINT))
            self.face = FastGenerator(face_generator.to(device), precision)

    def stream(self, keypoints: np.ndarray, face: bool = True) -> Iterator[RenderedFrame]:
        """Keypoints (N, 18 or 130, 3) in the model's pixels -> each frame as it is made: its
        label map (drawing the parts the model was trained with, ``parts``), the body
        generator's frame, conditioned on the previous one (zeros before the first), and
        that frame with its face refined when the run has a face stage, it was loaded and
        ``face`` is on. The next frame always sees the body's output, the input the body
        generator was trained with. Holds one frame at a time."""
        hw = (self.target.size[1], self.target.size[0])
        arrays, tensors = itertools.tee(render_label_map(k, hw, parts=self.parts) for k in keypoints)
        maps = (to_tensor(label[None]).to(self.device) for label in tensors)
        to_generator, to_face = itertools.tee(maps)  # each map converted once
        face_generator = self.face if face else None
        windows = self.windows(keypoints) if self.target.window is not None else None
        frames = generate_video(self.generator, to_generator, windows)
        for i, (label, label_map, frame) in enumerate(zip(arrays, to_face, frames)):
            refined = None
            if face_generator is not None:
                refined = to_uint8(refine_faces(face_generator, frame, label_map, keypoints[i:i + 1]))[0]
            yield RenderedFrame(label, to_uint8(frame)[0], refined)

    def live(self) -> Iterator[RenderedFrame]:
        """A live stream (main/live.py): send it each pose (18 or 130, 3), in the model's
        pixels, as it arrives; it answers with the frame, made as ``stream`` makes it (the
        previous frame as temporal input, the window following the person). Prime it with
        ``next`` first: a compiled generator compiles then, before the first pose."""
        hw = (self.target.size[1], self.target.size[0])
        if self.generator.compiled:
            self._compile(hw)
        prev: torch.Tensor | None = None
        origin: tuple[int, int] | None = None
        made: RenderedFrame | None = None
        while True:
            pose = yield made
            label = render_label_map(pose, hw, parts=self.parts)
            label_map = self._label_map(label)
            box = None
            if self.target.window is not None:
                origin = window_origin([pose], self.target.window, self.target.size, fallback=origin)
                box = window_box(origin, self.target.window)
            prev = generate_frame(self.generator, label_map, prev, box)
            refined = None
            if self.face is not None:
                refined = to_uint8(refine_faces(self.face, prev, label_map, pose[None]))[0]
            made = RenderedFrame(label, to_uint8(prev)[0], refined)

    def _label_map(self, label: np.ndarray) -> torch.Tensor:
        """A drawn label (h, w, 3) as the generator's input, as ``live`` makes it (its memory
        layout too: a compiled generator is compiled for one)."""
        return to_tensor(label[None]).to(self.device)

    def _compile(self, hw: tuple[int, int]) -> None:
        """Compile the generator for the frames ``live`` makes: two blank frames (the first,
        without a previous frame, and the next), made as ``live`` makes them, on a window
        where the run has one."""
        log.info("compiling the generator for this CPU (up to a minute the first time, then cached)")
        blank = self._label_map(np.zeros((*hw, self.cfg.generator.label_nc), np.uint8))
        box = None
        if self.target.window is not None:
            box = window_box(window_origin([], self.target.window, self.target.size), self.target.window)
        prev = None
        for _ in range(2):
            prev = generate_frame(self.generator, blank, prev, box)

    def windows(self, keypoints: np.ndarray) -> list[Box]:
        """Each frame's person window (a run trained on windows): centred on its skeleton,
        inside the frame; a frame without one keeps the window before it."""
        assert self.target.window is not None
        boxes: list[Box] = []
        origin = None
        for pose in keypoints:
            origin = window_origin([pose], self.target.window, self.target.size, fallback=origin)
            boxes.append(window_box(origin, self.target.window))
        return boxes


def normalize_to_target(source_keypoints: np.ndarray, source_size: tuple[int, int],
                        target: TargetInfo, fit: str = "auto") -> tuple[Fit, dict]:
    """Source keypoints (prepared-frame pixels of size ``source_size``) -> the target's
    prepared-frame pixels, by EDN global pose normalization or its robust fallback
    (``edn.preparation.normalize.fit_normalization``). Returns the fit and the parameters to record,
    with the frames where the source's tracked person seems to change."""
    kp = scale_keypoints(source_keypoints, source_size, target.prepared_size)
    source_stats = ankle_stats(kp)
    result = fit_normalization(kp, source_stats, AnkleStats(**target.stats), fit)
    params = {"fit": result.fit, "requested_fit": result.requested,
              "edn_fit_problems": list(result.problems), "identity_jumps": identity_jumps(kp),
              "source": source_stats.to_dict(), "target": target.stats,
              **result.transforms.to_dict()}
    return result, params

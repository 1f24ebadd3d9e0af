"""The student generator (edn.models.student) and its distillation (edn.training.distill): it
resumes exactly, it learns the teacher, the transfer renders with it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edn.core.errors import RunError
from edn.core.paths import STUDENT
from edn.core.run import load_checkpoint
from edn.inference.transfer import Renderer
from edn.models.student import STUDENT_NGF
from edn.training.distill import DistillOptions, Sequences, Teacher, distill
from tests.helpers.tiny_training import SIZE, window_run

CPU = torch.device("cpu")


@pytest.fixture
def teacher_run(tmp_path):
    return window_run(tmp_path)


def test_distillation_resumes_exactly(teacher_run, tmp_path, monkeypatch):
    first = distill(DistillOptions(teacher_run, iterations=8, device="cpu", save_every=4, progress=False))
    assert first.iterations == 8
    whole = load_checkpoint(teacher_run / STUDENT)
    assert whole["iteration"] == 8 and whole["config"]["ngf"] == STUDENT_NGF
    (teacher_run / STUDENT).rename(tmp_path / "whole.pt")
    steps = {"n": 0}
    step = torch.optim.Adam.step

    def interrupted(self, *args, **kwargs):  # Ctrl-C during the fifth step
        steps["n"] += 1
        if steps["n"] == 5:
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)
    monkeypatch.setattr(torch.optim.Adam, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        distill(DistillOptions(teacher_run, iterations=8, device="cpu", save_every=4, progress=False))
    monkeypatch.setattr(torch.optim.Adam, "step", step)
    assert load_checkpoint(teacher_run / STUDENT)["iteration"] == 4
    distill(DistillOptions(teacher_run, iterations=8, device="cpu", save_every=4, resume=True, progress=False))
    resumed = load_checkpoint(teacher_run / STUDENT)
    for name, value in whole["model"].items():
        assert torch.equal(value, resumed["model"][name]), name
    with pytest.raises(RunError, match="exists: continue it with --resume"):
        distill(DistillOptions(teacher_run, iterations=2, device="cpu", progress=False))


def test_a_longer_distillation_comes_closer_to_the_teacher(teacher_run, tmp_path):
    losses = []
    for n in (2, 40):
        (teacher_run / STUDENT).unlink(missing_ok=True)
        losses.append(distill(DistillOptions(teacher_run, iterations=n, device="cpu", progress=False)).loss)
    assert losses[1] < 0.7 * losses[0]


def test_the_transfer_renders_with_the_student(teacher_run):
    with pytest.raises(RunError, match="has no student"):
        Renderer(teacher_run, CPU, student=True)
    distill(DistillOptions(teacher_run, iterations=2, device="cpu", progress=False))
    renderer = Renderer(teacher_run, CPU, student=True)
    assert renderer.cfg.generator.ngf == STUDENT_NGF and renderer.face is None
    keypoints = np.zeros((3, 18, 3), np.float32)
    keypoints[:, 1] = (16, 12, 1)
    keypoints[:, 8] = (14, 20, 1)
    frames = [f.result for f in renderer.stream(keypoints)]
    assert len(frames) == 3 and frames[0].shape == (SIZE, SIZE, 3)


def test_sequences_are_jittered_mirrored_and_blended_inside_the_frame(teacher_run):
    teacher = Teacher.load(teacher_run, CPU)
    sequences = Sequences(teacher, np.random.default_rng(0))
    drawn = [sequences() for _ in range(40)]
    plain = sequences.poses
    assert all(d.shape == (6, *plain.shape[1:]) for d in drawn)
    # some are not a stretch of the training skeletons as they are
    matches = [any(np.allclose(d, plain[s:s + 6]) for s in range(len(plain) - 5)) for d in drawn]
    assert 0 < sum(matches) < len(drawn)
    seen = np.concatenate([d[d[..., 2] > 0, :2] for d in drawn])
    assert (seen > -3 * 2.0 - 1).all() and (seen < SIZE + 3 * 2.0).all()

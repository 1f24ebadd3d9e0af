"""The quality gate: the demo's target trained for a fixed number of iterations on the fp32
path (what a CPU without native bf16 runs; forced, so every CPU runs the same arithmetic)
must beat nearest-skeleton retrieval on its held-out frames with a margin.

The demo trains the `cpu` preset on the beam man of Pose2Sim cam03 (his first 80 frames) for 9
minutes: about 500 iterations on an AVX2 CPU at ~1.04 s each. This test trains exactly that
many, the way the demo does (main/train.py on the video, then main/evaluate.py), and asserts
the evaluation's verdict with the issue's margins (body SSIM 0.05 over retrieval, pose distance
0.08 of the torso against the verdict's 0.10) and, for the missed joints, one set from the
spread over seeds 0, 1 and 2 (another CPU's arithmetic is another draw of the same kind).
Measured for the preset as it is (AVX512 CPU, fp32 path forced): body SSIM 0.751 / 0.764 /
0.769 against retrieval's 0.692; pose distance 0.068 / 0.074 / 0.073 of the torso; missed
joints 4.7 / 5.3 / 5.8 %. Of the missed joints,
4.4-5.3 points are one joint, the right wrist, which is behind the man's body in all 20
held-out frames: MediaPipe misses it on 6 of the 20 real frames too (1.7 % of all joints), so
the missed-joints limit is the verdict's 10 % less twice the seeds' spread, not 5 %; one frame
where the detector finds nobody (18 joints, 5 %) on top of the wrist fails it.

This is the team's line on picture quality: a change that fails it makes the pictures worse.
Never loosen, skip or shorten it to land a change.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The demo's video: from ../shared/data, else where `make demo` unzipped the PyPI wheel.
VIDEOS = (ROOT.parent / "shared/data/pose2sim/Pose2Sim/S00_Demo_BatchSession/"
          "S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial/videos/cam03.mp4",
          ROOT / ".cache/demo/videos/cam03.mp4")
VIDEO = next((v for v in VIDEOS if v.is_file()), None)

ITERATIONS = 500  # what the demo's 9 minutes reach on an AVX2 CPU
SPLIT = 0.8  # the demo's: trained on frames 0-79, judged on 80-99
BODY_SSIM_MARGIN = 0.05  # body SSIM at least retrieval's + this
POSE_LIMIT = 0.08  # pose distance at most this share of the torso (the verdict's 0.10 less noise)
MISSED_LIMIT = 0.08  # at most this fraction of the input's joints missed on the generated frames


@pytest.fixture(scope="module")
def gate_metrics(tmp_path_factory) -> dict:
    if VIDEO is None:
        pytest.skip("no demo video (../shared/data, or .cache/demo/videos/cam03.mp4)")
    weights = tmp_path_factory.mktemp("gate") / "weights"
    env = {**os.environ, "EDN_CPU_PATH": "fp32"}
    common = ["--name", "gate", "--weights-dir", str(weights), "--quiet"]
    subprocess.run([sys.executable, "main/train.py", "--target", str(VIDEO), *common,
                    "--preset", "cpu", "--split", str(SPLIT), "--iters", str(ITERATIONS)],
                   cwd=ROOT, env=env, check=True)
    report = weights.parent / "heldout"
    subprocess.run([sys.executable, "main/evaluate.py", *common, "--target",
                    str(weights / "gate" / "target_set"), "-o", str(report)],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["checkpoint_iteration"] == ITERATIONS
    assert metrics["split"]["first_test_frame"] == 80
    return metrics["metrics"]


def test_body_ssim_beats_retrieval_with_margin(gate_metrics):
    model = gate_metrics["model"]["body"]["ssim"]
    retrieval = gate_metrics["nearest_skeleton_retrieval"]["body"]["ssim"]
    assert model >= retrieval + BODY_SSIM_MARGIN, (model, retrieval)


def test_person_drawn_where_the_skeleton_is(gate_metrics):
    pose = gate_metrics["model"]["pose_distance"]
    assert pose["torso_fraction"] <= POSE_LIMIT, pose
    assert pose["pixels"] < gate_metrics["nearest_skeleton_retrieval"]["pose_distance"]["pixels"]


def test_detector_finds_the_joints(gate_metrics):
    pose = gate_metrics["model"]["pose_distance"]
    assert pose["missed_fraction"] <= MISSED_LIMIT, pose

"""main/train.py -> main/test.py -> output/img2video.py on a tiny synthetic prepared set."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from edn.core.openpose_json import read_sequence, write_sequence
from edn.core.video import open_frames
from tests.helpers.tiny_training import tiny_config, write_prepared

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_train_transfer_and_assemble(tmp_path):
    write_prepared(tmp_path / "set")
    cfg = tiny_config(composite=True)
    cfg.save(tmp_path / "tiny.json")
    weights = tmp_path / "weights"
    r = run("main/train.py", "--target", str(tmp_path / "set"), "--name", "t", "--config",
            str(tmp_path / "tiny.json"), "--iters", "3", "--weights-dir", str(weights), "--quiet")
    assert r.returncode == 0, r.stderr
    info = json.loads((weights / "t" / "target.json").read_text())
    assert info["frames"] == [0, 12] and info["size"] == [32, 32]
    # a second run of the same name must not silently overwrite it
    r = run("main/train.py", "--target", str(tmp_path / "set"), "--name", "t", "--config",
            str(tmp_path / "tiny.json"), "--iters", "3", "--weights-dir", str(weights))
    assert r.returncode == 1 and "--resume" in r.stderr and "Traceback" not in r.stderr
    r = run("main/train.py", "--target", str(tmp_path / "set"), "--name", "t", "--config",
            str(tmp_path / "tiny.json"), "--iters", "5", "--weights-dir", str(weights),
            "--resume", "--quiet")
    assert r.returncode == 0 and "resumed at iteration 3" in r.stderr, r.stderr

    out = tmp_path / "out"
    r = run("main/test.py", "--name", "t", "--weights-dir", str(weights), "--source",
            str(tmp_path / "set"), "-o", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    for folder in ("frames", "labels", "source"):
        assert len(list((out / folder).iterdir())) == 12
    meta = json.loads((out / "meta.json").read_text())
    assert meta["fps"] == 12.0 and meta["normalized"] and meta["model_iteration"] == 5
    # the source is the target itself: normalization must leave its skeletons in place
    np.testing.assert_allclose(read_sequence(out / "keypoints")[..., :2],
                               read_sequence(tmp_path / "set" / "keypoints")[..., :2], atol=0.5)

    # --vmd: the source's skeletons (2D only here: lifted) as a motion at 30 fps
    from edn.vmd.format import read_vmd
    dancer = tmp_path / "dancer"
    shutil.copytree(tmp_path / "set", dancer)
    shutil.rmtree(dancer / "keypoints")
    standing = np.array([[16, 4], [16, 8], [13, 8], [12, 12], [12, 15], [19, 8], [20, 12], [20, 15],
                         [14, 16], [14, 22], [14, 28], [18, 16], [18, 22], [18, 28], [15, 3], [17, 3],
                         [14, 4], [18, 4]], np.float32)
    frames = np.repeat(np.c_[standing, np.ones(18)][None], 12, 0)
    frames[:, 4, 1] -= np.linspace(0, 6, 12)  # the right wrist rises
    write_sequence(dancer / "keypoints", frames, "dancer")
    r = run("main/test.py", "--name", "t", "--weights-dir", str(weights), "--source", str(dancer),
            "-o", str(tmp_path / "out2"), "--quiet", "--no-normalize", "--vmd", str(tmp_path / "dance.vmd"))
    assert r.returncode == 0, r.stderr
    assert "lifted from 2D" in r.stderr
    vmd = read_vmd(tmp_path / "dance.vmd")
    assert max(k.frame for k in vmd.bones) == 27  # 12 frames at 12 fps span 11/12 s: 30 fps frames 0-27
    assert {"センター", "上半身", "左ひじ", "右ひざ"} <= {k.name for k in vmd.bones}
    assert len({k.frame for k in vmd.bones if k.name == "右腕"}) > 2  # the rising arm moves

    r = run("output/img2video.py", str(out / "frames"), "-o", str(tmp_path / "r.mp4"),
            "--side-by-side", str(out / "source"), str(out / "labels"), "--quiet")
    assert r.returncode == 0, r.stderr
    video = open_frames(tmp_path / "r.mp4")
    assert (video.width, video.height, video.fps) == (96, 32, 12.0)


def test_test_py_refuses_a_missing_run(tmp_path):
    (tmp_path / "src").mkdir()
    r = run("main/test.py", "--name", "nope", "--weights-dir", str(tmp_path), "--source",
            str(tmp_path / "src"), "-o", str(tmp_path / "o"))
    assert r.returncode == 1 and "not a trained run" in r.stderr and "Traceback" not in r.stderr


def test_evaluate_reports_model_and_baselines(tmp_path):
    write_prepared(tmp_path / "set", frames=16)
    tiny_config(composite=True).save(tmp_path / "tiny.json")
    weights = tmp_path / "weights"
    r = run("main/train.py", "--target", str(tmp_path / "set"), "--name", "e", "--config",
            str(tmp_path / "tiny.json"), "--iters", "2", "--split", "0.75",
            "--weights-dir", str(weights), "--quiet")
    assert r.returncode == 0, r.stderr
    r = run("main/evaluate.py", "--name", "e", "--weights-dir", str(weights), "--target",
            str(tmp_path / "set"), "--split", "0.5", "-o", str(tmp_path / "rep"))
    assert r.returncode == 1 and "inside the frames the run was trained on" in r.stderr
    r = run("main/evaluate.py", "--name", "e", "--weights-dir", str(weights), "--target",
            str(tmp_path / "set"), "-o", str(tmp_path / "rep"), "--quiet")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert report["split"] == {"first_test_frame": 12, "frames": 16, "trained_on": [0, 12]}
    assert report["checkpoint_iteration"] == 2 and "lpips" in report and report["verdict"]
    for name in ("model", "nearest_skeleton_retrieval", "mean_training_frame"):
        m = report["metrics"][name]
        assert 0 <= m["ssim"] <= 1 and len(m["ssim_per_frame"]) == 4 and m["flicker_ratio"] >= 0
        assert m["warping_error"]["ratio"] >= 0 and m["warping_error"]["real"] >= 0
    # retrieval copies real frames of a repeating scene: it is near-perfect here
    assert report["metrics"]["nearest_skeleton_retrieval"]["ssim"] > 0.5
    for png in ("report.png", "ssim_per_frame.png"):
        assert (tmp_path / "rep" / png).stat().st_size > 1000


def test_evaluate_ablate_makes_the_papers_table(tmp_path):
    write_prepared(tmp_path / "set", frames=16)
    tiny_config(composite=True, temporal=True, face=True).save(tmp_path / "tiny.json")
    weights = tmp_path / "weights"
    common = ["--target", str(tmp_path / "set"), "--weights-dir", str(weights), "--quiet"]
    new = ["--config", str(tmp_path / "tiny.json"), "--split", "0.75"]
    for args in (["--name", "plain", "--no-temporal", "--iters", "2", *new],
                 ["--name", "full", "--iters", "2", *new],
                 ["--name", "full", "--stage", "1", "--iters", "2"]):  # keeps the run's split
        r = run("main/train.py", *common, *args)
        assert r.returncode == 0, r.stderr
    assert (weights / "full" / "checkpoint_stage0.pt").is_file()
    assert json.loads((weights / "full" / "target.json").read_text())["frames"] == [0, 12]
    r = run("main/train.py", *common, "--name", "full", "--resume", "--split", "1", "--iters", "3")
    assert r.returncode == 1 and "trains on frames 0..12" in r.stderr, r.stderr
    assert json.loads((weights / "plain" / "config.json").read_text())["generator"]["temporal"] is False
    r = run("main/evaluate.py", "--name", "plain", "full", "--weights-dir", str(weights),
            "--target", str(tmp_path / "set"), "-o", str(tmp_path / "rep"), "--quiet")
    assert r.returncode == 2 and "--ablate" in r.stderr
    r = run("main/evaluate.py", "--name", "plain", "full", "--ablate", "--weights-dir",
            str(weights), "--target", str(tmp_path / "set"), "-o", str(tmp_path / "rep"), "--quiet")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    rows = report["ablation"]["rows"]
    assert list(rows) == ["pix2pixHD", "+temporal smoothing", "+face",
                          "nearest-skeleton retrieval (baseline)"]
    assert report["ablation"]["runs"] == {"pix2pixHD": "plain", "+temporal smoothing": "full",
                                          "+face": "full with its face stage"}
    for row in rows.values():
        assert 0 <= row["body SSIM"] <= 1 and row["flicker ratio"] >= 0
    table = (tmp_path / "rep" / "ablation.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == list(rows)
    for flags, refined in (([], True), (["--no-face"], False)):
        out = tmp_path / f"out{refined}"
        r = run("main/test.py", "--name", "full", "--weights-dir", str(weights), "--source",
                str(tmp_path / "set"), "-o", str(out), "--no-normalize", "--frames", "3", "--quiet", *flags)
        assert r.returncode == 0, r.stderr
        assert json.loads((out / "meta.json").read_text())["faces_refined"] is refined

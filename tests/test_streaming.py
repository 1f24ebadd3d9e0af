"""Real-length videos in constant memory: target sets read from disk a batch at a time, the
plate from a bounded sample, transfer frame by frame, interrupted outputs never resumed."""
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from edn.core.errors import InputError
from edn.core.io import WRITING, staged_dir
from edn.core.keypoints import PARTS, scale_keypoints
from edn.core.openpose_json import read_sequence, write_sequence
from edn.core.skeleton import render_labels
from edn.evaluation.metrics import nearest_skeleton, skeleton_distance
from edn.preparation.prepare import PreparedMeta
from edn.preparation.target_set import PLATE_SAMPLE, TargetSet, plate_sample
from tests.helpers.tiny_training import tiny_config, tiny_target, write_prepared

ROOT = Path(__file__).resolve().parents[1]


def test_target_set_reads_each_frame_as_the_set_holds_it(tmp_path):
    write_prepared(tmp_path / "set", frames=12)
    target = TargetSet.load(tmp_path / "set", (64, 48), range(2, 10))
    assert len(target) == 8 and target.span == range(2, 10)
    image = cv2.imread(str(tmp_path / "set/frames/000005.png"))
    expected = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (64, 48), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(target.frames([3]), expected[None])
    mask = cv2.resize(cv2.imread(str(tmp_path / "set/masks/000005.png"), cv2.IMREAD_GRAYSCALE),
                      (64, 48), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(target.masks([3])[0], mask.astype(np.float32) / 255)
    kp = read_sequence(tmp_path / "set/keypoints")[2:10]
    np.testing.assert_array_equal(target.prepared_keypoints, kp)
    np.testing.assert_array_equal(target.keypoints, scale_keypoints(kp, (32, 32), (64, 48)))
    np.testing.assert_array_equal(target.labels([0, 7]),
                                  render_labels(target.keypoints[[0, 7]], (64, 48), PARTS))
    with pytest.raises(IndexError):
        target.frames([8])
    with pytest.raises(InputError, match="has 12 frames, not frames 0 to 12"):
        TargetSet.load(tmp_path / "set", (32, 32), range(0, 13))


def test_plate_comes_from_a_bounded_sample_that_keeps_the_recent_frames():
    assert plate_sample(300, 60) == (list(range(300)), 60)  # short sets: every frame
    picks, recent = plate_sample(9000, 60)
    assert len(picks) <= PLATE_SAMPLE + 60 and picks == sorted(set(picks)) and recent == 60
    assert picks[-60:] == list(range(8940, 9000)) and picks[0] == 0
    assert plate_sample(9000, None)[0] == plate_sample(9000, 0)[0] and len(plate_sample(9000, None)[0]) == PLATE_SAMPLE
    picks, recent = plate_sample(10000, 5000)  # a long recent window is sampled too
    assert len(picks) <= 2 * PLATE_SAMPLE and recent == sum(i >= 5000 for i in picks) >= PLATE_SAMPLE
    # the in-memory plate of the tiny set, from the same frames, is what it was
    target = tiny_target(frames=8)
    assert target.plate().shape == (32, 32, 3)


def test_nearest_skeleton_in_chunks_is_the_whole_argmin():
    rng = np.random.default_rng(0)
    train, query = rng.uniform(0, 100, (50, 18, 3)), rng.uniform(0, 100, (37, 18, 3))
    whole = skeleton_distance(query, train).argmin(axis=1)
    np.testing.assert_array_equal(nearest_skeleton(train, query, pairs=120), whole)


def test_an_interrupted_output_is_removed_and_made_again(tmp_path, caplog):
    """A partial folder whose writer died (its lock free) goes, with a warning; one a live
    writer holds, one without a lock file and another output's stay."""
    left = tmp_path / ".set[1].partial-dead"
    left.mkdir()
    (left / WRITING).write_text("")
    (left / "meta.json").write_text("{}")
    unlocked = tmp_path / ".set[1].partial-renaming"  # its writer is renaming it into place
    unlocked.mkdir()
    other = tmp_path / ".set1.partial-dead"  # another output's (a glob would match it)
    other.mkdir()
    (other / WRITING).write_text("")
    with caplog.at_level(logging.WARNING), staged_dir(tmp_path / "set[1]") as live:
        assert not left.exists() and unlocked.exists() and other.exists()
        assert "interrupted" in caplog.text and "not resumed" in caplog.text
        ready = tmp_path / "ready"  # another process looks while this one writes
        child = subprocess.Popen([sys.executable, "-c", (
            "import sys, pathlib\nfrom edn.core.io import remove_interrupted\n"
            "removed = remove_interrupted(pathlib.Path(sys.argv[1]))\n"
            "pathlib.Path(sys.argv[2]).write_text(repr(removed))"),
            str(tmp_path / "set[1]"), str(ready)], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert child.wait() == 0 and ready.read_text() == "[]" and live.is_dir()
        (live / "meta.json").write_text("{}")
    assert (tmp_path / "set[1]" / "meta.json").is_file() and not (tmp_path / "set[1]" / WRITING).exists()
    with staged_dir(tmp_path / "set1"):
        assert not other.exists()


def _peak_rss_mb(args: list[str]) -> float:
    """Run ``python SCRIPT args`` (SCRIPT relative to the checkout); its peak RSS in MB (the
    kernel's, os.wait4)."""
    err = tempfile.TemporaryFile()
    pid = os.posix_spawn(sys.executable, [sys.executable, str(ROOT / args[0]), *args[1:]],
                         dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"),
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                       (os.POSIX_SPAWN_DUP2, err.fileno(), 2)])
    _, status, usage = os.wait4(pid, 0)
    err.seek(0)
    assert os.waitstatus_to_exitcode(status) == 0, err.read().decode()[-2000:]
    return usage.ru_maxrss / 1024


def looped_prepared(base: Path, folder: Path, frames: int) -> None:
    """A prepared set of ``frames`` frames: ``base``'s in a loop, its images as links."""
    meta = PreparedMeta.load(base)
    for sub in ("frames", "masks"):
        (folder / sub).mkdir(parents=True)
        for i in range(frames):
            (folder / sub / f"{i:06d}.png").symlink_to(base / sub / f"{i % meta.frames:06d}.png")
    poses = read_sequence(base / "keypoints")
    write_sequence(folder / "keypoints", poses[np.arange(frames) % len(poses)], "loop")
    meta.frames = meta.frames_with_person = frames
    meta.save(folder)


def test_transfer_memory_does_not_grow_with_the_source(tmp_path):
    """600 frames at 256x256 against 60: holding the video's label maps, frames and source
    frames, as the transfer once did, costs about 0.6 MB a frame (over 300 MB here)."""
    from edn.core.config import StageConfig
    side = 256
    base = tmp_path / "base"
    write_prepared(base, frames=8)
    for sub in ("frames", "masks"):  # at the model's size, so the images are a real cost
        for p in (base / sub).iterdir():
            image = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            cv2.imwrite(str(p), cv2.resize(image, (side, side), interpolation=cv2.INTER_NEAREST))
    poses = read_sequence(base / "keypoints")
    write_sequence(base / "keypoints", scale_keypoints(poses, (32, 32), (side, side)), "tiny")
    meta = PreparedMeta.load(base)
    meta.size = meta.original_size = (side, side)
    meta.crop_box = (0, 0, side, side)
    meta.save(base)
    looped_prepared(base, tmp_path / "source", 600)
    cfg = tiny_config()
    cfg.data.prepared_size = side
    cfg.train.stages = [StageConfig(side, side, 0, iterations=1, decay_iterations=0)]
    cfg.save(tmp_path / "cfg.json")
    weights = tmp_path / "weights"
    subprocess.run([sys.executable, "main/train.py", "--target", str(tmp_path / "source"), "--name", "t",
                    "--config", str(tmp_path / "cfg.json"), "--iters", "1", "--weights-dir",
                    str(weights), "--quiet"], cwd=ROOT, check=True, capture_output=True,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
    peaks = {n: _peak_rss_mb(["main/test.py", "--name", "t", "--weights-dir", str(weights),
                              "--source", str(tmp_path / "source"), "-o", str(tmp_path / f"out{n}"),
                              "--frames", str(n), "--no-normalize", "--quiet"])
             for n in (60, 600)}
    assert len(list((tmp_path / "out600" / "frames").iterdir())) == 600
    assert peaks[600] - peaks[60] < 60, peaks

"""Faults and bad input, command by command: one line, a non-zero exit, nothing lost.
docs/faults.md lists every case with what the user sees."""
from __future__ import annotations

import os
import pickle
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
import torch

from edn.core.errors import CheckpointError, OutputError, RunError
from edn.core.openpose_json import read_sequence, write_sequence
from edn.core.paths import CHECKPOINT, LOCK
from edn.core.run import load_checkpoint, run_lock
from edn.core.video import Mp4Writer
from tests.helpers.tiny_training import make_trainer, noise_video, tiny_config, write_prepared

ROOT = Path(__file__).resolve().parents[1]
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
POSE2SIM = (ROOT.parent / "shared/data/pose2sim/Pose2Sim/S00_Demo_BatchSession/S00_P00_SingleParticipant/"
            "S00_P00_T01_BalancingTrial/videos/cam01.mp4")
needs_video = pytest.mark.skipif(not POSE2SIM.is_file(), reason="../shared/data not present")


def run(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1",
                                   EDN_CPU_PATH="fp32", **(env or {})))


def one_line_error(r: subprocess.CompletedProcess, words: str, code: int = 1) -> None:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and words in errors[0], r.stderr


# -- inputs ---------------------------------------------------------------------------------
COMMANDS = {  # command -> arguments around the input (INPUT) and an output (OUT)
    "pose_detector": ["-m", "pose_detector", "INPUT", "--write-json", "OUT"],
    "video2data": ["data/video2data.py", "INPUT", "-o", "OUT"],
    "annot_normalize": ["data/annot_normalize.py", "--source", "INPUT", "--target", "INPUT", "-o", "OUT"],
    "train": ["main/train.py", "--target", "INPUT", "--name", "r", "--weights-dir", "OUT", "--iters", "1"],
    "test": ["main/test.py", "--name", "r", "--weights-dir", "WEIGHTS", "--source", "INPUT", "-o", "OUT"],
    "evaluate": ["main/evaluate.py", "--name", "r", "--weights-dir", "WEIGHTS", "--target", "INPUT", "-o", "OUT"],
    "img2video": ["output/img2video.py", "INPUT", "-o", "OUT/v.mp4"],
    "to_vmd": ["main/to_vmd.py", "INPUT", "-o", "OUT/d.vmd"],
    "sheet": ["output/sheet.py", "INPUT", "-o", "OUT/s.jpg"],
}


def _args(name: str, tmp_path: Path, source: Path) -> list[str]:
    return [str(source) if a == "INPUT" else str(tmp_path / "out") if a == "OUT" else
            str(tmp_path / "out" / a[4:]) if a.startswith("OUT/") else
            str(tmp_path / "w") if a == "WEIGHTS" else a for a in COMMANDS[name]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny trained run r in weights folder W (5 iterations)."""
    tmp = tmp_path_factory.mktemp("trained")
    write_prepared(tmp / "set")
    tiny_config().save(tmp / "tiny.json")
    r = run("main/train.py", "--target", str(tmp / "set"), "--name", "r", "--config", str(tmp / "tiny.json"),
            "--iters", "5", "--weights-dir", str(tmp / "w"), "--quiet")
    assert r.returncode == 0, r.stderr
    return tmp


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_missing_input_a_folder_and_an_empty_file(name, tmp_path, trained):
    (tmp_path / "w").symlink_to(trained / "w")
    one_line_error(run(*_args(name, tmp_path, tmp_path / "nope.mp4")), "no such")
    (tmp_path / "empty.mp4").write_bytes(b"")
    r = run(*_args(name, tmp_path, tmp_path / "empty.mp4"))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    (tmp_path / "text.mp4").write_text("not a video\n")
    r = run(*_args(name, tmp_path, tmp_path / "text.mp4"))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_video_cut_at_half_its_bytes(tmp_path):
    video = noise_video(tmp_path / "v.mp4", 60, faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    r = run("-m", "pose_detector", str(cut), "--write-json", str(tmp_path / "j"), "--quiet")
    one_line_error(r, "of the 60 frames its header declares could be read (the file is cut short?); "
                      "pass --allow-truncated")
    assert not (tmp_path / "j").exists()
    r = run("-m", "pose_detector", str(cut), "--write-json", str(tmp_path / "j"), "--quiet", "--allow-truncated")
    # noise has nobody in it: the truncation is only a warning now, the next fault is the error
    assert "could be read (the file is cut short?): using them" in r.stderr
    one_line_error(r, "no person found")
    index_last = noise_video(tmp_path / "plain.mp4", 60)  # index at the end: nothing readable
    (tmp_path / "plain_cut.mp4").write_bytes(index_last.read_bytes()[: index_last.stat().st_size // 2])
    one_line_error(run("main/to_vmd.py", str(tmp_path / "plain_cut.mp4"), "-o", str(tmp_path / "d.vmd")),
                   "cut short before its first frame")


def test_a_one_frame_video_and_an_image(tmp_path):
    noise_video(tmp_path / "one.mp4", 1)
    one_line_error(run("-m", "pose_detector", str(tmp_path / "one.mp4"), "--write-json", str(tmp_path / "j")),
                   "no person found in any of the 1 frames")
    write_prepared(tmp_path / "set", frames=1)
    tiny_config().save(tmp_path / "tiny.json")
    one_line_error(run("main/train.py", "--target", str(tmp_path / "set"), "--name", "r", "--config",
                       str(tmp_path / "tiny.json"), "--iters", "1", "--weights-dir", str(tmp_path / "w")),
                   "only 1 of 1 frames have both ankles and the head visible; at least 10 are needed")


@needs_video
def test_the_dancer_leaves_and_comes_back_and_a_twin_does_not_take_over(tmp_path):
    capture = cv2.VideoCapture(str(POSE2SIM))
    frames = [cv2.resize(capture.read()[1], (270, 480))[..., ::-1] for _ in range(12)]
    with Mp4Writer(tmp_path / "away.mp4", fps=10) as w:
        for i, f in enumerate(frames):
            w.write(np.zeros_like(f) if 4 <= i < 8 else f)
    r = run("-m", "pose_detector", str(tmp_path / "away.mp4"), "--write-json", str(tmp_path / "j"),
            "--quiet", "--no-smooth")
    assert r.returncode == 0 and "12 frames (8 with a person" in r.stderr, r.stderr
    track = read_sequence(tmp_path / "j")
    assert (track[4:8, :, 2] == 0).all() and (track[8:, :, 2] > 0).sum(1).min() > 10
    with Mp4Writer(tmp_path / "twins.mp4", fps=10) as w:
        for f in frames:
            w.write(np.concatenate([f, f], 1))  # two people of exactly the same size
    r = run("-m", "pose_detector", str(tmp_path / "twins.mp4"), "--write-json", str(tmp_path / "t"), "--quiet")
    assert r.returncode == 0, r.stderr
    x = read_sequence(tmp_path / "t")[:, 1, 0]
    assert (x < 270).all() or (x >= 270).all()  # one of them, all along


@needs_video
def test_portrait_landscape_and_rotation_metadata_agree(tmp_path):
    """cam01 is portrait (1080x1920); flagged as rotated 90 degrees it plays as landscape. The
    skeleton follows the picture as shown: the rotated file's keypoints are the portrait
    ones turned by 90 degrees."""
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", "-i", str(POSE2SIM), "-frames:v", "6", "-c", "copy",
                    str(tmp_path / "portrait.mp4")], check=True)
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", "-display_rotation", "90", "-i",
                    str(tmp_path / "portrait.mp4"), "-c", "copy", str(tmp_path / "rotated.mp4")], check=True)
    for name in ("portrait", "rotated"):
        r = run("-m", "pose_detector", str(tmp_path / f"{name}.mp4"), "--write-json", str(tmp_path / name),
                "--quiet", "--workers", "1")
        assert r.returncode == 0, r.stderr
    portrait, rotated = read_sequence(tmp_path / "portrait"), read_sequence(tmp_path / "rotated")
    # display rotation 90 (counter-clockwise): portrait (x, y) shows at (y, W - 1 - x)
    turned = np.stack([portrait[..., 1], 1079 - portrait[..., 0]], -1)
    seen = (portrait[..., 2] > 0.5) & (rotated[..., 2] > 0.5)
    assert seen.sum() > 30
    assert np.median(np.linalg.norm(turned[seen] - rotated[..., :2][seen], axis=1)) < 15


def test_non_ascii_and_space_paths(tmp_path):
    folder = tmp_path / "ダンス 動画"
    write_prepared(folder / "the set")
    tiny_config().save(folder / "tiny config.json")
    r = run("main/train.py", "--target", str(folder / "the set"), "--name", "走る run", "--config",
            str(folder / "tiny config.json"), "--iters", "2", "--weights-dir", str(folder / "重み w"), "--quiet")
    assert r.returncode == 0, r.stderr
    r = run("main/test.py", "--name", "走る run", "--weights-dir", str(folder / "重み w"), "--source",
            str(folder / "the set"), "-o", str(folder / "出力 out"), "--quiet")
    assert r.returncode == 0 and len(list((folder / "出力 out" / "frames").iterdir())) == 12, r.stderr


def test_an_unwritable_output_and_an_output_inside_the_input(tmp_path):
    write_prepared(tmp_path / "set")
    (tmp_path / "file").write_text("")
    r = run("data/annot_normalize.py", "--source", str(tmp_path / "set"), "--target", str(tmp_path / "set"),
            "-o", str(tmp_path / "file" / "out"))
    one_line_error(r, "cannot write")
    if os.geteuid() != 0:  # root writes anywhere: only the path above can refuse it
        (tmp_path / "ro").mkdir(mode=0o500)
        one_line_error(run("data/annot_normalize.py", "--source", str(tmp_path / "set"), "--target",
                           str(tmp_path / "set"), "-o", str(tmp_path / "ro" / "out")), "cannot write")
    r = run("data/video2data.py", str(tmp_path / "set" / "frames"), "-o", str(tmp_path / "set" / "frames" / "p"))
    one_line_error(r, "is inside the input folder")
    r = run("-m", "pose_detector", str(tmp_path / "set" / "frames"), "--write-json", str(tmp_path / "set" / "frames" / "j"))
    one_line_error(r, "is inside the input folder")


# -- weights and checkpoints -------------------------------------------------------------------
def _test_py(weights: Path, source: Path, out: Path) -> subprocess.CompletedProcess:
    return run("main/test.py", "--name", "r", "--weights-dir", str(weights), "--source", str(source), "-o", str(out))


def test_damaged_foreign_and_mismatched_checkpoints(tmp_path, trained):
    import shutil

    good = trained / "w" / "r"
    cases = {
        "truncated": lambda p: p.write_bytes(p.read_bytes()[:1000]),
        "another network": lambda p: torch.save(torch.nn.Linear(3, 4).state_dict(), p),
        "a zip": lambda p: zipfile.ZipFile(p, "w").writestr("x.txt", "hello"),
        "a pickle that runs code": lambda p: p.write_bytes(pickle.dumps(_Evil())),
    }
    words = {"truncated": "is damaged or not a checkpoint", "another network": "not an edn checkpoint",
             "a zip": "is damaged or not a checkpoint",
             "a pickle that runs code": "holds more than tensors and plain values, so it is not loaded"}
    for case, spoil in cases.items():
        run_dir = tmp_path / case / "r"
        shutil.copytree(good, run_dir)
        spoil(run_dir / CHECKPOINT)
        r = _test_py(tmp_path / case, trained / "set", tmp_path / case / "out")
        one_line_error(r, words[case])
        assert not (tmp_path / case / "out").exists()
    assert not (tmp_path / "EXECUTED").exists()  # weights_only: nothing was run
    # a checkpoint of another config: the first mismatching tensor is named
    other = tmp_path / "other" / "r"
    shutil.copytree(good, other)
    config = tiny_config()
    config.generator.ngf = 8
    config.save(other / "config.json")
    one_line_error(_test_py(tmp_path / "other", trained / "set", tmp_path / "o2"), "does not fit this config's")
    # no run, an empty weights folder
    (tmp_path / "empty").mkdir()
    one_line_error(_test_py(tmp_path / "empty", trained / "set", tmp_path / "o3"), "is not a trained run")


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {Path('/tmp') / 'EXECUTED'}",))


def test_pickles_that_would_run_code_are_refused_without_running(tmp_path):
    marker = Path("/tmp/EXECUTED")
    marker.unlink(missing_ok=True)
    (tmp_path / "c.pt").write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "c.pt")
    assert not marker.exists()


# -- training faults -------------------------------------------------------------------------
KILL_SCRIPT = """
import os, signal, sys, runpy
from pathlib import Path
import edn.core.run as run_files
real = run_files.atomic_write
count = {"n": 0}
def dying_write(path, write):
    count["n"] += 1
    if count["n"] == int(os.environ["KILL_AT_SAVE"]):
        def half(tmp):
            write(tmp)
            data = Path(tmp).read_bytes()
            Path(tmp).write_bytes(data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)  # killed in the middle of writing the checkpoint
        return real(path, half)
    return real(path, write)
run_files.atomic_write = dying_write
sys.argv = ["main/train.py"] + sys.argv[1:]
runpy.run_path("main/train.py", run_name="__main__")
"""


def _train_args(tmp_path: Path, weights: str, *extra: str) -> list[str]:
    return ["main/train.py", "--target", str(tmp_path / "set"), "--name", "r", "--config",
            str(tmp_path / "tiny.json"), "--iters", "24", "--save-every", "2", "--weights-dir",
            str(tmp_path / weights), "--quiet", *extra]


def _weights(path: Path) -> dict:
    return load_checkpoint(path)["model"]


def _equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def test_kill_9_anywhere_then_resume_ends_bit_for_bit_where_an_uninterrupted_run_ends(tmp_path):
    write_prepared(tmp_path / "set")
    tiny_config(fast=False).save(tmp_path / "tiny.json")
    r = run(*_train_args(tmp_path, "straight"))
    assert r.returncode == 0, r.stderr
    expected = _weights(tmp_path / "straight" / "r" / CHECKPOINT)

    run_dir = tmp_path / "killed" / "r"
    # 1: killed while writing its third checkpoint (a half-written temporary stays behind)
    (tmp_path / "kill.py").write_text(KILL_SCRIPT)
    r = run(str(tmp_path / "kill.py"), *_train_args(tmp_path, "killed")[1:], env={"KILL_AT_SAVE": "3"})
    assert r.returncode == -signal.SIGKILL
    assert list(run_dir.glob(".checkpoint.tmp-*")) and load_checkpoint(run_dir / CHECKPOINT)["iteration"] == 4
    # 2, 3: kill -9 at random moments of resumed runs
    rng = random.Random(7)
    for _ in range(2):
        p = subprocess.Popen([sys.executable, *_train_args(tmp_path, "killed", "--resume")], cwd=ROOT,
                             env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", EDN_CPU_PATH="fp32"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start = load_checkpoint(run_dir / CHECKPOINT)["iteration"]
        # A random moment within one checkpoint period, a few iterations into the run: a fixed
        # delay let a fast machine finish all 24 iterations first (the lock gone, nothing killed).
        saved = [_saved_at(run_dir, start + n) for n in (2, 4)]
        time.sleep(rng.uniform(0.0, saved[1] - saved[0]))
        assert p.poll() is None, f"the resumed run ended (code {p.returncode}) before it could be killed"
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert (run_dir / LOCK).exists()  # left behind by the killed process
    r = run(*_train_args(tmp_path, "killed", "--resume"))
    assert r.returncode == 0, r.stderr
    assert "removed the lock of training process" in r.stderr
    final = load_checkpoint(run_dir / CHECKPOINT)
    assert final["iteration"] == 24 and _equal(final["model"], expected)
    assert not list(run_dir.glob(".checkpoint.tmp-*")) and not (run_dir / LOCK).exists()


@pytest.mark.parametrize("name", ["test", "evaluate"])
def test_an_existing_output_is_refused_before_any_model_loads(name, tmp_path):
    """No run at all: the output's refusal comes first, not the missing run."""
    write_prepared(tmp_path / "set")
    (tmp_path / "out").mkdir()
    r = run(*_args(name, tmp_path, tmp_path / "set"))
    one_line_error(r, "exists (use --overwrite to replace it)")
    r = run(*_args(name, tmp_path, tmp_path / "set"), "--overwrite")
    one_line_error(r, "is not a trained run")


def test_frames_must_be_at_least_one(tmp_path, trained):
    r = run(*_args("test", tmp_path, trained / "set"), "--frames", "0")
    one_line_error(r, "--frames must be at least 1, not 0")


DEMO_VIDEO = ROOT / ".cache/demo/videos/cam03.mp4"  # make test fetches it


@pytest.mark.skipif(not DEMO_VIDEO.is_file(), reason="the demo videos are missing (make demo-data)")
def test_a_killed_preparation_is_made_again_never_half_used(tmp_path):
    """kill -9 while a preparation writes its frames: no set appears, and the next run says
    it starts again and makes the whole set."""
    out = tmp_path / "set"
    p = subprocess.Popen([sys.executable, "data/video2data.py", str(DEMO_VIDEO), "-o", str(out),
                          "--size", "128", "--quiet"], cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".set.partial-*/frames/000010.png")):  # the second pass
        assert p.poll() is None and time.time() < deadline, "the preparation ended before it was killed"
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not out.exists() and list(tmp_path.glob(".set.partial-*"))
    r = run("main/train.py", "--target", str(out), "--name", "r", "--weights-dir",
            str(tmp_path / "w"), "--iters", "1")
    one_line_error(r, "no such file or folder")  # nothing trains on the half set
    r = run("data/video2data.py", str(DEMO_VIDEO), "-o", str(out), "--size", "128", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "interrupted run" in r.stderr and "starting again" in r.stderr
    assert len(list((out / "frames").iterdir())) == 100 and not list(tmp_path.glob(".set.partial-*"))


def _saved_at(run_dir: Path, iteration: int, timeout: float = 60.0) -> float:
    """The time at which the run's checkpoint reached ``iteration`` (polled every 10 ms)."""
    deadline = time.time() + timeout
    while load_checkpoint(run_dir / CHECKPOINT)["iteration"] < iteration:
        assert time.time() < deadline, f"no checkpoint of iteration {iteration} within {timeout:.0f} s"
        time.sleep(0.01)
    return time.time()


def _signal_state(p: subprocess.Popen) -> str:
    """The Sig* lines of a running child's /proc status (blocked, ignored, caught, pending),
    then the child killed: what a hang needs to be understood, without leaving it behind."""
    try:
        status = Path(f"/proc/{p.pid}/status").read_text().splitlines()
    except OSError as e:
        status = [str(e)]
    p.kill()
    p.communicate()
    return "; ".join(line for line in status if line.startswith(("Sig", "ShdPnd")))


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_save_and_exit_cleanly(tmp_path, sig, code):
    write_prepared(tmp_path / "set")
    tiny_config(fast=False).save(tmp_path / "tiny.json")
    args = _train_args(tmp_path, "w")
    args[args.index("--iters") + 1] = "100000"
    args[args.index("--save-every") + 1] = "100000"
    p = subprocess.Popen([sys.executable, *args], cwd=ROOT, text=True, stderr=subprocess.PIPE,
                         env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", EDN_CPU_PATH="fp32"))
    run_dir = tmp_path / "w" / "r"
    deadline = time.time() + 60
    while time.time() < deadline and not (run_dir / "target.json").exists():
        time.sleep(0.05)
    time.sleep(1.0)  # training
    p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 60 s after signal {sig}; its signal state: {_signal_state(p)}")
    assert p.returncode == code, err
    assert "Traceback" not in err and "continue with --resume" in err
    assert load_checkpoint(run_dir / CHECKPOINT)["iteration"] > 0
    assert not (run_dir / LOCK).exists()


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path / "run", tiny_config(fast=False))
    step = trainer.model.step

    def poisoned(batch):
        losses = step(batch)
        if trainer.iteration == 4:  # the 5th step (the iteration counter moves after the step)
            losses["g_l1"] = torch.tensor(float("nan"))
        return losses

    monkeypatch.setattr(trainer.model, "step", poisoned)
    trainer.planned = 10
    with pytest.raises(RunError, match=r"the g_l1 loss is nan at iteration 5: training stopped; "
                                       r"the checkpoint of iteration 4 .* is kept"):
        trainer.train(save_every=2, progress=False)
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT)["iteration"] == 4


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path / "run", tiny_config(fast=False))
    trainer.planned = 2
    trainer.train(save_every=100, progress=False)
    before = (tmp_path / "run" / CHECKPOINT).read_bytes()
    real = Path.write_bytes

    def full(self, data):
        real(self, data[: len(data) // 3])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    trainer.planned = 4
    with pytest.raises(OutputError, match=r"cannot write .*checkpoint.pt: No space left on device; "
                                          r"the previous checkpoint.pt is untouched"):
        trainer.train(save_every=100, progress=False)
    monkeypatch.undo()
    assert (tmp_path / "run" / CHECKPOINT).read_bytes() == before
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT)["iteration"] == 2
    assert not list((tmp_path / "run").glob(".checkpoint.tmp-*"))


def test_two_trainers_on_one_run_folder(tmp_path):
    write_prepared(tmp_path / "set")
    tiny_config(fast=False).save(tmp_path / "tiny.json")
    with run_lock(tmp_path / "w" / "r"):
        r = run(*_train_args(tmp_path, "w"))
    one_line_error(r, f"is in use by training process {os.getpid()}")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "w" / "r").mkdir(parents=True, exist_ok=True)
    (tmp_path / "w" / "r" / LOCK).write_text(f"{dead.pid} {os.uname().nodename}")
    args = _train_args(tmp_path, "w")
    args[args.index("--iters") + 1] = "2"
    r = run(*args)
    assert r.returncode == 0 and f"removed the lock of training process {dead.pid}" in r.stderr, r.stderr


# -- transfer faults -------------------------------------------------------------------------
def test_a_source_with_gaps_longer_than_the_training_set(tmp_path, trained):
    write_prepared(tmp_path / "src", frames=20)  # the run trained on 12 frames
    kp = read_sequence(tmp_path / "src" / "keypoints")
    kp[5:8] = 0          # nobody in frames 5-7
    kp[10, 0] = 0        # a joint missing in frame 10
    (tmp_path / "src" / "keypoints").rename(tmp_path / "old")
    write_sequence(tmp_path / "src" / "keypoints", kp, "src")
    r = run("main/test.py", "--name", "r", "--weights-dir", str(trained / "w"), "--source", str(tmp_path / "src"),
            "-o", str(tmp_path / "out"), "--quiet", "--no-normalize")
    assert r.returncode == 0, r.stderr
    assert "no person in source frames 5-7: drawn with the last skeleton found" in r.stderr
    assert "1 source frames lack joints most frames have (10)" in r.stderr
    assert len(list((tmp_path / "out" / "frames").iterdir())) == 20
    labels = [cv2.imread(str(p)) for p in sorted((tmp_path / "out" / "labels").iterdir())]
    assert all((labels[i] == labels[4]).all() for i in (5, 6, 7))  # frame 4's skeleton held
    # a second run into the same folder: refused; --overwrite replaces it whole
    r = run("main/test.py", "--name", "r", "--weights-dir", str(trained / "w"), "--source", str(tmp_path / "src"),
            "-o", str(tmp_path / "out"), "--quiet", "--no-normalize", "--frames", "3")
    one_line_error(r, "exists (use --overwrite to replace it)")
    r = run("main/test.py", "--name", "r", "--weights-dir", str(trained / "w"), "--source", str(tmp_path / "src"),
            "-o", str(tmp_path / "out"), "--quiet", "--no-normalize", "--frames", "3", "--overwrite")
    assert r.returncode == 0 and len(list((tmp_path / "out" / "frames").iterdir())) == 3

"""Live transfer (edn.inference.live, main/live.py) with a fake camera: it runs to the end of
the source and says how fast it went, and a camera that cannot be opened, fails or stalls ends
it with one line and no half-written video. The One-Euro filter on numbers."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from edn.core.errors import InputError
from edn.inference.live import LiveOptions, run_live
from edn.training.distill import DistillOptions, distill
from pose_detector.filtering import OneEuro
from tests.helpers.detectors import RectangleDetector
from tests.helpers.tiny_training import window_run

ROOT = Path(__file__).resolve().parents[1]


class FakeCamera:
    """A white rectangle (the detector's 'person') swaying on black, 64x48, except in the frames
    of ``away``; after ``frames`` frames it ends, stalls (blocks) or fails (raises), as ``then``
    says."""

    def __init__(self, frames: int = 40, then: str = "end", fps: float = 0.0, away: set[int] | None = None) -> None:
        self.frames, self.then, self.fps, self.away, self.read_count = frames, then, fps, away or set(), 0

    def read(self) -> np.ndarray | None:
        if self.read_count >= self.frames:
            if self.then == "stall":
                time.sleep(30)
            if self.then == "fail":
                raise OSError("the camera was unplugged")
            return None
        x = 20 + int(6 * np.sin(self.read_count / 4))
        frame = np.zeros((48, 64, 3), np.uint8)
        if self.read_count not in self.away:
            frame[6:44, x:x + 14] = 255
        self.read_count += 1
        time.sleep(0.005)
        return frame

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def student_run(tmp_path_factory):
    run = window_run(tmp_path_factory.mktemp("live"))
    distill(DistillOptions(run, iterations=2, device="cpu", progress=False))
    return run


def options(run: Path, camera: FakeCamera, output: Path, **kw) -> LiveOptions:
    """The loop's faults, uncompiled (a compile takes seconds): the compiled generator is
    tested on its own below."""
    return LiveOptions(**{"calibrate": 0.0, "compile": False, **kw}, name=run.name, source="fake",
                       weights=run.parent, output=output, device="cpu", open_source=lambda spec: camera,
                       detector=RectangleDetector())


def live_frames(renderer, poses: np.ndarray) -> list[np.ndarray]:
    stream = renderer.live()
    next(stream)
    return [stream.send(pose).result for pose in poses]


def swaying_poses() -> np.ndarray:
    """A figure moving right over 4 frames, in the tiny run's 32x32 pixels."""
    from tests.helpers.detectors import person_in_box
    return np.stack([person_in_box(6 + 3 * t, 4, 18 + 3 * t, 28) for t in range(4)])


@pytest.mark.parametrize("path, tolerance", [("fp32", 1), ("bf16", 8)])  # bf16 rounds elsewhere
def test_the_compiled_student_draws_what_the_uncompiled_one_draws(student_run, monkeypatch, path, tolerance):
    from edn.core.runtime import ENV_VAR
    from edn.inference.transfer import Renderer

    monkeypatch.setenv(ENV_VAR, path)
    poses = swaying_poses()
    plain = live_frames(Renderer(student_run, torch.device("cpu"), face=False, student=True), poses)
    renderer = Renderer(student_run, torch.device("cpu"), face=False, student=True, compile=True)
    stream = renderer.live()
    next(stream)  # compiled here, for the frames below: none of them compiles again
    with torch.compiler.set_stance("fail_on_recompile"):
        compiled = [stream.send(pose).result for pose in poses]
    assert renderer.generator.compiled  # it compiled, and did not fall back
    for a, b in zip(plain, compiled):
        assert np.abs(a.astype(int) - b).max() <= tolerance
    assert np.abs(plain[0].astype(int) - plain[-1]).max() > 20  # the frames do differ


def test_a_generator_that_cannot_compile_runs_uncompiled(student_run, monkeypatch, caplog):
    from edn.inference.transfer import Renderer

    def no_compiler(model, **kw):
        def fail(*inputs):  # what torch 2.14 raises without a C++ compiler
            raise torch._dynamo.exc.BackendCompilerFailed(fail, torch._inductor.exc.InvalidCxxCompiler(), None)
        return fail

    monkeypatch.setattr(torch, "compile", no_compiler)
    poses = swaying_poses()
    plain = live_frames(Renderer(student_run, torch.device("cpu"), face=False, student=True), poses)
    renderer = Renderer(student_run, torch.device("cpu"), face=False, student=True, compile=True)
    made = live_frames(renderer, poses)
    assert not renderer.generator.compiled
    assert "torch.compile failed (InvalidCxxCompiler: No working C++ compiler found in " in caplog.text
    for a, b in zip(plain, made):
        np.testing.assert_array_equal(a, b)


def test_a_fake_camera_is_transferred_to_its_end_with_the_speed_reported(student_run, tmp_path):
    out = tmp_path / "live.mp4"
    stats = run_live(options(student_run, FakeCamera(40), out, side_by_side=True))
    assert stats.stopped == "the source ended"
    assert 15 <= stats.shown <= 40 - 9  # the first 10 frames calibrate the fit
    assert len(stats.latencies) == stats.shown and all(0 < t < 5 for t in stats.latencies)
    assert out.is_file() and out.stat().st_size > 1000
    assert "frames/s; latency median" in stats.summary()


def test_a_stalling_camera_is_reported_and_the_frames_made_are_kept(student_run, tmp_path):
    out = tmp_path / "live.mp4"
    started = time.monotonic()
    stats = run_live(options(student_run, FakeCamera(25, "stall"), out, stall=0.5))
    assert stats.stopped == "the source stalled: no frame for 0.5 s"
    assert time.monotonic() - started < 10 and out.is_file()


def test_a_camera_that_fails_mid_run_leaves_no_video(student_run, tmp_path):
    out = tmp_path / "live.mp4"
    with pytest.raises(InputError, match="the source failed: the camera was unplugged"):
        run_live(options(student_run, FakeCamera(25, "fail"), out))
    assert not out.exists() and not list(tmp_path.glob("*.mp4*"))


def test_a_source_that_cannot_be_opened_is_one_line(student_run, tmp_path):
    r = subprocess.run([sys.executable, "main/live.py", "--name", student_run.name, "--weights-dir",
                        str(student_run.parent), "--source", str(tmp_path / "no_camera.mp4"),
                        "--output", str(tmp_path / "o.mp4")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 1 and "cannot open the source" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_one_euro_keeps_still_points_still_and_follows_a_fast_move():
    smooth = OneEuro(30.0, scale=50.0)
    rng = np.random.default_rng(0)
    pose = np.zeros((3, 3))
    pose[:, 2] = 1.0
    still = []
    for _ in range(60):  # 2 px of noise at rest: much less after
        noisy = pose.copy()
        noisy[:, :2] = 100 + rng.normal(0, 2, (3, 2))
        still.append(smooth(noisy)[:, :2])
    assert np.std(np.diff(still[20:], axis=0)) < 0.35 * np.std(np.diff(rng.normal(0, 2, (40, 3, 2)), axis=0))
    for t in range(10):  # then a fast move, 20 px a frame: it follows within a few px
        moved = pose.copy()
        moved[:, :2] = 100 + 20 * (t + 1)
        out = smooth(moved)
    assert abs(out[0, 0] - moved[0, 0]) < 20
    gone = pose.copy()
    gone[1] = 0  # a joint not seen is not held
    assert (smooth(gone)[1] == 0).all()


def test_online_normalization_matches_the_offline_fit_once_calibrated():
    """A dancer stepping towards and away from the camera (ankles and size changing), 30 fps:
    the first frame after the calibration is normalized as the offline fit of the same frames
    normalizes it."""
    from edn.core.run import TargetInfo
    from edn.inference.live import OnlineNormalizer
    from edn.preparation.normalize import ankle_stats, fit_normalization
    from tests.helpers.detectors import person_in_box

    def dancer(t: int, size: float) -> np.ndarray:
        s = 1 + 0.2 * np.sin(t / 7)
        return person_in_box(100, 40 + 30 * s, 100 + 40 * s, 40 + 30 * s + size * s)

    target_poses = np.stack([dancer(t, 150) for t in range(40)])
    target = TargetInfo("x", (0, 40), (256, 256), (256, 256), 30.0, ankle_stats(target_poses).to_dict())
    source = np.stack([dancer(t, 100) for t in range(60)])
    online = OnlineNormalizer(target, (256, 256), "auto", calibrate=1.5)
    made = [online(pose, t / 30.0) for t, pose in enumerate(source)]
    first = next(t for t, m in enumerate(made) if m is not None)
    assert first == 45  # 1.5 s after the first frame
    offline = fit_normalization(source[:first + 1], ankle_stats(source[:first + 1]), ankle_stats(target_poses))
    np.testing.assert_allclose(made[first], offline.normalized[first], atol=1e-3)
    assert all(m is not None for m in made[first:])


def test_the_window_says_it_is_calibrating_then_shows_the_target(student_run, monkeypatch):
    import edn.inference.live as live

    shown, texts = [], []
    notice = live.notice
    monkeypatch.setattr(live, "has_display", lambda: True)
    monkeypatch.setattr(live, "show", lambda frame: shown.append(frame) or False)
    monkeypatch.setattr(live, "notice", lambda frame, text, h: texts.append(text) or notice(frame, text, h))
    monkeypatch.setattr(live.cv2, "destroyAllWindows", lambda: None)
    stats = run_live(options(student_run, FakeCamera(60), None, calibrate=0.1))
    assert stats.stopped == "the source ended" and stats.shown >= 10
    assert texts and all(t.startswith("calibrating") for t in texts)
    assert len(shown) == len(texts) + stats.shown
    # first the camera at the result's height under the line, then the target person
    assert all(f.shape == (32, 43, 3) for f in shown[:len(texts)])
    assert all(f.shape == (32, 32, 3) for f in shown[len(texts):])


@pytest.mark.parametrize("camera", [(720, 1280), (1280, 720)])  # landscape, portrait
def test_the_notice_line_fits_the_frame(camera):
    from edn.inference.live import notice

    frame = np.full((*camera, 3), 128, np.uint8)
    out = notice(frame, "waiting to see both feet: step into full view", 256)
    assert out.shape == (256, round(camera[1] * 256 / camera[0]), 3)
    bar = out[:(out[:, 0, 0] == 0).argmin()]  # the black rows at the top
    assert 10 <= len(bar) <= 80  # a line or, on a narrow frame, a few
    ink = np.nonzero(bar.max(axis=2) > 200)[1]  # white text on the bar
    assert len(ink) > 100 and ink.min() >= 3 and ink.max() <= out.shape[1] - 3
    assert (out[len(bar):] == 128).all()  # the camera below, untouched


def test_the_window_keeps_its_frame_through_a_missed_detection_and_says_when_nobody_is_there(
        student_run, monkeypatch):
    import edn.inference.live as live

    shown, texts = [], []
    notice = live.notice
    monkeypatch.setattr(live, "GONE", 0.1)
    monkeypatch.setattr(live, "has_display", lambda: True)
    monkeypatch.setattr(live, "show", lambda frame: shown.append(frame) or False)
    monkeypatch.setattr(live, "notice",
                        lambda frame, text, h: texts.append((len(shown), text)) or notice(frame, text, h))
    monkeypatch.setattr(live.cv2, "destroyAllWindows", lambda: None)
    # the person is missed in frame 30 (5 ms), then away for frames 45-99 (over 0.27 s)
    stats = run_live(options(student_run, FakeCamera(130, away={30, *range(45, 100)}), None))
    assert stats.stopped == "the source ended"
    calibrating = [i for i, t in texts if t.startswith("calibrating")]
    nobody = [i for i, t in texts if t == "nobody in view"]
    made = [i for i, f in enumerate(shown) if f.shape == (32, 32, 3)]
    assert calibrating and max(calibrating) < min(made) < min(nobody) < max(nobody) < max(made)
    assert len(texts) == len(calibrating) + len(nobody) and len(nobody) >= 3
    # one run of notices while away: the missed frame and the first 0.1 s away keep the last frame
    assert nobody == list(range(min(nobody), max(nobody) + 1))
    assert any(shown[i] is shown[i - 1] for i in range(min(made) + 1, min(nobody)))


def test_the_window_counts_the_calibration_down_then_waits_for_the_feet():
    from edn.core.run import TargetInfo
    from edn.inference.live import OnlineNormalizer
    from edn.preparation.normalize import ankle_stats
    from tests.helpers.detectors import person_in_box

    pose = person_in_box(100, 40, 140, 200)
    target = TargetInfo("x", (0, 40), (256, 256), (256, 256), 30.0, ankle_stats(np.stack([pose] * 40)).to_dict())
    online = OnlineNormalizer(target, (256, 256), "edn", calibrate=1.0)
    assert online.waiting(0.0) == "calibrating: 1 s, dance in full view"
    assert all(online(pose, t / 30) is None for t in range(30))
    assert online.waiting(0.2) == "calibrating: 1 s, dance in full view"
    assert online.waiting(0.99) == "calibrating: 1 s, dance in full view"
    assert online.waiting(1.0) == "calibrating, dance in full view"
    no_ankles = pose.copy()
    no_ankles[[10, 13]] = 0  # the fit is made at 1 s, but this frame has no ankles to place
    assert online(no_ankles, 1.0) is None
    assert online.waiting(1.0) == "waiting to see both feet: step into full view"
    assert online(pose, 1.03) is not None


def test_no_display_asks_for_an_output_file(student_run, monkeypatch):
    from edn.core.errors import UserError

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UserError, match="no window can be opened here .* --output live.mp4"):
        run_live(options(student_run, FakeCamera(30), None))


def test_the_camera_frame_maps_into_the_square_by_one_scale():
    from edn.inference.live import to_prepared

    pose = np.array([[640.0, 360.0, 1.0], [740.0, 720.0, 1.0], [0.0, 0.0, 0.0]])
    out = to_prepared(pose, (1280, 720), (256, 256))
    np.testing.assert_allclose(out[0], (128, 128, 1), atol=1e-4)   # the centre stays the centre
    np.testing.assert_allclose(out[1, :2], (128 + 100 * 256 / 720, 256), atol=1e-4)  # same scale in x and y
    assert (out[2] == 0).all()

"""The extraction commands end to end, on real footage where ../shared/data is present."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edn.core.keypoints import J
from edn.core.openpose_json import list_json_files, read_sequence
from edn.core.video import Mp4Writer, open_frames
from edn.evaluation.pose_metrics import pck
from edn.preparation.prepare import PreparedMeta, keypoints_to_original
from tests.helpers.tiny_training import noise_video
from tests.helpers.detectors import RectangleDetector, frame_with

ROOT = Path(__file__).resolve().parents[1]
TRIAL = (ROOT.parent / "shared/data/pose2sim/Pose2Sim/S00_Demo_BatchSession/"
         "S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial")
needs_data = pytest.mark.skipif(not TRIAL.is_dir(), reason="../shared/data not present")


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def assert_clean_error(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert words in result.stderr


def test_missing_input(tmp_path):
    r = run("-m", "pose_detector", str(tmp_path / "nope.mp4"), "--write-json", str(tmp_path / "j"))
    assert_clean_error(r, "no such file")
    assert not (tmp_path / "j").exists()


def test_unreadable_video_and_empty_folder(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    assert_clean_error(run("-m", "pose_detector", str(fake), "--write-json", str(tmp_path / "j")),
                       "cannot read any frame")
    (tmp_path / "empty").mkdir()
    assert_clean_error(run("data/video2data.py", str(tmp_path / "empty"), "-o", str(tmp_path / "o")),
                       "no images")
    assert not (tmp_path / "j").exists() and not (tmp_path / "o").exists()


def test_video_without_a_person(tmp_path):
    video = noise_video(tmp_path / "noise.mp4", 6)
    r = run("data/video2data.py", str(video), "-o", str(tmp_path / "set"), "--size", "64")
    assert_clean_error(r, "no person found in any of the 6 frames")
    assert not (tmp_path / "set").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["noise.mp4"]  # no scratch left behind


def test_json_files_are_named_like_openposes(tmp_path, monkeypatch):
    """A video's frames as <video stem>_<12-digit frame>_keypoints.json, a folder of images as
    <image stem>_keypoints.json, each file holding its own image's person."""
    from pose_detector import __main__ as cli

    monkeypatch.setattr(cli, "detector_from_args", lambda args, parts: RectangleDetector())
    frames = [frame_with((100 + 20 * i, 100, 160 + 20 * i, 300)) for i in range(4)]
    video, images = tmp_path / "walk.mp4", tmp_path / "images"
    with Mp4Writer(video, fps=10) as w:
        for frame in frames:
            w.write(frame)
    images.mkdir()
    for stem, frame in zip(["img_2", "img_10", "a-1", "a"], frames):
        cv2.imwrite(str(images / f"{stem}.png"), frame)
    for source, out in ((video, "v"), (images, "i")):
        assert cli.main([str(source), "--write-json", str(tmp_path / out), "--quiet",
                         "--no-smooth"]) == 0
    assert [p.name for p in list_json_files(tmp_path / "v")] == [
        f"walk_{i:012d}_keypoints.json" for i in range(4)]
    assert [p.stem for p in open_frames(images).images] == ["a", "a-1", "img_2", "img_10"]
    assert [p.name for p in list_json_files(tmp_path / "i")] == [
        "a_keypoints.json", "a-1_keypoints.json", "img_2_keypoints.json", "img_10_keypoints.json"]
    necks = read_sequence(tmp_path / "i")[:, J["neck"], 0]  # the boxes' centres: 130 + 20 i
    np.testing.assert_allclose(necks, [190, 170, 130, 150], atol=1.5)


def test_refuses_to_overwrite_a_folder_with_other_files(tmp_path):
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "notes.txt").write_text("mine")
    r = run("-m", "pose_detector", str(tmp_path), "--write-json", str(tmp_path / "j"))
    assert_clean_error(r, "--overwrite")
    assert (tmp_path / "j" / "notes.txt").read_text() == "mine"


@needs_data
def test_pose_detector_agrees_with_real_openpose_on_cam02(tmp_path):
    """cam02: BlazePose swaps the man's left and right for ~30 frames and a bystander stands
    behind him; raw MediaPipe scores 0.75 there."""
    out = tmp_path / "json"
    r = run("-m", "pose_detector", str(TRIAL / "videos/cam02.mp4"), "--write-json", str(out),
            "--quiet", "--render-video", str(tmp_path / "overlay.mp4"))
    assert r.returncode == 0, r.stderr
    files = sorted(out.iterdir())
    assert len(files) == 100 and files[0].name == "cam02_000000000000_keypoints.json"
    doc = json.loads(files[0].read_text())
    assert len(doc["people"]) == 1 and len(doc["people"][0]["pose_keypoints_2d"]) == 54
    ours = read_sequence(out)
    reference = read_sequence(TRIAL / "pose/cam02_json")
    assert np.nanmean(pck(ours, reference)) >= 0.97
    assert (tmp_path / "overlay.mp4").stat().st_size > 10_000


@needs_data
def test_video2data_prepared_set_maps_back_to_the_video(tmp_path):
    out = tmp_path / "set"
    r = run("data/video2data.py", str(TRIAL / "videos/cam04.mp4"), "-o", str(out),
            "--size", "128", "--quiet")
    assert r.returncode == 0, r.stderr
    meta = PreparedMeta.load(out)
    assert (meta.frames, meta.size, meta.original_size) == (100, (128, 128), (1088, 1920))
    assert meta.frames_with_person == 100 and meta.masks
    assert len(list((out / "frames").iterdir())) == len(list((out / "masks").iterdir())) == 100
    x0, y0, x1, y1 = meta.crop_box
    assert x1 - x0 == pytest.approx(y1 - y0)  # square crop for a square size
    kp = read_sequence(out / "keypoints")
    seen = kp[..., 2] > 0.3
    assert kp[seen][:, :2].min() >= 0 and kp[seen][:, :2].max() <= 128
    # back in original pixels the skeletons agree with real OpenPose
    original = keypoints_to_original(kp, meta.crop_box, meta.size)
    assert np.nanmean(pck(original, read_sequence(TRIAL / "pose/cam04_json"))) >= 0.97
    # the person mask covers the hips and not the crop's corners
    import cv2
    mask = cv2.imread(str(out / "masks/000050.png"), cv2.IMREAD_GRAYSCALE)
    hip = kp[50, J["r_hip"], :2].astype(int)
    assert mask[hip[1], hip[0]] > 128 and mask[0, 0] < 32
    world = np.load(out / "world_landmarks.npy")
    assert world.shape == (100, 33, 4) and np.abs(world[:, :, :3]).max() < 2.5  # metres

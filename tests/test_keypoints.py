import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edn.core.errors import InputError
from edn.core.video import open_frames
from edn.core.keypoints import COCO18_NAMES, FLIP_INDEX, J, flip_left_right, to_coco18, torso_size
from edn.core.openpose_json import (
    json_name,
    list_json_files,
    main_person,
    read_openpose_json,
    read_sequence,
    write_openpose_json,
    write_sequence,
)
from tests.helpers.poses import coco18_person


TRIAL = (Path(__file__).resolve().parents[2] / "shared/data/pose2sim/Pose2Sim/S00_Demo_BatchSession/"
         "S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial")


def test_coco17_to_coco18_builds_neck_and_reorders():
    p18 = coco18_person()
    order17 = ["nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow",
               "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle",
               "r_ankle"]
    p17 = np.stack([p18[J[n]] for n in order17])
    np.testing.assert_allclose(to_coco18(p17, "coco17"), p18)


def body25_from(p18: np.ndarray) -> np.ndarray:
    b = np.zeros((25, 3), np.float32)
    src = [0, 1, 2, 3, 4, 5, 6, 7, None, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]
    for dst, s in enumerate(src):
        if s is not None:
            b[dst] = p18[s]
    b[8] = ((p18[8, 0] + p18[11, 0]) / 2, (p18[8, 1] + p18[11, 1]) / 2, 0.9)  # mid-hip
    return b


def body25b_from(p18: np.ndarray) -> np.ndarray:
    order17 = [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]
    b = np.zeros((25, 3), np.float32)
    b[:17] = p18[order17]
    b[17] = (50, 20, 0.8)  # upper neck
    b[18] = (50, 0, 0.8)   # head top
    return b


def test_body25_and_body25b_are_told_apart(tmp_path):
    p18 = coco18_person()
    for maker in (body25_from, body25b_from):
        path = tmp_path / f"{maker.__name__}.json"
        path.write_text(json.dumps({"version": 1.3, "people": [
            {"pose_keypoints_2d": maker(p18).reshape(-1).tolist()}]}))
        (got,) = read_openpose_json(path)
        np.testing.assert_allclose(got, p18, atol=1e-5, err_msg=maker.__name__)


def test_json_round_trip_and_openpose_naming(tmp_path):
    poses = np.stack([coco18_person(dx=i) for i in range(3)])
    poses[1] = 0  # nobody in frame 1
    write_sequence(tmp_path, poses, "clip")
    names = [p.name for p in list_json_files(tmp_path)]
    assert names == [json_name("clip", i) for i in range(3)] == [
        "clip_000000000000_keypoints.json", "clip_000000000001_keypoints.json",
        "clip_000000000002_keypoints.json"]
    doc = json.loads((tmp_path / names[0]).read_text())
    assert doc["version"] == 1.3 and len(doc["people"][0]["pose_keypoints_2d"]) == 54
    assert json.loads((tmp_path / names[1]).read_text())["people"] == []
    np.testing.assert_allclose(read_sequence(tmp_path), poses, atol=1e-3)


def test_image_folder_files_are_named_by_the_images_and_read_in_their_order(tmp_path):
    stems = ["1", "2", "10", "a", "a-1", "img_2", "img_10", "left"]  # as open_frames orders them
    poses = np.stack([coco18_person(dx=i) for i in range(len(stems))])
    paths = write_sequence(tmp_path, poses, "folder", names=stems)
    assert [p.name for p in paths] == [json_name(s) for s in stems] == [
        "1_keypoints.json", "2_keypoints.json", "10_keypoints.json", "a_keypoints.json",
        "a-1_keypoints.json", "img_2_keypoints.json", "img_10_keypoints.json", "left_keypoints.json"]
    assert list_json_files(tmp_path) == paths  # real OpenPose on ffmpeg's %d.png frames too
    np.testing.assert_allclose(read_sequence(tmp_path), poses, atol=1e-3)
    with pytest.raises(ValueError, match="2 names, 1 of them different"):
        write_sequence(tmp_path / "twice", poses[:2], "folder", names=["a", "a"])


def test_an_image_folder_with_two_images_of_one_name_is_refused(tmp_path):
    for name in ("a.png", "a.jpg", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match="two images in .* are named 'a'"):
        open_frames(tmp_path)


def test_video_names_of_any_age_read_in_frame_order(tmp_path):
    for i in reversed(range(12)):  # frames 10 and 11 sort after 9, whatever the file order
        write_openpose_json(tmp_path / json_name("clip", i), [coco18_person(dx=i)])
    np.testing.assert_allclose(read_sequence(tmp_path)[:, J["nose"], 0], 50 + np.arange(12))


def test_files_sorted_by_frame_number_not_text(tmp_path):
    for i in (10, 9, 100):
        write_openpose_json(tmp_path / f"v.{i}.json", [coco18_person(dx=i)])
    (tmp_path / "v.5.json.old").write_text("{}")
    assert [p.name for p in list_json_files(tmp_path)] == ["v.9.json", "v.10.json", "v.100.json"]


def test_main_person_is_largest_and_flip_is_an_involution():
    small = coco18_person()
    small[:, :2] *= 0.5
    big = coco18_person(dx=200)
    np.testing.assert_array_equal(main_person([small, big]), big)
    assert main_person([]).sum() == 0
    p = coco18_person()
    f = flip_left_right(p)
    np.testing.assert_array_equal(f[J["l_wrist"]], p[J["r_wrist"]])
    np.testing.assert_array_equal(flip_left_right(f), p)
    assert sorted(FLIP_INDEX) == list(range(18)) and len(COCO18_NAMES) == 18


def test_torso_size():
    p = coco18_person()
    expected = np.hypot(60 - 44, 25 - 60)  # both diagonals have this length
    assert torso_size(p) == pytest.approx(expected)
    p[J["l_hip"], 2] = 0
    assert torso_size(p) == pytest.approx(expected)  # the other diagonal alone
    p[J["r_hip"], 2] = 0
    assert torso_size(p) == 0


@pytest.mark.skipif(not TRIAL.is_dir(), reason="../shared/data not present")
def test_real_openpose_body25b_output():
    poses = read_sequence(TRIAL / "pose/cam01_json")
    assert poses.shape == (100, 18, 3)
    people = read_openpose_json(TRIAL / "pose/cam01_json/cam01.0000.json")
    assert len(people) == 2  # the man on the beam and the bystander
    man = poses[0]
    # The man stands upright: ankles far below the nose, shoulders' midpoint is the neck.
    assert man[J["r_ankle"], 1] - man[J["nose"], 1] > 500
    np.testing.assert_allclose(man[J["neck"], :2],
                               (man[J["r_shoulder"], :2] + man[J["l_shoulder"], :2]) / 2)

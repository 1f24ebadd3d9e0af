"""Face and hands: OpenPose's face-70 / hand-21 from MediaPipe Holistic, their JSON, their
drawing and their transforms (issue 15)."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edn.core.errors import UserError
from edn.core.keypoints import (
    FACE,
    LEFT_HAND,
    NUM_JOINTS,
    RIGHT_HAND,
    WHOLE_JOINTS,
    check_parts,
    flip_left_right,
    keep_parts,
)
from edn.core.openpose_json import (
    read_openpose_json,
    read_sequence,
    write_openpose_json,
    write_sequence,
)
from edn.core.skeleton import FACE_COLOR, HAND_COLORS, render_label_map
from edn.inference.dance import missing_parts
from edn.preparation.normalize import FrameTransforms, apply_transforms
from pose_detector.extract import make_detector
from pose_detector.whole_body import (
    JAW_LEFT,
    JAW_RIGHT,
    LEFT_IRIS,
    RIGHT_IRIS,
    face_mesh_to_openpose,
    resample_polyline,
)

WHOLEBODY = (Path(__file__).resolve().parents[2]
             / "shared/data/mmpose_testdata/tests/data/coco/test_coco_wholebody.json")


def whole_pose(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pose = np.zeros((WHOLE_JOINTS, 3), np.float32)
    pose[:, :2] = rng.uniform(20, 230, (WHOLE_JOINTS, 2)).round(3)
    pose[:, 2] = rng.uniform(0.2, 1.0, WHOLE_JOINTS).round(3)
    return pose


def test_jaw_is_the_face_oval_at_equal_arc_length_and_pupils_are_the_irises():
    rng = np.random.default_rng(1)
    mesh = rng.uniform(0, 100, (478, 2))
    face = face_mesh_to_openpose(mesh, 0.7)
    assert face.shape == (70, 3) and np.all(face[:, 2] == np.float32(0.7))
    np.testing.assert_allclose(face[0, :2], mesh[JAW_RIGHT[0]], atol=1e-4)
    np.testing.assert_allclose(face[8, :2], mesh[152], atol=1e-4)
    np.testing.assert_allclose(face[16, :2], mesh[JAW_LEFT[0]], atol=1e-4)
    np.testing.assert_allclose(face[:9, :2], resample_polyline(mesh[list(JAW_RIGHT)], 9), atol=1e-3)
    np.testing.assert_allclose(face[8:17, :2], resample_polyline(mesh[list(JAW_LEFT)], 9)[::-1],
                               atol=1e-3)
    np.testing.assert_allclose(face[17:22, :2], mesh[[70, 63, 105, 66, 107]], atol=1e-4)
    np.testing.assert_allclose(face[68, :2], mesh[RIGHT_IRIS], atol=1e-4)
    np.testing.assert_allclose(face[69, :2], mesh[LEFT_IRIS], atol=1e-4)
    # the 468-point mesh: pupils are the means of the eyes' six points
    plain = face_mesh_to_openpose(mesh[:468], 0.7)
    np.testing.assert_allclose(plain[68, :2], plain[36:42, :2].mean(0), atol=1e-4)
    np.testing.assert_allclose(plain[69, :2], plain[42:48, :2].mean(0), atol=1e-4)


def test_resampled_polyline_has_equal_steps():
    line = np.array([[0, 0], [1, 0], [1, 3]], float)  # length 4
    out = resample_polyline(line, 5)
    np.testing.assert_allclose(out, [[0, 0], [1, 0], [1, 1], [1, 2], [1, 3]])


@pytest.mark.skipif(not WHOLEBODY.is_file(), reason="../shared/data absent")
def test_face_points_land_on_real_ibug_annotations():
    """COCO-WholeBody's hand-annotated 68-point faces (iBUG order): our detector's face on
    the person, 4x upsampled (the faces are 23-29 px), lies within 12 % of the face box on
    average, and the mapping beats its own mirror image by far (a swapped side fails)."""
    from pose_detector.backends.mediapipe import MediaPipeDetector

    data = json.loads(WHOLEBODY.read_text())
    files = {im["id"]: im["file_name"] for im in data["images"]}
    detector = MediaPipeDetector(parts=("body", "face"))
    errors, mirrored = [], []
    mirror = [16 - i for i in range(17)] + [43 - i for i in range(17, 27)]  # jaw and brows
    try:
        for a in data["annotations"]:
            if not a["face_valid"]:
                continue
            image = cv2.cvtColor(cv2.imread(str(WHOLEBODY.parent / files[a["image_id"]])),
                                 cv2.COLOR_BGR2RGB)
            x, y, w, h = a["bbox"]
            side = max(w, h) * 1.3
            x0, y0 = int(max(0, x + w / 2 - side / 2)), int(max(0, y + h / 2 - side / 2))
            crop = image[y0:int(y + h / 2 + side / 2), x0:int(x + w / 2 + side / 2)]
            found = detector.detect(cv2.resize(crop, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC))
            assert found and found[0].keypoints.shape == (WHOLE_JOINTS, 3)
            face = found[0].keypoints[FACE]
            assert face[:, 2].min() > 0
            ours = face[:68, :2] / 4 + (x0, y0)
            truth = np.asarray(a["face_kpts"], float).reshape(68, 3)[:, :2]
            scale = max(a["face_box"][2:])
            errors.append(np.linalg.norm(ours - truth, axis=1).mean() / scale)
            swapped = ours[:27][mirror]
            mirrored.append(np.linalg.norm(swapped - truth[:27], axis=1).mean() / scale)
    finally:
        detector.close()
    assert len(errors) == 4
    assert np.mean(errors) < 0.12, errors
    assert np.mean(mirrored) > 4 * np.mean(errors), (mirrored, errors)


def test_whole_body_json_round_trip_and_openpose_keys(tmp_path):
    pose = whole_pose()
    path = tmp_path / "f_keypoints.json"
    write_openpose_json(path, [pose])
    doc = json.loads(path.read_text())["people"][0]
    assert len(doc["pose_keypoints_2d"]) == 54 and len(doc["face_keypoints_2d"]) == 210
    assert len(doc["hand_left_keypoints_2d"]) == len(doc["hand_right_keypoints_2d"]) == 63
    (back,) = read_openpose_json(path)
    np.testing.assert_allclose(back, pose, atol=1e-3)
    # --face without --hand: OpenPose writes the hands as empty lists
    write_openpose_json(path, [pose], parts=("face",))
    doc = json.loads(path.read_text())["people"][0]
    assert doc["hand_left_keypoints_2d"] == [] and len(doc["face_keypoints_2d"]) == 210
    (back,) = read_openpose_json(path)
    assert back[LEFT_HAND, 2].max() == 0 and back[FACE, 2].min() > 0
    # a body-only file reads as 18 points, as before
    write_openpose_json(path, [pose[:NUM_JOINTS]])
    assert read_openpose_json(path)[0].shape == (NUM_JOINTS, 3)


def test_sequence_of_whole_body_frames_keeps_empty_frames_empty(tmp_path):
    poses = np.stack([whole_pose(0), np.zeros((WHOLE_JOINTS, 3), np.float32), whole_pose(2)])
    write_sequence(tmp_path, poses, "clip")
    back = read_sequence(tmp_path)
    assert back.shape == (3, WHOLE_JOINTS, 3)
    np.testing.assert_allclose(back, poses, atol=1e-3)


def test_side_swap_swaps_the_hands_and_keeps_the_face():
    pose = whole_pose()
    flipped = flip_left_right(pose)
    np.testing.assert_array_equal(flipped[LEFT_HAND], pose[RIGHT_HAND])
    np.testing.assert_array_equal(flipped[RIGHT_HAND], pose[LEFT_HAND])
    np.testing.assert_array_equal(flipped[FACE], pose[FACE])
    np.testing.assert_array_equal(flip_left_right(flipped), pose)


def test_label_map_draws_face_and_hands_only_for_the_parts_asked():
    pose = np.zeros((WHOLE_JOINTS, 3), np.float32)
    pose[FACE, :2] = np.stack([np.linspace(100, 200, 70), np.full(70, 100.0)], 1)
    pose[FACE, 2] = 1
    pose[RIGHT_HAND, :2] = np.stack([np.full(21, 300.0), np.linspace(300, 420, 21)], 1)
    pose[RIGHT_HAND, 2] = 1

    def count(label, colour):
        return int(np.all(label == colour, axis=-1).sum())

    full = render_label_map(pose, (512, 512))
    assert count(full, FACE_COLOR) > 100
    assert count(full, HAND_COLORS[20]) > 0
    body = render_label_map(pose, (512, 512), parts=("body",))
    assert not body.any()
    # widths scale with the frame: twice the side, about four times the pixels
    big = render_label_map(pose * [2, 2, 1], (1024, 1024))
    assert 3 < count(big, FACE_COLOR) / count(full, FACE_COLOR) < 5


def test_normalization_moves_face_and_hands_with_the_body():
    pose = whole_pose()[None]
    t = FrameTransforms(anchor=np.array([[128.0, 250.0]]), scale=np.array([0.5]),
                        shift=np.array([10.0]), measured=np.array([True]))
    out = apply_transforms(pose, t)
    expected = 128 + 0.5 * (pose[0, :, 0] - 128), 250 + 0.5 * (pose[0, :, 1] - 250) + 10
    np.testing.assert_allclose(out[0, :, 0], expected[0], atol=1e-4)
    np.testing.assert_allclose(out[0, :, 1], expected[1], atol=1e-4)


def test_parts_checked_and_kept():
    assert check_parts(["hands", "face"]) == ("body", "face", "hands")
    with pytest.raises(Exception, match="unknown keypoint part 'feet'"):
        check_parts(["feet"])
    kept = keep_parts(whole_pose(), ("body", "hands"))
    assert kept[FACE, 2].max() == 0 and kept[LEFT_HAND, 2].min() > 0
    assert missing_parts(("body", "face", "hands"), ("body",)) == ["face", "hands"]


def test_the_openpose_detector_with_a_face_or_hands_says_how_to_go_on(tmp_path):
    # refused before any weights are looked for, naming the way out of each command
    with pytest.raises(UserError, match=r"body model only.*--detector mediapipe.*--face/--hand.*"
                                        r"--body-only \(data/video2data.py\)"):
        make_detector("openpose", weights=tmp_path, parts=("body", "face"))

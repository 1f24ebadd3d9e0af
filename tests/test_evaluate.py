import math

import cv2
import numpy as np
import pytest

from edn.core.errors import CheckpointError, UserError
from edn.core.window import body_box
from edn.evaluation.metrics import (
    Flicker,
    FrameScores,
    RegionScores,
    nearest_skeleton,
    pose_distance,
    psnr,
    ssim,
)
from edn.evaluation.temporal import RealMotion, WarpingError
from tests.helpers.poses import coco18_person


class NobodyFound:
    """A detector that finds no one."""

    def detect(self, image: np.ndarray) -> list:
        return []


def frame_scores(preds, reals, poses, size: tuple[int, int]) -> dict:
    """``FrameScores`` of a few frames, nobody detected on them."""
    scores, motion = FrameScores(size, NobodyFound()), RealMotion()
    for p, r, k in zip(preds, reals, poses):
        scores.add(p, r, k, motion.add(r))
    return scores.result()


def test_identical_images_score_ssim_1_and_infinite_psnr():
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert ssim(img, img) == pytest.approx(1.0)
    assert psnr(img, img) == math.inf
    scores = frame_scores([img], [img], [coco18_person()], (32, 32))
    assert scores["ssim"] == pytest.approx(1.0) and scores["psnr"] == math.inf


def test_psnr_of_a_known_error():
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 10, np.uint8)  # MSE 100 -> 10 log10(255^2 / 100)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 100))


def test_skeleton_shifted_by_5_px_is_5_px_away():
    ref = np.stack([coco18_person(), coco18_person(dx=20)])
    det = ref.copy()
    det[..., 0] += 3
    det[..., 1] += 4
    det[1, 0, 2] = 0  # the detector missed frame 1's nose
    d = pose_distance(det, ref)
    assert d["pixels"] == pytest.approx(5.0)
    assert d["torso_fraction"] == pytest.approx(5.0 / np.hypot(16, 35))
    assert d["missed_per_frame"] == pytest.approx(0.5)
    seen = (ref[..., 2] > 0.1).sum()
    assert d["missed_fraction"] == pytest.approx(1 / seen)


def region_scores(preds, reals, boxes) -> dict:
    scores = RegionScores()
    for p, r, b in zip(preds, reals, boxes):
        scores.add(p, r, b)
    return scores.result()


def test_body_box_and_region_scores():
    pose = coco18_person()  # joints span x 33..67, y 8..100
    box = body_box(pose, (120, 100), margin=0.1)  # pad 9.2 px, exclusive ends
    assert box == (23, 0, 78, 111)
    real = np.zeros((2, 120, 100, 3), np.uint8)
    pred = real.copy()
    pred[1, 0:5, 0:5] = 255  # outside the box: the region is still identical
    scores = region_scores(pred, real, [box, box])
    assert scores["ssim"] == pytest.approx(1.0) and scores["frames"] == 2
    assert region_scores(pred, real, [None, (0, 0, 3, 3)])["frames"] == 0


def test_face_centre_scores_the_face_box_central_half():
    from edn.core.face_box import face_box
    pose = coco18_person()
    size = (100, 120)  # (w, h)
    real = np.random.default_rng(1).integers(0, 256, (1, 120, 100, 3), dtype=np.uint8)
    x0, y0, x1, y1 = face_box(pose, (120, 100))
    c0, d0, c1, d1 = face_box(pose, (120, 100), scale=0.5)
    assert x0 < c0 < c1 < x1 and y0 < d0 < d1 < y1
    pred = real.copy()
    pred[0, y0:d0, x0:x1] = 0  # hair and background wrong, the face itself right
    scores = frame_scores(pred, real, pose[None], size)
    assert scores["face"]["ssim"] < 0.9
    assert scores["face_centre"]["ssim"] == pytest.approx(1.0)
    pred[0, d0:d1, c0:c1] = 255 - pred[0, d0:d1, c0:c1]
    assert frame_scores(pred, real, pose[None], size)["face_centre"]["ssim"] < 0.5


def flicker_ratio(generated: np.ndarray, real: np.ndarray) -> float:
    flicker = Flicker()
    for g, r in zip(generated, real):
        flicker.add(g, r)
    return flicker.ratio


def test_flicker_ratio():
    real = np.stack([np.full((4, 4, 3), v, np.uint8) for v in (0, 10, 20)])
    assert flicker_ratio(real, real) == pytest.approx(1.0)
    still = np.zeros_like(real)
    assert flicker_ratio(still, real) == 0.0
    jumpy = np.stack([np.full((4, 4, 3), v, np.uint8) for v in (0, 20, 0)])
    assert flicker_ratio(jumpy, real) == pytest.approx(2.0)
    assert flicker_ratio(real, still) == math.inf


def moving_square(frames: int = 8, step: int = 3) -> np.ndarray:
    """A textured 40-px square crossing a textured 128-px background, ``step`` px a frame."""
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), (9, 9), 0)
    square = cv2.GaussianBlur(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), (9, 9), 0)
    out = np.repeat(background[None], frames, 0)
    for t in range(frames):
        out[t, 40:80, 10 + step * t:50 + step * t] = square
    return out


def warping(generated: np.ndarray, real: np.ndarray) -> dict:
    error, motion = WarpingError(), RealMotion()
    for g, r in zip(generated, real):
        error.add(g, motion.add(r))
    return error.result()


def test_the_warping_error_calls_a_frozen_video_unstable_where_flicker_calls_it_perfect():
    real = moving_square()
    assert warping(real, real)["ratio"] == pytest.approx(1.0)
    frozen = np.repeat(real[:1], len(real), 0)
    assert flicker_ratio(frozen, real) == 0.0            # "perfectly stable"
    assert warping(frozen, real)["ratio"] > 3            # it does not move with the person
    noise = np.random.default_rng(1).normal(0, 8, real.shape)
    flickering = (real + noise).clip(0, 255).astype(np.uint8)
    assert warping(flickering, real)["ratio"] > 1.5
    result = warping(real, real)
    assert 0 < result["real"] < 5 and result["generated"] == result["real"]


def test_real_motion_follows_the_square_and_keeps_only_what_moves():
    real = moving_square(frames=2, step=4)
    motion = RealMotion()
    assert motion.add(real[0]) is None
    m = motion.add(real[1])
    grid = np.stack(np.meshgrid(np.arange(128), np.arange(128)), -1)
    inside = (m.flow.where - grid)[45:75, 20:50]  # on the square: it came from 4 px to the left
    assert np.median(inside[..., 0]) == pytest.approx(-4, abs=0.5)
    assert np.abs(np.median(inside[..., 1])) < 0.5
    assert m.valid[40:80, 10:60].mean() > 0.9  # the square, where it is now and was
    assert not m.valid[:35].any() and not m.valid[85:].any()  # the still background


def test_the_fastest_quarter_is_where_the_skeleton_moves_most():
    from edn.core.keypoints import fastest_quarter, joint_speed
    poses = np.stack([coco18_person(dx=x) for x in (0, 1, 2, 12, 13, 14, 34, 35)])
    poses[5, 4, 2] = 0  # a joint missing: the others still measure the move
    np.testing.assert_allclose(joint_speed(poses), [1, 1, 1, 10, 1, 1, 20, 1])
    assert fastest_quarter(joint_speed(poses)).tolist() == [False, False, False, True, False, False, True, False]
    img = np.zeros((120, 100, 3), np.uint8)
    scores = FrameScores((100, 120), NobodyFound())
    for pose in poses:
        scores.add(img, img, pose, None)
    result = scores.result()
    assert result["pose_distance_fastest_quarter"]["missed_fraction"] == 1.0
    assert result["pose_distance_other_frames"]["missed_per_frame"] == pytest.approx(
        (18 * 5 + 17) / 6)


def test_frame_scores_pose_distance_and_hands():
    """The detector's skeleton on each frame is scored against the input's; whole-body
    input adds the hands' boxes, both hands of every frame."""
    from edn.core.keypoints import WHOLE_JOINTS, whole_body

    pose = whole_body(coco18_person())
    pose[WHOLE_JOINTS - 42:, :2] = pose[4, :2] + np.random.default_rng(0).uniform(-8, 8, (42, 2))
    pose[WHOLE_JOINTS - 42:, 2] = 1

    class Shifted:
        def detect(self, image):
            from pose_detector.base import PersonPose
            found = pose.copy()
            found[:, 0] += 3
            return [PersonPose(found)]

    img = np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    scores = FrameScores((200, 200), Shifted())
    for _ in range(2):
        scores.add(img, img, pose, None)
    result = scores.result()
    assert result["pose_distance"]["pixels"] == pytest.approx(3.0)
    assert result["hands"]["frames"] == 4 and result["hands"]["ssim"] == pytest.approx(1.0)


def test_nearest_skeleton_retrieval():
    train = np.stack([coco18_person(dx=x) for x in (0, 50, 100)])
    query = np.stack([coco18_person(dx=48), coco18_person(dx=-3)])
    assert nearest_skeleton(train, query).tolist() == [1, 0]


def test_held_out_split_and_verdict():
    from edn.evaluation.metrics import held_out_split, retrieval_verdict
    assert held_out_split(None, 330, 412) == 330 and held_out_split(0.9, 330, 412) == 371
    with pytest.raises(UserError, match="inside the frames"):
        held_out_split(0.5, 330, 412)
    with pytest.raises(UserError, match="no held-out frames"):
        held_out_split(None, 411, 412)

    def scores(body: float, pixels: float, torso: float, missed: float = 0.03) -> dict:
        return {"body": {"ssim": body}, "pose_distance": {
            "pixels": pixels, "torso_fraction": torso, "missed_per_frame": 0.5,
            "missed_fraction": missed}}

    retrieval = scores(0.69, 13.9, 0.22)
    verdict = retrieval_verdict("m", scores(0.76, 5.5, 0.087), retrieval)
    assert verdict.startswith("m beats") and "body SSIM 0.760 vs 0.690" in verdict
    assert "does NOT beat nearest-skeleton retrieval (body SSIM)" in retrieval_verdict(
        "m", scores(0.68, 5.5, 0.087), retrieval)
    assert "(pose distance, pose distance under 0.10" in retrieval_verdict(
        "m", scores(0.76, 14.0, 0.2), retrieval)
    assert "(pose distance under 0.10 of the torso)" in retrieval_verdict(
        "m", scores(0.76, 12.0, 0.15), retrieval)
    assert "(at most 10% of the joints missed)" in retrieval_verdict(
        "m", scores(0.76, 5.5, 0.087, missed=0.45), retrieval)
    nothing_found = scores(0.76, float("nan"), float("nan"), missed=1.0)
    assert "does NOT" in retrieval_verdict("m", nothing_found, retrieval)


def test_ablation_rows_follow_the_papers_order():
    from edn.evaluation.metrics import ABLATION_COLUMNS, ablation_label, ablation_table
    assert [ablation_label(t, f) for t, f in ((False, False), (True, False), (True, True))] == [
        "pix2pixHD", "+temporal smoothing", "+face"]
    assert ablation_label(False, True) == "pix2pixHD +face"
    whole = ("body", "face", "hands")
    assert ablation_label(True, False, whole) == "+face/hand labels"
    assert ablation_label(True, True, whole) == "+face/hand labels +face"
    assert ablation_label(True, True, whole, ("+flow-warp loss",)) == "+face/hand labels +flow-warp loss +face"
    assert ablation_label(True, True, levers=("+3-frame D",)) == "+temporal smoothing +3-frame D +face"
    row = dict(zip(ABLATION_COLUMNS, (0.5, 0.4, 0.45, float("nan"), 4.25, 9.25, 0.2, 1.1, 1.3, 3.25)))
    table = ablation_table({"baseline": row, "+face/hand labels": row, "+face": row,
                            "pix2pixHD": row, "+temporal smoothing (b)": row})
    names = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    assert names == ["pix2pixHD", "+temporal smoothing (b)", "+face", "+face/hand labels", "baseline"]
    assert "| 0.500 | 0.400 | 0.450 | - | 4.2 | 9.2 | 0.200 | 1.100 | 1.300 | 3.2 |" in table


def test_lpips_with_a_brought_alexnet_file(tmp_path):
    import torch
    import torchvision

    from edn.evaluation.lpips_score import ALEXNET_FILE, LPIPS
    metric, note = LPIPS.from_weights_dir(tmp_path, torch.device("cpu"))
    assert metric is None and note.startswith("skipped")
    torch.manual_seed(0)  # the file's layout matters here, not ImageNet training
    torch.save(torchvision.models.alexnet().state_dict(), tmp_path / ALEXNET_FILE)
    metric, note = LPIPS.from_weights_dir(tmp_path, torch.device("cpu"))
    assert metric is not None and ALEXNET_FILE in note
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    assert metric(a, a) == pytest.approx(0.0, abs=1e-6)
    assert metric(a, b) > 0.01
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / ALEXNET_FILE)
    with pytest.raises(CheckpointError, match="not torchvision's AlexNet"):
        LPIPS.from_weights_dir(tmp_path, torch.device("cpu"))
    (tmp_path / ALEXNET_FILE).write_text("not weights")
    with pytest.raises(CheckpointError, match="not a PyTorch weights file"):
        LPIPS.from_weights_dir(tmp_path, torch.device("cpu"))


def test_temporal_levers_name_what_a_config_trains_with():
    import dataclasses

    from edn.evaluation.metrics import temporal_levers
    from edn.training.presets import paper
    cfg = paper()
    assert temporal_levers(cfg) == ()
    cfg.loss = dataclasses.replace(cfg.loss, warp=100.0, warp_ramp=0.5)
    cfg.discriminator.frames, cfg.train.fast_pairs = 3, 2
    assert temporal_levers(cfg) == ("+flow-warp loss ramped", "+3-frame D", "+fast pairs")
    cfg.generator.temporal = False  # a D of one frame at a time
    assert "+3-frame D" not in temporal_levers(cfg)

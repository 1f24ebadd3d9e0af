"""The person window: its size and placement, training on it, and rendering through it."""
import numpy as np
import pytest
import torch

from edn.core.errors import ConfigError
from edn.core.run import TargetInfo
from edn.core.runtime import Precision
from edn.core.face_box import face_box_side, face_crop_box
from edn.core.window import body_box, shift_keypoints, window_origin, window_size
from edn.inference.fast import FastGenerator, generate_video
from edn.inference.transfer import Renderer
from edn.models.build import build_generator
from edn.training.data import batch_indices
from tests.helpers.rendering import render_all
from tests.helpers.tiny_training import SIZE, make_trainer, tiny_config, tiny_target

CPU = torch.device("cpu")


def pose_between(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """A pose whose confident joints span exactly (x0, y0)..(x1, y1)."""
    pose = np.zeros((18, 3), np.float32)
    pose[0] = (x0, y0, 1)
    pose[10] = (x1, y1, 1)
    return pose


def test_window_size_is_the_largest_body_box_with_slack_rounded_to_the_stride():
    poses = np.stack([pose_between(10, 10, 30, 70), pose_between(50, 20, 90, 60)])
    # body boxes with margin 0: 21 x 61 and 41 x 41 (exclusive ends); +10 %: 45.1 x 67.1
    assert window_size(poses, (128, 128), 8, margin=0) == (48, 72)
    wide = pose_between(2, 2, 42, 66)[None]  # 41 x 65, +10 %: 45.1 x 71.5, rounded 48 x 72
    assert window_size(wide, (44, 70), 8, margin=0) == (44, 70)  # never beyond the frame
    assert window_size(np.zeros((3, 18, 3), np.float32), (128, 96), 8) == (128, 96)  # nobody


def test_window_origin_centres_on_the_skeleton_and_stays_inside_the_frame():
    a, b = pose_between(40, 40, 60, 80), pose_between(50, 40, 70, 80)
    assert window_origin([a], (32, 48), (128, 128)) == (34, 36)
    assert window_origin([a, b], (32, 48), (128, 128)) == (39, 36)  # the pair's union box
    assert window_origin([pose_between(0, 0, 10, 10)], (32, 48), (128, 128)) == (0, 0)
    assert window_origin([pose_between(120, 120, 127, 127)], (32, 48), (128, 128)) == (96, 80)
    empty = np.zeros((18, 3), np.float32)
    assert window_origin([empty], (32, 48), (128, 128), fallback=(7, 9)) == (7, 9)
    assert window_origin([empty], (32, 48), (128, 128)) == (48, 40)
    shifted = shift_keypoints(np.stack([a, empty]), (34, 36))
    np.testing.assert_allclose(shifted[0, 0], (6, 4, 1))
    assert not shifted[1].any()  # missing joints stay 0


def test_body_box_grows_by_the_margin_and_clips_to_the_image():
    box = body_box(pose_between(40, 40, 60, 80), (128, 128), margin=0.1)  # pad 4 px
    assert box == (36, 36, 65, 85)
    assert body_box(pose_between(2, 2, 60, 80), (64, 64), margin=0.1) == (0, 0, 64, 64)


def test_training_pairs_are_cut_at_the_window_with_the_plate_under_it(tmp_path):
    cfg = tiny_config()
    cfg.generator.person_window = True
    trainer = make_trainer(tmp_path / "w", cfg, window=(16, 24))
    pair = trainer.batch(0)
    i = int(trainer.pairs[batch_indices(0, 1, len(trainer.pairs), trainer.seed)[0]])
    x0, y0 = trainer.origins[i]
    assert pair.label_t.shape == (1, 3, 24, 16) and pair.mask_t1.shape == (1, 1, 24, 16)
    plate = trainer.model.generator.plate
    assert torch.equal(pair.plate[0], plate[:, y0:y0 + 24, x0:x0 + 16])
    np.testing.assert_allclose(pair.keypoints_t1[0], shift_keypoints(trainer.target.keypoints[i + 1],
                                                                     (x0, y0)))
    for j in trainer.pairs:  # each window holds both frames' skeletons
        for pose in trainer.target.keypoints[j:j + 2]:
            seen = pose[pose[:, 2] > 0, :2]
            ox, oy = trainer.origins[j]
            assert (seen >= (ox, oy)).all() and (seen < (ox + 16, oy + 24)).all()
    losses = trainer.step()
    assert all(torch.isfinite(v) for v in losses.values())


def test_a_window_as_large_as_the_frame_renders_the_whole_frame_identically():
    torch.manual_seed(0)
    cfg = tiny_config().generator
    plate = tiny_target().plate()
    fast = FastGenerator(build_generator(cfg, 0, plate), Precision(CPU, fast=False))
    labels = [torch.randn(1, 3, SIZE, SIZE) for _ in range(3)]
    whole = list(generate_video(fast, labels))
    windowed = list(generate_video(fast, labels, [(0, 0, SIZE, SIZE)] * 3))
    for a, b in zip(whole, windowed):
        assert torch.allclose(a, b, atol=1e-6)


def test_renderer_draws_inside_the_window_and_shows_the_plate_outside(tmp_path):
    cfg = tiny_config()
    cfg.generator.person_window = True
    trainer = make_trainer(tmp_path / "r", cfg, window=(16, 24))
    with torch.no_grad():  # a visible person everywhere the generator draws
        trainer.model.generator.base.model[-2].bias.copy_(torch.tensor([2.0, -2.0, 2.0, 2.0]))
    trainer.save()
    TargetInfo("tiny", (0, 8), (SIZE, SIZE), (SIZE, SIZE), 12.0, {}, window=(16, 24)).save(tmp_path / "r")
    renderer = Renderer(tmp_path / "r", CPU)
    keypoints = tiny_target().keypoints
    _, frames, _ = render_all(renderer, keypoints)
    plate = ((trainer.model.generator.plate.permute(1, 2, 0) + 1) * 127.5).round().numpy()
    for frame, (x0, y0, x1, y1) in zip(frames, renderer.windows(keypoints)):
        inside = np.zeros(frame.shape[:2], bool)
        inside[y0:y1, x0:x1] = True
        assert np.abs(frame[~inside].astype(float) - plate[~inside]).max() <= 1
        assert np.abs(frame[inside].astype(float) - plate[inside]).mean() > 50


def test_face_stage_on_windows_keeps_the_frames_face_crop_side(tmp_path):
    cfg = tiny_config(face=True)
    cfg.generator.person_window = True
    trainer = make_trainer(tmp_path / "f", cfg, stage=1, window=(16, 24))
    assert trainer.model.face_side == face_box_side((SIZE, SIZE))
    pair = trainer.batch(0)
    box = face_crop_box(pair.keypoints_t1[0], (24, 16), trainer.model.face_side)
    assert box is not None and box[2] - box[0] == face_box_side((SIZE, SIZE))
    assert all(torch.isfinite(v) for v in trainer.step().values())


def test_person_window_needs_a_composite_generator():
    cfg = tiny_config(composite=False).generator
    cfg.person_window = True
    with pytest.raises(ConfigError, match="needs generator.composite"):
        build_generator(cfg, 0)

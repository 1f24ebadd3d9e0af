"""EDN's face GAN: fixed-size face crops, the residual generator and the face training stage."""
import dataclasses

import numpy as np
import pytest
import torch

from edn.core.config import FaceConfig
from edn.core.errors import ConfigError
from edn.core.face_box import face_crop_box
from edn.core.run import TargetInfo
from edn.core.window import crop, paste
from edn.inference.transfer import Renderer
from edn.models.face import build_face_generator, refine_faces
from edn.training.face_stage import FaceStage, degraded_faces
from tests.helpers.rendering import render_all
from tests.helpers.tiny_training import make_trainer, tiny_config, tiny_target


def face_stage(run_dir, cfg, body_steps: int = 1):
    """A face-stage trainer started from a body stage trained ``body_steps`` steps."""
    body = make_trainer(run_dir, cfg)
    for _ in range(body_steps):
        body.step()
    face = make_trainer(run_dir, cfg, stage=1)
    face.start_from_stage(body.state())
    return body, face


def nose_at(x: float, y: float) -> np.ndarray:
    pose = np.zeros((18, 3))
    pose[0] = (x, y, 1.0)
    return pose


def test_face_crops_keep_their_full_size_at_the_borders():
    size = (256, 256)  # side 64 at 256 px
    assert face_crop_box(nose_at(100, 80), size) == (68, 48, 132, 112)
    assert face_crop_box(nose_at(5, 3), size) == (0, 0, 64, 64)
    assert face_crop_box(nose_at(250, 254), size) == (192, 192, 256, 256)
    assert face_crop_box(np.zeros((18, 3)), size) is None
    assert face_crop_box(nose_at(-3, 100), size) is None  # the head is out of the frame
    assert face_crop_box(nose_at(100, 256), size) is None


def test_crop_and_paste_touch_only_the_boxes():
    images = torch.rand(2, 3, 16, 16)
    boxes = [(0, 0, 4, 4), (10, 5, 14, 9)]
    crops = crop(images, boxes)
    assert crops.shape == (2, 3, 4, 4)
    assert torch.equal(paste(images, crops, boxes), images)
    changed = paste(images, torch.zeros_like(crops), boxes)
    assert torch.equal(changed[1, :, 5:9, 10:14], torch.zeros(3, 4, 4))
    outside = torch.ones(16, 16, dtype=torch.bool)
    outside[5:9, 10:14] = False
    assert torch.equal(changed[1][:, outside], images[1][:, outside])


def test_the_residual_generator_starts_as_the_identity_and_refines_only_faces():
    generator = build_face_generator(FaceConfig(ngf=4, n_downsampling=1, n_blocks=1), 3, 3)
    frames, labels = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    keypoints = np.stack([nose_at(16, 10), np.zeros((18, 3))])  # frame 1 shows no face

    def residual(label, face):
        return generator(torch.cat([label, face], 1))

    assert torch.equal(refine_faces(residual, frames, labels, keypoints), frames)
    with torch.no_grad():
        generator.model[-2].bias.fill_(0.5)  # a residual of tanh(0.5) everywhere
    out = refine_faces(residual, frames, labels, keypoints)
    x0, y0, x1, y1 = face_crop_box(keypoints[0], (32, 32))
    expected = (frames[0, :, y0:y1, x0:x1] + np.tanh(0.5)).clamp(-1, 1)
    torch.testing.assert_close(out[0, :, y0:y1, x0:x1], expected)
    out[0, :, y0:y1, x0:x1] = frames[0, :, y0:y1, x0:x1]
    assert torch.equal(out, frames)  # nothing else changed, frame 1 not at all


def test_face_stage_trains_the_face_and_freezes_the_body(tmp_path):
    body, face = face_stage(tmp_path / "f", tiny_config(face=True), body_steps=2)
    assert isinstance(face.model, FaceStage)
    trained_body = {k: v.clone() for k, v in body.model.generator.state_dict().items()}
    start = {k: v.clone() for k, v in face.model.face_generator.state_dict().items()}
    losses = [face.step() for _ in range(3)]
    assert all(torch.isfinite(v) for step in losses for v in step.values())
    assert {"g_gan", "g_feat", "g_l1", "d_real", "d_fake"} <= losses[0].keys()
    assert "g_ssim" not in losses[0]  # weight 0: not computed
    after_body = face.model.generator.state_dict()
    assert all(torch.equal(after_body[k], v) for k, v in trained_body.items()), "body changed"
    after = face.model.face_generator.state_dict()
    assert any(not torch.equal(after[k], v) for k, v in start.items()), "face did not train"
    preview = face.preview()
    assert preview.shape == (3, 3, 32, 96) and torch.isfinite(preview).all()


def test_face_stage_ssim_term_raises_the_refined_faces_ssim(tmp_path):
    cfg = tiny_config(face=True)
    cfg.loss = dataclasses.replace(cfg.loss, feat_match=0.0, l1=0.0, ssim=100.0)
    cfg.train.stages[1] = dataclasses.replace(cfg.train.stages[1], iterations=100)  # no decay yet
    _, face = face_stage(tmp_path / "s", cfg)
    pairs = [face.batch(i) for i in range(len(face.pairs))]

    def dissimilarity() -> float:  # 1 - SSIM over every pair's face
        with torch.no_grad():
            return float(np.mean([face.model.loss_terms(p)["g_ssim"].item() for p in pairs]))

    before = dissimilarity()
    for _ in range(12):
        face.step()
    after = dissimilarity()
    assert 0 < after < 0.85 * before <= 2


def test_degraded_faces_are_the_crops_moved_within_the_shift_and_the_frame():
    frames = torch.arange(2 * 20 * 20, dtype=torch.float32).view(2, 1, 20, 20)
    boxes = [(0, 0, 8, 8), (5, 6, 13, 14)]
    assert torch.equal(degraded_faces(frames, boxes, 0, 0.0), crop(frames, boxes))
    torch.manual_seed(0)
    offsets = set()
    for _ in range(200):
        faces = degraded_faces(frames, boxes, 2, 0.0)
        for i, (x0, y0, _, _) in enumerate(boxes):
            y, x = divmod(int(faces[i, 0, 0, 0].item()) - i * 400, 20)
            assert torch.equal(faces[i], frames[i, :, y:y + 8, x:x + 8])
            offsets.add((i, x - x0, y - y0))
    assert {(dx, dy) for i, dx, dy in offsets if i == 0} == {(dx, dy) for dx in range(3) for dy in range(3)}
    assert {(dx, dy) for i, dx, dy in offsets if i == 1} == {(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3)}
    point = torch.zeros(1, 1, 30, 30)
    point[0, 0, 15, 15] = 1  # the middle of the crop at (5, 5, 25, 25)
    peaks = []
    for _ in range(20):
        blurred = degraded_faces(point, [(5, 5, 25, 25)], 0, 2.0)[0, 0]
        # spread (sigma up to 2 px, its kernel within the crop): the same sum, the peak no
        # lower than a sigma-2 Gaussian's and still the maximum, as much 1 px left as right
        assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5)
        assert 1 / (2 * np.pi * 4) * 0.9 < blurred[10, 10].item() <= 1
        assert blurred.argmax().item() == 10 * 20 + 10
        assert blurred[10, 9].item() == pytest.approx(blurred[10, 11].item(), abs=1e-6)
        peaks.append(blurred[10, 10].item())
    assert len(set(peaks)) > 10 and min(peaks) < 0.1  # a new sigma each time, some near 2


@pytest.mark.parametrize("degrade", [False, True])
def test_face_stage_resumes_exactly(tmp_path, degrade):
    cfg = tiny_config(face=True)
    if degrade:
        cfg.face = dataclasses.replace(cfg.face, train_shift=0.25, train_blur=0.1)
    body = make_trainer(tmp_path / "b", cfg)
    body.step()
    straight = make_trainer(tmp_path / "s", cfg, stage=1)
    straight.start_from_stage(body.state())
    straight.train(progress=False, save_every=100)
    first = make_trainer(tmp_path / "r", cfg, stage=1)
    first.start_from_stage(body.state())
    for _ in range(2):
        first.step()
    first.save()
    resumed = make_trainer(tmp_path / "r", cfg, stage=1)
    assert resumed.resume() and resumed.iteration == 2
    resumed.train(progress=False, save_every=100)
    a = straight.model.state_dict()["face_generator"]
    b = resumed.model.state_dict()["face_generator"]
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed face weights differ"


def test_face_stage_trains_only_on_pairs_that_show_a_face(tmp_path):
    cfg = tiny_config(face=True)
    trainer = make_trainer(tmp_path / "p", cfg, stage=1)
    assert list(trainer.pairs) == list(range(7))  # every tiny frame shows its nose
    target = tiny_target()
    target.keypoints[[2, 5], 0, 2] = 0  # frames 2 and 5 without a face
    faces = type(trainer)(cfg, target, tmp_path / "q", torch.device("cpu"), stage=1, seed=3,
                          plate=target.plate())
    assert list(faces.pairs) == [0, 2, 3, 5, 6]  # pair i ends on frame i + 1
    seen = {int(i) for k in range(10) for i in faces.pairs[[k % 5]]}
    assert seen == {0, 2, 3, 5, 6}
    assert faces.batch(0).keypoints_t1[0, 0, 2] == 1


def test_face_stage_without_temporal_smoothing(tmp_path):
    _, face = face_stage(tmp_path / "n", tiny_config(face=True, temporal=False))
    assert all(torch.isfinite(v) for v in face.step().values())


def test_face_crops_must_fit_the_face_generator(tmp_path):
    cfg = tiny_config(face=True)
    cfg.face = dataclasses.replace(cfg.face, n_downsampling=4)  # 8-px crops at 32 px
    with pytest.raises(ConfigError, match="not a multiple of 16"):
        make_trainer(tmp_path / "c", cfg, stage=1)


def test_renderer_refines_faces_but_feeds_the_body_output_forward(tmp_path):
    _, face = face_stage(tmp_path / "r", tiny_config(face=True))
    with torch.no_grad():
        face.model.face_generator.model[-2].bias.fill_(0.5)  # a visible residual
    face.save()
    target = tiny_target()
    TargetInfo("tiny", (0, 8), (32, 32), (32, 32), 12.0, {}).save(tmp_path / "r")
    keypoints = target.keypoints
    labels, plain, refined = render_all(Renderer(tmp_path / "r", torch.device("cpu")), keypoints)
    _, without, none = render_all(Renderer(tmp_path / "r", torch.device("cpu"), face=False), keypoints)
    assert none is None
    assert np.array_equal(plain, without)  # the next frame never saw a refined face
    assert np.any(refined != plain)
    for i, kp in enumerate(keypoints):
        x0, y0, x1, y1 = face_crop_box(kp, (32, 32))
        outside = refined[i].copy()
        outside[y0:y1, x0:x1] = plain[i, y0:y1, x0:x1]
        assert np.array_equal(outside, plain[i])  # only the face box changed

"""EDN's face GAN: fixed-size face crops, the residual generator and the face training stage."""
import numpy as np
import torch

from edn.face_stage import FaceStage, training_box
from edn.models.face import build_face_generator, crop, face_crop_box, paste, refine_faces
from tiny_training import make_trainer, tiny_config


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
    assert training_box(np.zeros((18, 3)), size) == (96, 96, 160, 160)  # the image centre


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
    generator = build_face_generator(3, 3, ngf=4, n_downsampling=1, n_blocks=1)
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
    cfg = tiny_config(face=True)
    body = make_trainer(tmp_path / "f", cfg)
    for _ in range(2):
        body.step()
    face = make_trainer(tmp_path / "f", cfg, stage=1)
    assert isinstance(face.model, FaceStage)
    face.start_from_stage(body.state())
    trained_body = {k: v.clone() for k, v in body.model.generator.state_dict().items()}
    start = {k: v.clone() for k, v in face.model.face_generator.state_dict().items()}
    losses = [face.step() for _ in range(3)]
    assert all(torch.isfinite(v) for step in losses for v in step.values())
    assert {"g_gan", "g_feat", "g_l1", "d_real", "d_fake"} <= losses[0].keys()
    after_body = face.model.generator.state_dict()
    assert all(torch.equal(after_body[k], v) for k, v in trained_body.items()), "body changed"
    after = face.model.face_generator.state_dict()
    assert any(not torch.equal(after[k], v) for k, v in start.items()), "face did not train"
    preview = face.preview()
    assert preview.shape == (3, 3, 32, 96) and torch.isfinite(preview).all()


def test_face_stage_resumes_exactly(tmp_path):
    cfg = tiny_config(face=True)
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

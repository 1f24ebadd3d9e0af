import json
import logging

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from edn.core.config import Config, FaceConfig
from edn.models.losses import VGG19_FILE, VGGLoss, feature_matching_loss, flow_warp_loss, lsgan_loss, ssim
from edn.training.presets import preset


def scale(*features: torch.Tensor) -> list[torch.Tensor]:
    return list(features)


def test_lsgan_targets_are_one_for_real_and_zero_for_fake():
    ones = [scale(torch.zeros(1, 4, 3, 3), torch.ones(1, 1, 5, 5)) for _ in range(2)]
    zeros = [scale(torch.zeros(1, 4, 3, 3), torch.zeros(1, 1, 5, 5)) for _ in range(2)]
    assert lsgan_loss(ones, True).item() == 0
    assert lsgan_loss(zeros, False).item() == 0
    # Squared distance 1 at every patch, averaged per scale, summed over the 2 scales.
    assert lsgan_loss(zeros, True).item() == pytest.approx(2.0)
    assert lsgan_loss(ones, False).item() == pytest.approx(2.0)
    half = [scale(torch.full((1, 1, 2, 2), 0.5))]
    assert lsgan_loss(half, True).item() == pytest.approx(0.25)


def test_ssim_is_scikit_images_and_has_a_gradient():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 40, 36, 3)).astype(np.uint8)
    b = np.clip(a + rng.integers(-60, 60, a.shape), 0, 255).astype(np.uint8)
    dark = (a // 4).astype(np.uint8)  # the luminance term: not shift invariant

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1

    for other in (b, dark):
        expected = np.mean([structural_similarity(p, q, channel_axis=2, data_range=255)
                            for p, q in zip(a, other)])
        assert ssim(tensor(a), tensor(other)).item() == pytest.approx(expected, abs=1e-5)
    assert ssim(tensor(a), tensor(a)).item() == pytest.approx(1.0)
    fake = tensor(b).requires_grad_()
    (1 - ssim(fake, tensor(a))).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_feature_matching_zero_for_identical_features():
    feats = [scale(torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4), torch.randn(1, 1, 3, 3))]
    assert feature_matching_loss(feats, feats).item() == 0


def test_feature_matching_hand_computed():
    # One scale of a 1-layer PatchGAN: 3 outputs (2 feature maps + scores), so each feature
    # layer weighs 4 / (n_layers + 1) = 2; scores are ignored.
    fake = [scale(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 2, 2), torch.zeros(1, 1, 2, 2))]
    real = [scale(torch.ones(1, 2, 4, 4), torch.full((1, 2, 2, 2), 3.0), torch.full((1, 1, 2, 2), 9.0))]
    # 2 * |0 - 1| + 2 * |0 - 3| = 8 (the caller weighs the term)
    assert feature_matching_loss(fake, real).item() == pytest.approx(8.0)
    # Two identical scales average (1 / num_D each): same value.
    assert feature_matching_loss(fake * 2, real * 2).item() == pytest.approx(8.0)


def test_feature_matching_does_not_train_through_real_features():
    fake_feat = torch.zeros(1, 2, 4, 4, requires_grad=True)
    real_feat = torch.ones(1, 2, 4, 4, requires_grad=True)
    loss = feature_matching_loss([scale(fake_feat, torch.zeros(1, 1, 2, 2))],
                                 [scale(real_feat, torch.zeros(1, 1, 2, 2))])
    loss.backward()
    assert real_feat.grad is None
    assert fake_feat.grad is not None


def test_vgg_loss_off_without_weights(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="edn.models.losses"):
        assert VGGLoss.from_weights_dir(tmp_path) is None
    assert "VGG perceptual loss OFF" in caplog.text
    assert not (tmp_path / VGG19_FILE).exists()  # nothing was downloaded


def test_vgg_loss_on_with_weights(tmp_path, caplog):
    from torchvision.models import vgg19

    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in vgg19(weights=None).features.state_dict().items()}
    torch.save(state, tmp_path / VGG19_FILE)
    with caplog.at_level(logging.INFO, logger="edn.models.losses"):
        loss = VGGLoss.from_weights_dir(tmp_path)
    assert loss is not None and "VGG perceptual loss ON" in caplog.text
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    assert loss(a, a).item() == 0
    assert loss(a, b).item() > 0
    assert all(not p.requires_grad for p in loss.parameters())
    assert torch.equal(loss.features.slices[0][0].weight, state["features.0.weight"])


@pytest.mark.parametrize("name", ["paper", "cpu"])
def test_config_presets_round_trip_through_json(tmp_path, name):
    cfg = preset(name)
    cfg.save(tmp_path / "config.json")
    assert Config.load(tmp_path / "config.json") == cfg


def test_paper_preset_stages():
    stages = preset("paper").train.stages
    assert [(s.width, s.height, s.n_local_enhancers, s.face) for s in stages] == [
        (512, 256, 0, False), (1024, 512, 1, False), (1024, 512, 1, True)]


def test_a_config_saved_before_temporal_and_face_existed_still_loads(tmp_path):
    raw = json.loads(preset("cpu").to_json())
    del raw["generator"]["temporal"], raw["face"]
    raw["train"]["stages"] = raw["train"]["stages"][:1]
    del raw["train"]["stages"][0]["face"]
    (tmp_path / "old.json").write_text(json.dumps(raw))
    cfg = Config.load(tmp_path / "old.json")
    assert cfg.generator.temporal and not cfg.train.stages[0].face
    assert cfg.face == FaceConfig() and len(cfg.train.stages) == 1


def test_flow_warp_loss_is_zero_where_the_flow_explains_the_change():
    rng = np.random.default_rng(0)
    previous = torch.from_numpy(rng.uniform(-1, 1, (1, 3, 20, 30))).float().requires_grad_()
    current = torch.roll(previous.detach(), 3, dims=3)  # moved 3 px right
    grid = torch.stack(torch.meshgrid(torch.arange(30.0), torch.arange(20.0), indexing="xy"), -1)[None]
    came_from = grid - torch.tensor([3.0, 0.0])  # each pixel came from 3 px to its left
    followed = torch.ones(1, 1, 20, 30)
    followed[..., :3] = 0  # rolled in from the right edge: no flow explains those
    loss = flow_warp_loss(previous, current, came_from, followed)
    assert loss.item() == pytest.approx(0, abs=1e-5)
    still = flow_warp_loss(previous, current, grid, followed)  # a flow that says "nothing moved"
    assert still.item() == pytest.approx((current - previous).abs()[..., 3:].mean().item(), rel=1e-5)
    assert still.item() > 0.5
    still.backward()
    assert previous.grad is not None and previous.grad[..., 3:].abs().sum() > 0
    # Only followed pixels count: nothing followed, nothing to learn.
    assert flow_warp_loss(previous, current, grid, torch.zeros_like(followed)).item() == 0

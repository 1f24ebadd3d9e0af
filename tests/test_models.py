import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edn.core.config import DiscriminatorConfig, GeneratorConfig, LossConfig, TrainConfig
from edn.core.runtime import ENV_VAR, Precision, cpu_plan
from edn.inference.fast import FastGenerator, generate_video
from edn.models.build import build_discriminator, build_generator
from edn.models.discriminator import MultiscaleDiscriminator, NLayerDiscriminator
from edn.models.generator import GlobalGenerator, LocalEnhancer, ResnetBlock
from edn.models.losses import face_l1
from edn.models.narrow_conv import NarrowConv
from edn.models.winograd import WinogradConv, WinogradConv3x3
from edn.training.pix2pixhd_stage import TemporalPix2PixHD
from edn.training.stage import FramePair, generate_pair

# bf16 keeps 8 mantissa bits (relative step 2**-8 = 0.004); through a few instance-normed
# layers of a tiny random generator the tanh output stays within this of fp32.
BF16_TOLERANCE = 0.05
# The fp32 fast path only reorders fp32 sums (Winograd, the narrow head).
FP32_TOLERANCE = 1e-4
TOLERANCE = {"bf16": BF16_TOLERANCE, "fp32": FP32_TOLERANCE}
CPU = torch.device("cpu")


def tiny_generator(**kw) -> GlobalGenerator:
    torch.manual_seed(0)
    args = dict(input_nc=6, output_nc=3, ngf=8, n_downsampling=2, n_blocks=2)
    return GlobalGenerator(**{**args, **kw})


def test_global_generator_shape_and_tanh_range():
    g = tiny_generator()
    with torch.no_grad():
        g.model[-2].weight.mul_(100)  # the RGB head's conv: pushes tanh into saturation
    y = g(torch.randn(2, 6, 32, 48))
    assert y.shape == (2, 3, 32, 48)
    assert y.abs().max() <= 1.0
    assert y.abs().max() > 0.99


def test_global_generator_widths_follow_the_paper():
    g = GlobalGenerator(6, 3, ngf=64, n_downsampling=4, n_blocks=9)
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].kernel_size == (7, 7) and convs[0].in_channels == 6
    assert [c.out_channels for c in convs[1:5]] == [128, 256, 512, 1024]
    assert sum(isinstance(m, ResnetBlock) for m in g.modules()) == 9
    assert convs[-1].out_channels == 3 and convs[-1].kernel_size == (7, 7)


def test_instance_norm_gives_each_channel_zero_mean_unit_variance():
    g = tiny_generator()
    norm_out = {}
    # model = [pad, conv, norm, relu, ...]; clone before the in-place ReLU.
    g.model[2].register_forward_hook(lambda m, i, o: norm_out.update(out=o.clone()))
    g(torch.randn(2, 6, 32, 32) * 5 + 3)
    out = norm_out["out"]
    assert torch.allclose(out.mean(dim=(2, 3)), torch.zeros(2, 8), atol=1e-5)
    assert torch.allclose(out.var(dim=(2, 3), correction=0), torch.ones(2, 8), atol=1e-3)


def test_resnet_block_is_identity_when_its_last_conv_is_zero():
    block = ResnetBlock(4)
    torch.nn.init.zeros_(block.body[-2].weight)
    x = torch.randn(1, 4, 8, 8)
    assert torch.equal(block(x), x)


def test_local_enhancer_doubles_resolution_and_reuses_global_trunk():
    torch.manual_seed(0)
    g1 = GlobalGenerator(6, 3, ngf=16, n_downsampling=2, n_blocks=1)
    g = LocalEnhancer(6, 3, ngf=8, n_downsample_global=2, n_blocks_global=1, n_local_enhancers=1, n_blocks_local=1)
    g.load_global(g1)
    first_conv = g.global_trunk[1].weight
    assert first_conv.shape == (16, 6, 7, 7)
    assert torch.equal(first_conv, g1.model[1].weight)
    y = g(torch.randn(1, 6, 32, 64))
    assert y.shape == (1, 3, 32, 64) and y.abs().max() <= 1


def test_temporal_input_channels():
    cfg = GeneratorConfig()
    g = build_generator(cfg, 0)
    assert g.model[1].in_channels == 6  # label (3) + previous output (3)
    d = build_discriminator(DiscriminatorConfig(), cfg)
    assert d.scales[0].layers[0][0].in_channels == 12  # (label_t, label_t1, frame_t, frame_t1)
    local = build_generator(cfg, 1)
    assert isinstance(local, LocalEnhancer)
    assert local.global_trunk[1].out_channels == 64 and local.fronts[0][1].out_channels == 32


def test_patchgan_features_and_shapes():
    d = NLayerDiscriminator(12, ndf=8, n_layers=3)
    feats = d(torch.randn(1, 12, 64, 64))
    # k4, pad 2: stride 2 maps 64 -> 33 -> 17 -> 9; stride 1 grows by one: 10, 11.
    assert [f.shape[1:] for f in feats] == [
        (8, 33, 33), (16, 17, 17), (32, 9, 9), (64, 10, 10), (1, 11, 11)
    ]
    assert feats[0].min() < 0  # LeakyReLU lets negatives through (times 0.2)


def test_multiscale_discriminator_second_scale_sees_avg_pooled_input():
    torch.manual_seed(0)
    d = MultiscaleDiscriminator(12, ndf=8, n_layers=3, num_d=2)
    x = torch.randn(1, 12, 64, 64)
    out = d(x)
    assert len(out) == 2 and len(out[1]) == 5
    pooled = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    assert pooled.shape[-1] == 32
    expected = d.scales[1](pooled)
    assert all(torch.allclose(a, b) for a, b in zip(out[1], expected))


def test_batched_discriminator_equals_separate_calls():
    # The training step judges fake and real in one batch; instance norm keeps that exact.
    torch.manual_seed(0)
    d = MultiscaleDiscriminator(12, ndf=8, n_layers=3, num_d=2)
    a, b = torch.randn(1, 12, 32, 32), torch.randn(1, 12, 32, 32)
    both = d(torch.cat([a, b]))
    for scale_both, scale_a in zip(both, d(a)):
        for f_both, f_a in zip(scale_both, scale_a):
            assert torch.allclose(f_both[:1], f_a, atol=1e-5)


def test_generate_pair_feeds_first_output_into_second():
    g = tiny_generator()
    label_t, label_t1 = torch.randn(1, 3, 16, 16), torch.randn(1, 3, 16, 16)
    fake_t, fake_t1, masks = generate_pair(g, label_t, label_t1)
    assert masks is None
    assert torch.equal(fake_t, g(torch.cat([label_t, torch.zeros(1, 3, 16, 16)], 1)))
    assert torch.equal(fake_t1, g(torch.cat([label_t1, fake_t], 1)))


def test_bf16_path_autocasts_close_to_fp32():
    g = tiny_generator()
    x = torch.randn(1, 6, 32, 32)
    ref = g(x)
    with Precision(CPU, cpu=cpu_plan("bf16")).autocast():
        y = g(x)
    assert y.dtype == torch.bfloat16
    assert (y.float() - ref).abs().max() < BF16_TOLERANCE


def test_fp32_path_and_plain_fp32_do_not_autocast():
    g = tiny_generator()
    x = torch.randn(1, 6, 32, 32)
    for precision in (Precision(CPU, cpu=cpu_plan("fp32")), Precision(CPU, fast=False, cpu=cpu_plan("bf16"))):
        assert not precision.enabled
        with precision.autocast():
            assert torch.equal(g(x), g(x).float())
    assert Precision(CPU, cpu=cpu_plan("fp32")).fp32_fast
    assert not Precision(CPU, fast=False, cpu=cpu_plan("fp32")).fp32_fast


@pytest.mark.parametrize("path", ["bf16", "fp32"])
def test_fast_generator_and_video_match_fp32(path):
    # fp32: 256-channel blocks, which its Winograd takes; bf16 is emulated (slow) on some CPUs.
    g = tiny_generator(ngf=64 if path == "fp32" else 8, n_blocks=1)
    fast = FastGenerator(g, Precision(CPU, cpu=cpu_plan(path)))
    if path == "fp32":
        assert fast.dtype == torch.float32
        assert sum(isinstance(m, WinogradConv3x3) for m in fast.model.modules()) == 2
        assert sum(isinstance(m, NarrowConv) for m in fast.model.modules()) == 1  # the RGB head
    else:
        assert fast.dtype == torch.bfloat16
    labels = [torch.randn(1, 3, 32, 32) for _ in range(3)]
    prev = torch.zeros(1, 3, 32, 32)
    for label, frame in zip(labels, generate_video(fast, labels)):
        with torch.no_grad():
            prev = g(torch.cat([label, prev], 1))
        assert frame.dtype == torch.float32
        assert (frame - prev).abs().max() < TOLERANCE[path]
    assert next(g.parameters()).dtype == torch.float32  # the trained model is left alone


def test_environment_variable_forces_the_path_of_every_stage(monkeypatch):
    for path, autocast in (("bf16", True), ("fp32", False)):
        monkeypatch.setenv(ENV_VAR, path)
        assert Precision(CPU).enabled is autocast
        torch.manual_seed(0)
        g = GlobalGenerator(6, 3, ngf=64, n_downsampling=2, n_blocks=1)
        step = TemporalPix2PixHD(g, MultiscaleDiscriminator(12, 8, 2, 1), LossConfig(vgg=0.0), TrainConfig())
        assert step.precision.cpu.path == path
        assert any(isinstance(m, WinogradConv) for m in step.generator.modules()) is (path == "fp32")


@pytest.mark.parametrize("fast,path", [(False, "fp32"), (True, "bf16"), (True, "fp32")])
def test_training_steps_reduce_l1_on_one_sample(fast, path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, path)
    torch.manual_seed(0)
    ngf = 64 if fast and path == "fp32" else 8  # 256-channel blocks for the fp32 path's Winograd
    g = GlobalGenerator(6, 3, ngf=ngf, n_downsampling=2, n_blocks=1)
    d = MultiscaleDiscriminator(12, ndf=8, n_layers=2, num_d=2)
    # L1 dominates so a handful of steps must pull the output towards the fixed target.
    step = TemporalPix2PixHD(g, d, LossConfig(feat_match=1.0, vgg=0.0, l1=100.0), TrainConfig(lr=2e-3, fast=fast))
    target = torch.linspace(-0.8, 0.8, 32).expand(1, 3, 32, 32).contiguous()
    label = torch.randn(1, 3, 32, 32)
    pair = FramePair(label, label, target, target)
    l1 = [step.step(pair)["g_l1"].item() / 100 for _ in range(30)]
    # The GAN terms make single steps jump (0.18 -> 0.25 -> 0.18 on the fp32 path of an
    # AMD EPYC): judge the last five together.
    end = sum(l1[-5:]) / 5
    assert end < 0.5 * l1[0]
    assert end < 0.3


def _nose_at(x: float, y: float) -> np.ndarray:
    pose = np.zeros((18, 3), np.float32)
    pose[0] = x, y, 1.0  # the nose: the face box's centre
    return pose


def test_face_l1_is_the_mean_over_each_face_box_and_skips_frames_without_a_face():
    # 64x64 frames: the face box is 16 px (128 at 512 px); the nose at (20, 30) puts it at
    # x 12..28, y 22..38.
    real = torch.zeros(3, 3, 64, 64)
    fake = real.clone()
    fake[:, :, 22:38, 12:28] = 0.5  # inside every frame's face box
    fake[:, :, 50:, 50:] = 1.0  # outside it: not counted
    fake[2] = 0.9  # frame 2 has no face in the image: not counted at all
    poses = np.stack([_nose_at(20, 30), _nose_at(20, 30), _nose_at(-5, 30)])
    assert face_l1(fake, real, poses).item() == pytest.approx(0.5)
    fake[1, :, 22:38, 12:20] = 0.0  # half of frame 1's box right
    assert face_l1(fake, real, poses).item() == pytest.approx(0.375)
    # A window of a larger frame: the box side is the frame's (32 px for 128 px frames).
    assert face_l1(fake, real, poses[:1], side=32).item() == pytest.approx(0.5 * 16 * 16 / (32 * 32))
    assert face_l1(fake, real, poses[2:]).item() == 0.0


def test_face_l1_term_trains_the_face_box():
    """With only the face L1 (and a weak GAN), steps pull the face box towards the real frame
    and leave the rest of the frame free."""
    torch.manual_seed(0)
    g = GlobalGenerator(6, 3, ngf=8, n_downsampling=2, n_blocks=1)
    d = MultiscaleDiscriminator(12, ndf=8, n_layers=2, num_d=1)
    step = TemporalPix2PixHD(g, d, LossConfig(feat_match=0.0, vgg=0.0, l1=0.0, face_l1=100.0),
                             TrainConfig(lr=2e-3, fast=False))
    target = torch.linspace(-0.8, 0.8, 64).expand(1, 3, 64, 64).contiguous()
    label = torch.randn(1, 3, 64, 64)
    poses = _nose_at(20, 30)[None]
    pair = FramePair(label, label, target, target, keypoints_t1=poses)
    losses = [step.step(pair) for _ in range(20)]
    assert "g_l1" not in losses[0]
    face = [x["g_face_l1"].item() / 100 for x in losses]
    assert face[-1] < 0.5 * face[0]
    with torch.no_grad():
        _, frame = generate_pair(step.generator, label, label)[:2]
    inside = face_l1(frame, target, poses).item()
    assert inside == pytest.approx(face[-1], abs=0.1)
    assert (frame - target).abs()[..., 44:, 44:].mean().item() > 2 * inside


def test_fp32_winograd_training_step_matches_the_plain_step(monkeypatch):
    """Same weights, same pair: a step on the fp32 fast path and one in plain fp32 give the
    same losses and the same gradients, up to fp32 reordering. (Updated weights are not
    compared: Adam's first step moves every weight by about lr, whatever the gradient's size,
    so a gradient that is zero up to rounding may move either way.)"""
    torch.manual_seed(0)
    g = GlobalGenerator(6, 3, ngf=64, n_downsampling=2, n_blocks=2)
    d = MultiscaleDiscriminator(12, ndf=8, n_layers=2, num_d=2)
    frames = [torch.rand(1, 3, 32, 32) * 2 - 1 for _ in range(4)]
    steps = {}
    monkeypatch.setenv(ENV_VAR, "fp32")
    for fast in (True, False):  # the fp32 fast path; plain fp32
        steps[fast] = TemporalPix2PixHD(copy.deepcopy(g), copy.deepcopy(d), LossConfig(vgg=0.0, l1=10.0),
                                        TrainConfig(fast=fast))
    assert sum(isinstance(m, WinogradConv) for m in steps[True].generator.modules()) == 4
    losses = {fast: s.step(FramePair(*frames)) for fast, s in steps.items()}
    for k, v in losses[False].items():
        assert abs(losses[True][k].item() - v.item()) <= 1e-5 * max(1.0, abs(v.item())), k
    fast_params = dict(steps[True].generator.named_parameters())
    plain_params = dict(steps[False].generator.named_parameters())
    assert fast_params.keys() == plain_params.keys()  # checkpoints load into the plain generator
    for k, p in plain_params.items():
        assert (fast_params[k].grad - p.grad).abs().max() <= 1e-3 * p.grad.abs().max(), k

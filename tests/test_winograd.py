"""Winograd F(2x2, 3x3) and F(4x4, 3x3) convolutions and the narrow head against torch's
direct convolution, forward and backward, on both CPU paths."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edn.core.runtime import Precision, cpu_plan, keep_freed_memory
from edn.inference.fast import FastGenerator
from edn.models.generator import GlobalGenerator
from edn.models.narrow_conv import NarrowConv, use_narrow_conv
from edn.models.winograd import (
    WinogradConv,
    WinogradConv3x3,
    tile_for,
    transform_weight,
    use_winograd,
    winograd_conv3x3,
)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape", [(2, 5, 8, 8), (1, 3, 7, 9), (1, 4, 3, 3), (1, 6, 14, 11)])
def test_matches_direct_convolution_in_fp32(shape, m):
    torch.manual_seed(0)
    x = torch.randn(shape)
    weight, bias = torch.randn(6, shape[1], 3, 3), torch.randn(6)
    out = winograd_conv3x3(x, transform_weight(weight, m), bias, m)
    ref = F.conv2d(x, weight, bias)
    assert out.shape == ref.shape  # output sizes that are not a multiple of m are padded and cropped
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("m", [2, 4])
def test_gradients_match_direct_convolution(m):
    torch.manual_seed(0)
    x = torch.randn(2, 5, 11, 10, requires_grad=True)
    conv = nn.Conv2d(5, 7, 3)
    grad_out = torch.randn(2, 7, 9, 8)
    F.conv2d(x, conv.weight, conv.bias).backward(grad_out)
    ref = x.grad.clone(), conv.weight.grad.clone(), conv.bias.grad.clone()
    x.grad = None
    weight = conv.weight.detach().clone().requires_grad_()
    bias = conv.bias.detach().clone().requires_grad_()
    winograd_conv3x3(x, transform_weight(weight, m), bias, m).backward(grad_out)
    for got, want in zip((x.grad, weight.grad, bias.grad), ref):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_fp32_error_is_far_below_bf16():
    """F(4x4)'s larger coefficients cost accuracy (largest error measured 9.7e-6 of the
    output's largest value at 256 channels, F(2x2) 6.4e-7, direct 2.6e-7): still far below
    bf16's rounding (2**-8 = 3.9e-3)."""
    torch.manual_seed(0)
    x, weight = torch.randn(1, 256, 34, 34), torch.randn(256, 256, 3, 3) * 0.02
    ref = F.conv2d(x.double(), weight.double()).float()
    scale = ref.abs().max()
    f2 = (winograd_conv3x3(x, transform_weight(weight, 2), None, 2) - ref).abs().max() / scale
    f4 = (winograd_conv3x3(x, transform_weight(weight, 4), None, 4) - ref).abs().max() / scale
    assert f2 < 1e-5 and f4 < 2e-5, (f2, f4)


def test_bf16_error_stays_near_direct_bf16():
    torch.manual_seed(0)
    x, weight = torch.randn(1, 64, 10, 10), torch.randn(32, 64, 3, 3) * 0.05
    ref = F.conv2d(x, weight)
    direct = (F.conv2d(x.bfloat16(), weight.bfloat16()).float() - ref).abs().max()
    wino = (winograd_conv3x3(x.bfloat16(), transform_weight(weight).bfloat16(), None).float()
            - ref).abs().max()
    assert wino < 3 * direct + 1e-3, (wino, direct)


def test_tile_follows_the_output_size():
    assert tile_for(16, 16) == 2 and tile_for(8, 32) == 2
    assert tile_for(32, 32) == 4 and tile_for(17, 16) == 4


def test_only_wide_unpadded_3x3_convolutions_are_replaced():
    model = nn.Sequential(nn.Conv2d(8, 8, 3), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, stride=2),
                          nn.Sequential(nn.Conv2d(8, 8, 3)), nn.Conv2d(4, 4, 3))
    assert use_winograd(model, torch.float32, min_channels=8) == 2
    assert [type(m).__name__ for m in model] == ["WinogradConv3x3", "Conv2d", "Conv2d", "Sequential", "Conv2d"]
    assert isinstance(model[3][0], WinogradConv3x3)


def test_trainable_winograd_keeps_parameters_and_transforms_once_per_update():
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 3)
    model = nn.Sequential(conv)
    assert use_winograd(model, torch.float32, 8, trainable=True) == 1
    layer = model[0]
    assert isinstance(layer, WinogradConv) and isinstance(layer, nn.Conv2d)
    assert layer.state_dict().keys() == conv.state_dict().keys()
    assert torch.equal(layer.weight, conv.weight)
    assert use_winograd(model, torch.float32, 8, trainable=True) == 0  # already Winograd

    calls = []
    original = WinogradConv._transformed_weight

    def counting(self, m):
        u = original(self, m)
        calls.append(u)
        return u

    x = torch.randn(1, 8, 6, 6)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    WinogradConv._transformed_weight = counting
    try:
        for _ in range(2):  # two updates, each with two passes (like EDN's frame pair)
            y = layer(x)
            loss = (layer(y.detach().mean() + x) ** 2).mean() + y.pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        WinogradConv._transformed_weight = original
    assert len(calls) == 4 and calls[0] is calls[1] and calls[2] is calls[3] and calls[1] is not calls[2]
    # The summed gradient of both passes reached the weight: same as the direct convolution.
    ref = copy.deepcopy(conv)
    with torch.no_grad():
        ref.weight.copy_(layer.weight)
        ref.bias.copy_(layer.bias)
    y_ref, y = ref(x), layer(x)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    copy.deepcopy(model)  # an inference copy after training leaves the cached graph behind


def test_fast_generator_winograd_on_each_path():
    torch.manual_seed(0)
    g = GlobalGenerator(6, 3, ngf=32, n_downsampling=4, n_blocks=2)  # 512-channel blocks
    label, prev = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        ref = g(torch.cat([label, prev], 1))
    for path, tolerance in (("bf16", 0.1), ("fp32", 1e-4)):  # bench: bf16 0.075 at ngf 64, 256x256
        fast = FastGenerator(g, Precision(torch.device("cpu"), cpu=cpu_plan(path)))
        wino = [m for m in fast.model.modules() if isinstance(m, WinogradConv3x3)]
        assert len(wino) == 4
        assert all(m.m == (2 if path == "bf16" else None) for m in wino)
        assert (fast(label, prev) - ref).abs().max() < tolerance, path


def test_plain_fp32_inference_is_left_plain():
    g = GlobalGenerator(6, 3, ngf=32, n_downsampling=4, n_blocks=1)
    fast = FastGenerator(g, Precision(torch.device("cpu"), fast=False, cpu=cpu_plan("fp32")))
    assert not any(isinstance(m, (WinogradConv3x3, NarrowConv)) for m in fast.model.modules())


def test_narrow_head_matches_direct_convolution():
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 4, 7)
    model = nn.Sequential(nn.Conv2d(16, 16, 7), conv, nn.Conv2d(16, 3, 3))
    with torch.no_grad():
        x = torch.randn(2, 16, 23, 19)
        ref = conv(x)
        assert use_narrow_conv(model) == 1  # only the 7x7 with few outputs
        assert isinstance(model[1], NarrowConv)
        torch.testing.assert_close(model[1](x), ref, atol=1e-4, rtol=1e-4)


def test_keep_freed_memory_applies_on_glibc():
    import platform
    applied = keep_freed_memory()
    assert applied == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")

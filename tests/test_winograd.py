"""Winograd F(2x2, 3x3) convolution against torch's direct convolution."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edn.fast import FastGenerator, Precision, keep_freed_memory
from edn.models.generator import GlobalGenerator
from edn.models.winograd import WinogradConv3x3, transform_weight, use_winograd, winograd_conv3x3


@pytest.mark.parametrize("shape", [(2, 5, 8, 8), (1, 3, 7, 9), (1, 4, 3, 3)])
def test_matches_direct_convolution_in_fp32(shape):
    torch.manual_seed(0)
    x = torch.randn(shape)
    weight, bias = torch.randn(6, shape[1], 3, 3), torch.randn(6)
    out = winograd_conv3x3(x, transform_weight(weight), bias)
    ref = F.conv2d(x, weight, bias)
    assert out.shape == ref.shape  # odd output sizes are padded and cropped
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_bf16_error_stays_near_direct_bf16():
    torch.manual_seed(0)
    x, weight = torch.randn(1, 64, 10, 10), torch.randn(32, 64, 3, 3) * 0.05
    ref = F.conv2d(x, weight)
    direct = (F.conv2d(x.bfloat16(), weight.bfloat16()).float() - ref).abs().max()
    wino = (winograd_conv3x3(x.bfloat16(), transform_weight(weight).bfloat16(), None).float()
            - ref).abs().max()
    assert wino < 3 * direct + 1e-3, (wino, direct)


def test_only_wide_unpadded_3x3_convolutions_are_replaced():
    model = nn.Sequential(nn.Conv2d(8, 8, 3), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, stride=2),
                          nn.Sequential(nn.Conv2d(8, 8, 3)), nn.Conv2d(4, 4, 3))
    assert use_winograd(model, torch.float32, min_channels=8) == 2
    assert [type(m).__name__ for m in model] == ["WinogradConv3x3", "Conv2d", "Conv2d", "Sequential", "Conv2d"]
    assert isinstance(model[3][0], WinogradConv3x3)


def test_fast_generator_uses_winograd_for_the_wide_residual_blocks():
    torch.manual_seed(0)
    g = GlobalGenerator(6, 3, ngf=32, n_downsampling=4, n_blocks=2)  # 512-channel blocks
    fast = FastGenerator(g, Precision(torch.device("cpu")))
    if fast.dtype == torch.bfloat16:
        assert sum(isinstance(m, WinogradConv3x3) for m in fast.model.modules()) == 4
    label, prev = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        ref = g(torch.cat([label, prev], 1))
    assert (fast(label, prev) - ref).abs().max() < 0.1  # bench: 0.06 at ngf 64, 256x256


def test_keep_freed_memory_applies_on_glibc():
    import platform
    applied = keep_freed_memory()
    assert applied == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")

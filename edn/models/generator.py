"""pix2pixHD generators: the global generator and the local enhancer (Wang et al. 2018).

Every convolution that feeds an affine-free instance norm has no bias: the norm subtracts
the per-channel mean, so a bias would be cancelled exactly and only cost time.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReflectionPad(nn.Module):
    """Reflection padding that keeps the input's dtype under autocast. CPU autocast runs
    reflection_pad2d in fp32, which turns every padded bf16 map into two extra copies;
    padding is exact in any dtype."""

    def __init__(self, padding: int) -> None:
        super().__init__()
        self.padding = (padding,) * 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return F.pad(x, self.padding, mode="reflect")


def _norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False)


def _conv_norm_relu(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    """Convolution + instance norm + ReLU; 7x7 stems use reflect padding, strided 3x3 use zeros."""
    layers: list[nn.Module] = []
    if kernel == 7:
        layers.append(ReflectionPad(3))
        padding = 0
    else:
        padding = kernel // 2
    layers += [
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=False),
        _norm(out_ch),
        nn.ReLU(inplace=True),
    ]
    return layers


def _up_norm_relu(in_ch: int, out_ch: int) -> list[nn.Module]:
    """Nearest-neighbour 2x upsampling, then a 3x3 convolution (Odena et al. 2016, "Deconvolution
    and Checkerboard Artifacts"). pix2pixHD's stride-2 transposed convolution overlaps its
    kernel unevenly, which early in training paints a regular dot texture over the person."""
    return [
        nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
        _norm(out_ch),
        nn.ReLU(inplace=True),
    ]


def _to_rgb(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [ReflectionPad(3), nn.Conv2d(in_ch, out_ch, 7), nn.Tanh()]


class ResnetBlock(nn.Module):
    """x + (reflect-pad, conv3x3, IN, ReLU, reflect-pad, conv3x3, IN)(x)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ReflectionPad(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            _norm(channels),
            nn.ReLU(inplace=True),
            ReflectionPad(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _global_trunk(input_nc: int, ngf: int, n_downsampling: int, n_blocks: int) -> list[nn.Module]:
    """Global generator up to (not including) its RGB head; ends with `ngf` channels."""
    layers = _conv_norm_relu(input_nc, ngf, 7)
    for i in range(n_downsampling):
        layers += _conv_norm_relu(ngf * 2**i, ngf * 2 ** (i + 1), 3, stride=2)
    bottleneck = ngf * 2**n_downsampling
    layers += [ResnetBlock(bottleneck) for _ in range(n_blocks)]
    for i in range(n_downsampling, 0, -1):
        layers += _up_norm_relu(ngf * 2**i, ngf * 2 ** (i - 1))
    return layers


def generator_input(label_map: torch.Tensor, prev_output: torch.Tensor, temporal: bool) -> torch.Tensor:
    """What G sees: with EDN's temporal smoothing the label map stacked with the previous
    output frame, else the label map alone."""
    return torch.cat([label_map, prev_output], 1) if temporal else label_map


class GlobalGenerator(nn.Module):
    """G1 of pix2pixHD: 7x7 stem, `n_downsampling` stride-2 convs, `n_blocks` ResNet blocks,
    resize-convolution upsampling and a tanh RGB head. Input height/width must be divisible by
    2**n_downsampling."""

    def __init__(
        self,
        input_nc: int,
        output_nc: int = 3,
        ngf: int = 64,
        n_downsampling: int = 4,
        n_blocks: int = 9,
    ) -> None:
        super().__init__()
        self.output_nc = output_nc
        self.model = nn.Sequential(
            *_global_trunk(input_nc, ngf, n_downsampling, n_blocks), *_to_rgb(ngf, output_nc)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LocalEnhancer(nn.Module):
    """G = {G1, G2}: the global generator runs on the input average-pooled by
    2**n_local_enhancers; each enhancer adds its full-resolution front-end features to the
    coarser stage's last feature map before its own residual blocks and upsampling.

    `ngf` is the finest enhancer's width; the global generator gets ngf * 2**n_local_enhancers,
    as in pix2pixHD, so `global_generator` can load a trained GlobalGenerator's trunk."""

    def __init__(
        self,
        input_nc: int,
        output_nc: int = 3,
        ngf: int = 32,
        n_downsample_global: int = 4,
        n_blocks_global: int = 9,
        n_local_enhancers: int = 1,
        n_blocks_local: int = 3,
    ) -> None:
        super().__init__()
        self.output_nc = output_nc
        ngf_global = ngf * 2**n_local_enhancers
        self.global_trunk = nn.Sequential(
            *_global_trunk(input_nc, ngf_global, n_downsample_global, n_blocks_global)
        )
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.fronts = nn.ModuleList()
        self.backs = nn.ModuleList()
        # Coarsest enhancer first, so the loop in forward walks from low to high resolution.
        for n in range(n_local_enhancers, 0, -1):
            width = ngf * 2 ** (n - 1)
            self.fronts.append(
                nn.Sequential(
                    *_conv_norm_relu(input_nc, width, 7),
                    *_conv_norm_relu(width, width * 2, 3, stride=2),
                )
            )
            back: list[nn.Module] = [ResnetBlock(width * 2) for _ in range(n_blocks_local)]
            back += _up_norm_relu(width * 2, width)
            if n == 1:
                back += _to_rgb(width, output_nc)
            self.backs.append(nn.Sequential(*back))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pyramid = [x]
        for _ in self.fronts:
            pyramid.append(self.downsample(pyramid[-1]))
        features = self.global_trunk(pyramid[-1])
        for front, back, level in zip(self.fronts, self.backs, reversed(pyramid[:-1])):
            features = back(front(level) + features)
        return features

    def load_global(self, generator: GlobalGenerator) -> None:
        """Start the global stage from a trained GlobalGenerator (its RGB head is dropped)."""
        trunk_len = len(self.global_trunk)
        state = {
            k.removeprefix("model."): v
            for k, v in generator.state_dict().items()
            if int(k.split(".")[1]) < trunk_len
        }
        self.global_trunk.load_state_dict(state)

"""pix2pixHD discriminators: a PatchGAN and its multiscale stack, both exposing the
intermediate features the feature-matching loss compares."""
from __future__ import annotations

import torch
from torch import nn

_KERNEL = 4
_PAD = 2  # ceil((4 - 1) / 2), as in pix2pixHD: every layer grows the map by one pixel


class NLayerDiscriminator(nn.Module):
    """PatchGAN: `n_layers` stride-2 4x4 convs (the first without norm), one stride-1 conv and a
    1-channel stride-1 conv giving the patch scores; LeakyReLU 0.2, instance norm, widths
    capped at 512. Returns every layer's output, the scores last."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        widths = [min(ndf * 2**i, 512) for i in range(n_layers + 1)]
        layers = [self._block(input_nc, widths[0], stride=2, norm=False)]
        layers += [self._block(widths[i - 1], widths[i], stride=2) for i in range(1, n_layers)]
        layers.append(self._block(widths[-2], widths[-1], stride=1))
        layers.append(nn.Conv2d(widths[-1], 1, _KERNEL, stride=1, padding=_PAD))
        self.layers = nn.ModuleList(layers)

    @staticmethod
    def _block(in_ch: int, out_ch: int, stride: int, norm: bool = True) -> nn.Sequential:
        # No bias before an affine-free instance norm: the norm would cancel it.
        conv = nn.Conv2d(in_ch, out_ch, _KERNEL, stride=stride, padding=_PAD, bias=not norm)
        body: list[nn.Module] = [conv]
        if norm:
            body.append(nn.InstanceNorm2d(out_ch, affine=False))
        body.append(nn.LeakyReLU(0.2, inplace=True))
        return nn.Sequential(*body)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(nn.Module):
    """`num_d` PatchGANs, the i-th judging the input average-pooled (3x3, stride 2) i times.
    Returns one feature list per scale, finest scale first."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, num_d: int = 2) -> None:
        super().__init__()
        self.scales = nn.ModuleList(
            NLayerDiscriminator(input_nc, ndf, n_layers) for _ in range(num_d)
        )
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for i, scale in enumerate(self.scales):
            if i > 0:
                x = self.downsample(x)
            outputs.append(scale(x))
        return outputs

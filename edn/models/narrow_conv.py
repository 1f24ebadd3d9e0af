"""Convolutions with very few output channels (pix2pixHD's 7x7 RGB head), for inference.

oneDNN runs a 7x7 convolution to 3 channels at a fraction of its usual speed (64 -> 3 at
256x256: 32-57 ms on the 2-core AVX-512 machine, against ~10 ms for as many multiply-adds in
a wide layer). Computed instead as one wide matrix product, every tap's (out x in) weights
stacked into (k k out) rows, followed by k^2 shifted sums of the small (out)-channel maps:
22-24 ms at 64 channels, 7.4-10.2 at 32 (bench/winograd_speed.py --head, two runs).
"""
from __future__ import annotations

import torch
from torch import nn

MAX_OUT_CHANNELS = 4  # RGB, or RGB + the composite's mask


def is_narrow(conv: nn.Module) -> bool:
    return (isinstance(conv, nn.Conv2d) and conv.out_channels <= MAX_OUT_CHANNELS
            and conv.kernel_size[0] == conv.kernel_size[1] >= 5 and conv.stride == (1, 1)
            and conv.padding == (0, 0) and conv.dilation == (1, 1) and conv.groups == 1)


class NarrowConv(nn.Module):
    """Inference stand-in for a stride-1, unpadded k x k nn.Conv2d with few outputs."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if not is_narrow(conv):
            raise ValueError(f"not a narrow stride-1 unpadded convolution: {conv}")
        self.k = conv.kernel_size[0]
        self.out_channels = conv.out_channels
        w = conv.weight.detach()  # (out, in, k, k) -> rows (ky, kx, out)
        self.register_buffer("rows", w.permute(2, 3, 0, 1).reshape(-1, conv.in_channels).contiguous())
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        k, o = self.k, self.out_channels
        oh, ow = h - k + 1, w - k + 1
        z = torch.matmul(self.rows, x.reshape(b, c, h * w)).view(b, k, k, o, h, w)
        y = z[:, 0, 0, :, :oh, :ow].clone()
        for ky in range(k):
            for kx in range(k):
                if ky or kx:
                    y += z[:, ky, kx, :, ky:ky + oh, kx:kx + ow]
        if self.bias is not None:
            y += self.bias.view(1, -1, 1, 1)
        return y


def use_narrow_conv(model: nn.Module) -> int:
    """Replace, in place, every narrow convolution (``is_narrow``) by ``NarrowConv``;
    returns how many were replaced."""
    replaced = 0
    for name, child in model.named_children():
        if is_narrow(child):
            setattr(model, name, NarrowConv(child))
            replaced += 1
        else:
            replaced += use_narrow_conv(child)
    return replaced

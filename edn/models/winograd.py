"""Winograd F(2x2, 3x3) convolution for inference (Lavin & Gray, 2016).

A 3x3 convolution computed on 4x4 input tiles with stride 2: each tile is transformed
(additions only), the channel mixing becomes 16 independent matrix products of the
pre-transformed weights with the tiles, and each 4x4 product is folded back into a 2x2
output block. 16 products of (out x in) x (in x tiles) replace 9 x 4 = 36 multiplies per
output block: 2.25x fewer multiply-adds. On this 2-core AVX-512-bf16 CPU a 1024-channel 3x3
convolution at 16x16 (pix2pixHD's residual blocks at ngf 64) takes 13.1 ms directly in bf16
and 5.8 ms in the matrix products (bench/synthesis_speed.py measures the whole generator).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Kernel transform G (4x3) of F(2x2, 3x3).
_G = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def transform_weight(weight: torch.Tensor) -> torch.Tensor:
    """(out, in, 3, 3) -> (16, out, in): G w G^T for each channel pair, in fp32."""
    g = _G.to(weight.device)
    out, inp = weight.shape[:2]
    return torch.einsum("ij,ocjk,lk->iloc", g, weight.float(), g).reshape(16, out, inp)


def _input_rows(x: torch.Tensor, n: int, dim: int) -> list[torch.Tensor]:
    """B^T applied along ``dim`` to the stride-2 4-tiles: 4 views combined by additions."""
    index: list[slice] = [slice(None)] * x.dim()
    d = []
    for k in range(4):
        index[dim] = slice(k, k + 2 * n - 1, 2)  # rows k, k + 2, ..., k + 2 (n - 1)
        d.append(x[tuple(index)])
    return [d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]]


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A stride-1, unpadded 3x3 convolution of x (B, in, H, W) with pre-transformed weights
    ``u`` (16, out, in) (``transform_weight``); odd output sizes are padded and cropped.
    The tile transforms run in fp32 (as fast as bf16 on CPU and half the error), the
    products in ``u``'s dtype; the result has x's dtype."""
    dtype = x.dtype
    x = x.float()
    b, c, h, w = x.shape
    oh, ow = h - 2, w - 2
    ph, pw = oh % 2, ow % 2
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    nh, nw = (oh + ph) // 2, (ow + pw) // 2
    rows = _input_rows(x, nh, 2)  # 4 x (B, C, nh, W)
    tiles = [t for r in rows for t in _input_rows(r, nw, 3)]  # 16 x (B, C, nh, nw)
    # (16, B, C, nh, nw) -> (16, C, B nh nw): a view when B == 1.
    v = torch.stack(tiles).transpose(1, 2).reshape(16, c, b * nh * nw).to(u.dtype)
    m = torch.matmul(u, v).float().unflatten(2, (b, nh, nw)).unflatten(0, (4, 4))  # (4, 4, out, B, nh, nw)
    # A^T = [[1, 1, 1, 0], [0, 1, -1, -1]] on both tile axes.
    r0, r1 = m[0] + m[1] + m[2], m[1] - m[2] - m[3]
    y = torch.stack([torch.stack([r[0] + r[1] + r[2], r[1] - r[2] - r[3]], -1) for r in (r0, r1)], -3)
    # y: (out, B, nh, 2, nw, 2) -> (B, out, 2 nh, 2 nw)
    y = y.reshape(-1, b, 2 * nh, 2 * nw).transpose(0, 1)[:, :, :oh, :ow]
    if bias is not None:
        y = y + bias.float().view(1, -1, 1, 1)
    return y.to(dtype).contiguous()


class WinogradConv3x3(nn.Module):
    """Inference stand-in for a stride-1, unpadded, ungrouped 3x3 nn.Conv2d, weights
    transformed once (in fp32, then stored in ``dtype``)."""

    def __init__(self, conv: nn.Conv2d, dtype: torch.dtype) -> None:
        super().__init__()
        if not is_winograd_compatible(conv):
            raise ValueError(f"not a stride-1 unpadded 3x3 convolution: {conv}")
        self.register_buffer("u", transform_weight(conv.weight.detach()).to(dtype))
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().to(dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return winograd_conv3x3(x, self.u, self.bias)


def is_winograd_compatible(conv: nn.Module) -> bool:
    return (isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (0, 0) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros")


def use_winograd(model: nn.Module, dtype: torch.dtype, min_channels: int) -> int:
    """Replace, in place, every compatible 3x3 convolution with at least ``min_channels``
    input channels by its Winograd form; returns how many were replaced."""
    replaced = 0
    for name, child in model.named_children():
        if is_winograd_compatible(child) and child.in_channels >= min_channels:
            setattr(model, name, WinogradConv3x3(child, dtype))
            replaced += 1
        else:
            replaced += use_winograd(child, dtype, min_channels)
    return replaced

"""Winograd F(m x m, 3x3) convolution (Lavin & Gray, 2016), for inference and training.

A stride-1 3x3 convolution computed on overlapping (m + 2)-square input tiles with stride m:
each tile is transformed (B^T d B), the channel mixing becomes (m + 2)^2 independent matrix
products of the transformed weights (G w G^T) with the tiles, and each product is folded
back into an m x m output block (A^T M A). Multiplies per output block: (m + 2)^2 instead of
9 m^2, i.e. 2.25x fewer for F(2x2) and 4x fewer for F(4x4).

Every transform here is one matrix product with the Kronecker square of the 1-D transform,
so the inverse transforms of the backward pass are the transposed products. ``WinogradConv``
trains: its gradients are the exact gradients of the Winograd computation (the weight
gradient goes back through G w G^T), and its weight transform is done once per weight
update, however many times the layer runs in between (EDN's two generator passes per pair).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

_TRANSFORMS = {
    # m: (B^T, G, A^T), from Lavin & Gray (2016).
    2: ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]]),
    4: ([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
         [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
         [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
}
TILES = tuple(_TRANSFORMS)


def tile_for(out_h: int, out_w: int) -> int:
    """The faster tile for an fp32 convolution with this output size, forward + backward
    (bench/winograd_speed.py, AVX512 machine): F(2x2) up to 16x16 outputs (1024 channels at
    16x16: 79 ms vs 106 for F(4x4), 110 direct), F(4x4) above (256 channels at 32x32: 16.2 vs
    20.3 ms, 21.2 direct). F(4x4)'s weights are 4x the direct ones, and at 16x16 its few tiles
    cannot amortise reading them. The bf16 path keeps F(2x2): F(4x4)'s larger coefficients
    would amplify bf16's rounding."""
    return 2 if out_h * out_w <= 256 else 4


@functools.cache
def _kron(m: int, which: int, device: torch.device) -> torch.Tensor:
    """The 2-D transform as one matrix, fp32: kron(T, T) for T = B^T, G or A^T. Made outside
    inference mode, so that a first call from inference leaves a tensor training can use."""
    with torch.inference_mode(False):
        t = torch.tensor(_TRANSFORMS[m][which], dtype=torch.float64)
        return torch.kron(t, t).float().to(device)


def _check_tile(m: int) -> None:
    if m not in _TRANSFORMS:
        raise ValueError(f"Winograd tile {m} not supported; one of {TILES}")


def transform_weight(weight: torch.Tensor, m: int = 2) -> torch.Tensor:
    """(out, in, 3, 3) -> (a^2, out, in), a = m + 2: G w G^T for each channel pair, fp32.
    Differentiable (one matrix product), so the weight gradient flows back through it."""
    _check_tile(m)
    out, inp = weight.shape[:2]
    g = _kron(m, 1, weight.device)  # (a^2, 9)
    return torch.mm(g, weight.float().reshape(out * inp, 9).t()).view(-1, out, inp)


def _tile_counts(h: int, w: int, m: int) -> tuple[int, int]:
    return -(-(h - 2) // m), -(-(w - 2) // m)


def _input_transform(x: torch.Tensor, m: int) -> torch.Tensor:
    """(B, C, H, W) fp32 -> V (a^2, C, B nh nw): B^T d B of every tile (zero-padded at the
    bottom/right so that the tiles cover the output)."""
    a = m + 2
    b, c, h, w = x.shape
    nh, nw = _tile_counts(h, w, m)
    x = F.pad(x, (0, nw * m + 2 - w, 0, nh * m + 2 - h))
    tiles = x.unfold(2, a, m).unfold(3, a, m)  # (B, C, nh, nw, a, a), a view
    tiles = tiles.permute(4, 5, 1, 0, 2, 3).reshape(a * a, -1)  # (a^2, C B nh nw), one copy
    return torch.mm(_kron(m, 0, x.device), tiles).view(a * a, c, b * nh * nw)


def _output_transform(prod: torch.Tensor, m: int, b: int, nh: int, nw: int, oh: int, ow: int) -> torch.Tensor:
    """M (a^2, out, B nh nw) -> (B, out, oh, ow): A^T M A of every tile, blocks put in place."""
    out = prod.shape[1]
    y = torch.mm(_kron(m, 2, prod.device), prod.reshape(prod.shape[0], -1))  # (m^2, out B nh nw)
    y = y.view(m, m, out, b, nh, nw).permute(3, 2, 4, 0, 5, 1).reshape(b, out, nh * m, nw * m)
    return y[:, :, :oh, :ow]


def _grad_output_transform(dy: torch.Tensor, m: int, nh: int, nw: int) -> torch.Tensor:
    """dY (B, out, oh, ow) -> dM (a^2, out, B nh nw): the transpose of ``_output_transform``."""
    b, out, oh, ow = dy.shape
    dy = F.pad(dy, (0, nw * m - ow, 0, nh * m - oh)).view(b, out, nh, m, nw, m)
    dy = dy.permute(3, 5, 1, 0, 2, 4).reshape(m * m, -1)
    return torch.mm(_kron(m, 2, dy.device).t(), dy).view(-1, out, b * nh * nw)


def _grad_input_transform(dv_t: torch.Tensor, m: int, shape: torch.Size) -> torch.Tensor:
    """dV^T (a^2, B nh nw, C) -> dX (B, C, H, W): the transpose of ``_input_transform``
    (overlapping tiles summed by F.fold)."""
    a = m + 2
    b, c, h, w = shape
    nh, nw = _tile_counts(h, w, m)
    dt = torch.mm(_kron(m, 0, dv_t.device).t(), dv_t.reshape(a * a, -1))  # (a^2, B nh nw C)
    dt = dt.view(a * a, b, nh * nw, c).permute(1, 3, 0, 2).reshape(b, c * a * a, nh * nw)
    dx = F.fold(dt, (nh * m + 2, nw * m + 2), a, stride=m)
    return dx[:, :, :h, :w]


class _WinogradFunction(torch.autograd.Function):
    """y = conv3x3(x, w) from U = G w G^T; gradients for x and U."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, u: torch.Tensor, m: int) -> torch.Tensor:  # type: ignore[override]
        b, _, h, w = x.shape
        nh, nw = _tile_counts(h, w, m)
        v = _input_transform(x, m)
        y = _output_transform(torch.bmm(u, v), m, b, nh, nw, h - 2, w - 2)
        ctx.save_for_backward(v, u)
        ctx.m, ctx.shape = m, x.shape
        return y.contiguous()

    @staticmethod
    def backward(ctx, dy: torch.Tensor):  # type: ignore[override]
        v, u = ctx.saved_tensors
        m, shape = ctx.m, ctx.shape
        nh, nw = _tile_counts(shape[2], shape[3], m)
        dm = _grad_output_transform(dy.float(), m, nh, nw)  # (a^2, out, P)
        du = torch.bmm(dm, v.transpose(1, 2)) if ctx.needs_input_grad[1] else None
        dx = None
        if ctx.needs_input_grad[0]:
            # dV^T = dM^T U: (a^2, P, in); as fast as U^T dM is slow (U's transpose).
            dx = _grad_input_transform(torch.bmm(dm.transpose(1, 2), u), m, shape)
        return dx, du, None


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None, m: int = 2) -> torch.Tensor:
    """A stride-1, unpadded 3x3 convolution of x (B, in, H, W) with pre-transformed weights
    ``u`` (a^2, out, in) (``transform_weight``); output sizes that are not a multiple of m
    are padded and cropped. The tile transforms run in fp32, the products in ``u``'s dtype;
    the result has x's dtype. Differentiable in x and u when u is fp32."""
    _check_tile(m)
    dtype = x.dtype
    if u.dtype == torch.float32:
        y = _WinogradFunction.apply(x.float(), u, m)
    else:  # reduced-precision products: inference only
        b, _, h, w = x.shape
        nh, nw = _tile_counts(h, w, m)
        prod = torch.bmm(u, _input_transform(x.float(), m).to(u.dtype)).float()
        y = _output_transform(prod, m, b, nh, nw, h - 2, w - 2)
    if bias is not None:
        y = y + bias.float().view(1, -1, 1, 1)
    return y.to(dtype).contiguous()


class WinogradConv3x3(nn.Module):
    """Inference stand-in for a stride-1, unpadded, ungrouped 3x3 nn.Conv2d. With a tile
    ``m`` the weights are transformed once (in fp32, then stored in ``dtype``); with
    ``m=None`` (fp32 only) the tile follows each input's size (``tile_for``), each tile's
    transform made on first use."""

    def __init__(self, conv: nn.Conv2d, dtype: torch.dtype, m: int | None = 2) -> None:
        super().__init__()
        if not is_winograd_compatible(conv):
            raise ValueError(f"not a stride-1 unpadded 3x3 convolution: {conv}")
        if m is None and dtype != torch.float32:
            raise ValueError("a size-dependent tile is for fp32 products only")
        self.m = m
        weight = conv.weight.detach().float()
        self.register_buffer("u", None if m is None else transform_weight(weight, m).to(dtype))
        self.register_buffer("weight", weight if m is None else None)
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().to(dtype))
        self._by_tile: dict[int, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.m is not None:
            return winograd_conv3x3(x, self.u, self.bias, self.m)
        m = tile_for(x.shape[2] - 2, x.shape[3] - 2)
        if m not in self._by_tile:
            self._by_tile[m] = transform_weight(self.weight, m)
        return winograd_conv3x3(x, self._by_tile[m], self.bias, m)


class WinogradConv(nn.Conv2d):
    """A trainable stride-1, unpadded 3x3 nn.Conv2d computed by Winograd in fp32 (tile by
    ``tile_for``): the same parameters and state_dict keys as the convolution it replaces.
    G w G^T is computed once per weight version (an optimiser step bumps it) and reused by
    every call until then; its gradient, summed over those calls, goes back to the weight
    once."""

    def __init__(self, conv: nn.Conv2d) -> None:
        if not is_winograd_compatible(conv):
            raise ValueError(f"not a stride-1 unpadded 3x3 convolution: {conv}")
        super().__init__(conv.in_channels, conv.out_channels, 3, bias=conv.bias is not None,
                         device=conv.weight.device, dtype=conv.weight.dtype)
        self.load_state_dict(conv.state_dict())
        self._cached: tuple[tuple[int, int, bool], torch.Tensor] | None = None

    def _transformed_weight(self, m: int) -> torch.Tensor:
        graph = torch.is_grad_enabled() and self.weight.requires_grad
        key = (m, self.weight._version, graph)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        u = transform_weight(self.weight, m)
        if graph:  # once its summed gradient has gone back to the weight, the graph is spent
            u.register_hook(self._forget)
        self._cached = (key, u)
        return u

    def _forget(self, grad: torch.Tensor) -> None:
        self._cached = None

    def __getstate__(self) -> dict:  # copies (e.g. an inference copy) leave the cache behind
        return {**self.__dict__, "_cached": None}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32:  # under autocast: the plain convolution
            return super().forward(x)
        m = tile_for(x.shape[2] - 2, x.shape[3] - 2)
        return winograd_conv3x3(x, self._transformed_weight(m), self.bias, m)


def is_winograd_compatible(conv: nn.Module) -> bool:
    return (isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (0, 0) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros")


def use_winograd(model: nn.Module, dtype: torch.dtype, min_channels: int, m: int | None = 2,
                 trainable: bool = False) -> int:
    """Replace, in place, every compatible 3x3 convolution with at least ``min_channels``
    input channels by its Winograd form: ``trainable``, ``WinogradConv`` (fp32, tile by size);
    else the inference stand-in in ``dtype`` with tile ``m`` (None: by size). Returns how many
    were replaced."""
    replaced = 0
    for name, child in model.named_children():
        if (is_winograd_compatible(child) and child.in_channels >= min_channels
                and not (trainable and isinstance(child, WinogradConv))):
            setattr(model, name, WinogradConv(child) if trainable else WinogradConv3x3(child, dtype, m))
            replaced += 1
        else:
            replaced += use_winograd(child, dtype, min_channels, m, trainable)
    return replaced

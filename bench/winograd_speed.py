"""Per-layer speed of the fp32 fast path's kernels against torch's direct convolution.

For each 3x3 shape (channels, output size) of pix2pixHD's residual blocks: forward, and
forward + backward (input and weight gradients, the weight transform included, as
edn.models.winograd.WinogradConv runs it) for the direct convolution, Winograd F(2x2) and F(4x4), and the tile
edn.models.winograd.tile_for picks; and with --head the 7x7 RGB head as a
direct convolution and as edn.models.narrow_conv. Best of --runs, with the last-level cache
flushed before each run (a 256 MB write): within a training step the operands come from
memory, and a cache-resident micro-benchmark would flatter the larger Winograd weights.
Prints one JSON line per shape, with the CPU plan of the process.

    python bench/winograd_speed.py [--shapes 1024/16 512/16 256/32] [--head] [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import torch
from torch import nn

from edn.core.runtime import cpu_plan, keep_freed_memory
from edn.models.narrow_conv import NarrowConv
from edn.models.winograd import tile_for, transform_weight, winograd_conv3x3

_FLUSH = torch.empty(64 * 2**20)  # 256 MB


def best_ms(fn: Callable[[], object], runs: int) -> float:
    fn()
    best = float("inf")
    for _ in range(runs):
        _FLUSH.fill_(0.0)
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 2)


def conv_shape(channels: int, size: int, runs: int) -> dict[str, object]:
    torch.manual_seed(0)
    conv = nn.Conv2d(channels, channels, 3, bias=False)
    x = torch.randn(1, channels, size + 2, size + 2, requires_grad=True)
    grad = torch.randn(1, channels, size, size)
    result: dict[str, object] = {"channels": channels, "output": size}

    def train_step(forward: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            x.grad, conv.weight.grad = None, None
            forward(x).backward(grad)
        return run

    with torch.no_grad():
        result["direct_forward_ms"] = best_ms(lambda: conv(x), runs)
    result["direct_train_ms"] = best_ms(train_step(conv), runs)
    for m in (2, 4):
        u = transform_weight(conv.weight.detach(), m)
        with torch.no_grad():
            result[f"f{m}_forward_ms"] = best_ms(lambda: winograd_conv3x3(x, u, None, m), runs)
        # One pass of WinogradConv with this tile: G w G^T, the product and both gradients.
        result[f"f{m}_train_ms"] = best_ms(
            train_step(lambda inp: winograd_conv3x3(inp, transform_weight(conv.weight, m), None, m)), runs)
    result["tile_for"] = tile_for(size, size)
    return result


def head(channels: int, runs: int) -> dict[str, object]:
    torch.manual_seed(0)
    conv = nn.Conv2d(channels, 3, 7)
    narrow = NarrowConv(conv)
    x = torch.randn(1, channels, 262, 262)
    with torch.no_grad():
        return {"head_in_channels": channels, "direct_ms": best_ms(lambda: conv(x), runs),
                "narrow_ms": best_ms(lambda: narrow(x), runs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", default=["1024/16", "512/16", "512/32", "256/32", "256/64"],
                    metavar="CHANNELS/SIZE")
    ap.add_argument("--head", action="store_true", help="also the 7x7 RGB head at 256x256 (64 and 32 channels)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    keep_freed_memory()
    plan = cpu_plan()
    info = {"cpu_capability": plan.capability, "native_bf16": plan.native_bf16,
            "threads": torch.get_num_threads()}
    for shape in args.shapes:
        channels, size = (int(v) for v in shape.split("/"))
        print(json.dumps({**info, **conv_shape(channels, size, args.runs)}), flush=True)
    if args.head:
        for channels in (64, 32):
            print(json.dumps({**info, **head(channels, args.runs)}), flush=True)


if __name__ == "__main__":
    main()

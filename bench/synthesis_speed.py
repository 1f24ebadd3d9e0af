"""Synthesis speed: our fast path vs a plain fp32 eager run of the same architecture.

At 256x256, G input 6 channels (label map + previous output), pix2pixHD global generator
(4 downsamplings, 9 blocks) at ngf 64 and 32, 2-scale discriminator, LSGAN + feature matching.
Prints one JSON object per ngf. Variants are timed round-robin in one process (the machine
is shared), so each ratio compares times taken under the same load; `min` is the figure to
quote, `median` shows the noise.

  inference  plain: fp32 eager, torch.no_grad.  fast_eager: edn.fast.FastGenerator (bf16
             weights, inference_mode).  fast: the same compiled (torch.compile, frozen weights).
  training   plain: pix2pixHD's step written plainly in fp32 (D run on fake-detached, real and
             fake; G's backward also fills D's gradients; for-loop Adam).
             ours_fp32: edn.train_step.TemporalPix2PixHD with fast=False.
             fast: the same with fast=True (bf16 autocast); --compile-training adds
             torch.compile'd G passes (TrainConfig.compile, on in the cpu preset).
             All three train on the temporal pair (t, t+1): two G passes per iteration.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from collections.abc import Callable

import torch

from edn.config import LossConfig, TrainConfig
from edn.fast import FastGenerator, Precision
from edn.losses import feature_matching_loss, lsgan_loss
from edn.models.discriminator import MultiscaleDiscriminator
from edn.models.generator import GlobalGenerator
from edn.train_step import FramePair, TemporalPix2PixHD, generate_pair

SIZE = 256


def time_round_robin(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, dict[str, float]]:
    for fn in fns.values():  # warm-up (and compilation)
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000)
    return {k: {"min_ms": round(min(v), 1), "median_ms": round(statistics.median(v), 1)} for k, v in times.items()}


def plain_step(
    g: GlobalGenerator,
    d: MultiscaleDiscriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    pair: FramePair,
    feat_weight: float,
) -> None:
    fake_t, fake_t1, _ = generate_pair(g, pair.label_t, pair.label_t1)
    labels = torch.cat([pair.label_t, pair.label_t1], 1)
    fake = torch.cat([labels, fake_t, fake_t1], 1)
    real = torch.cat([labels, pair.real_t, pair.real_t1], 1)
    pred_fake_detached = d(fake.detach())
    pred_real = d(real)
    pred_fake = d(fake)
    loss_d = 0.5 * (lsgan_loss(pred_fake_detached, False) + lsgan_loss(pred_real, True))
    loss_g = lsgan_loss(pred_fake, True) + feature_matching_loss(pred_fake, pred_real, feat_weight)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()


def bench_inference(g: GlobalGenerator, rounds: int, compile: bool) -> dict[str, object]:
    label = torch.rand(1, 3, SIZE, SIZE) * 2 - 1
    prev = torch.rand(1, 3, SIZE, SIZE) * 2 - 1
    x = torch.cat([label, prev], 1)
    plain = copy.deepcopy(g).eval()
    precision = Precision(torch.device("cpu"))
    fast_eager = FastGenerator(g, precision)
    fast = FastGenerator(g, precision, compile=compile)

    def run_plain() -> torch.Tensor:
        with torch.no_grad():
            return plain(x)

    variants = {"plain": run_plain, "fast_eager": lambda: fast_eager(label, prev), "fast": lambda: fast(label, prev)}
    times = time_round_robin(variants, rounds)
    diff = (fast(label, prev) - run_plain()).abs()
    return {
        **times,
        "speedup": round(times["plain"]["min_ms"] / times["fast"]["min_ms"], 2),
        "speedup_eager": round(times["plain"]["min_ms"] / times["fast_eager"]["min_ms"], 2),
        "max_abs_diff": round(diff.max().item(), 4),
        "mean_abs_diff": round(diff.mean().item(), 5),
    }


def bench_training(
    g: GlobalGenerator, d: MultiscaleDiscriminator, rounds: int, compile: bool
) -> dict[str, object]:
    pair = FramePair(*(torch.rand(1, 3, SIZE, SIZE) * 2 - 1 for _ in range(4)))
    loss_cfg = LossConfig(vgg=0.0, l1=0.0)
    g_plain, d_plain = copy.deepcopy(g), copy.deepcopy(d)
    opt_g = torch.optim.Adam(g_plain.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d_plain.parameters(), 2e-4, betas=(0.5, 0.999))
    ours_fp32 = TemporalPix2PixHD(copy.deepcopy(g), copy.deepcopy(d), loss_cfg, TrainConfig(fast=False))
    fast = TemporalPix2PixHD(copy.deepcopy(g), copy.deepcopy(d), loss_cfg, TrainConfig(fast=True, compile=compile))
    first = {"ours_fp32": ours_fp32.step(pair), "fast": fast.step(pair)}  # same weights, same pair
    times = time_round_robin(
        {
            "plain": lambda: plain_step(g_plain, d_plain, opt_g, opt_d, pair, loss_cfg.feat_match),
            "ours_fp32": lambda: ours_fp32.step(pair),
            "fast": lambda: fast.step(pair),
        },
        rounds,
    )
    loss_rel_diff = {
        k: round(abs(first["fast"][k].item() - v.item()) / max(abs(v.item()), 1e-8), 4)
        for k, v in first["ours_fp32"].items()
    }
    return {
        **times,
        "speedup_vs_plain": round(times["plain"]["min_ms"] / times["fast"]["min_ms"], 2),
        "speedup_vs_ours_fp32": round(times["ours_fp32"]["min_ms"] / times["fast"]["min_ms"], 2),
        "first_step_loss_rel_diff_fast_vs_fp32": loss_rel_diff,
    }


def sweep_training(shapes: list[str], ndf: int, steps: int, compile: bool) -> None:
    """Fast-path training speed of candidate `cpu` presets: one JSON line per NGF/DOWN/BLOCKS."""
    pair = FramePair(*(torch.rand(1, 3, SIZE, SIZE) * 2 - 1 for _ in range(4)))
    for shape in shapes:
        ngf, n_down, n_blocks = (int(v) for v in shape.split("/"))
        torch.manual_seed(0)
        g = GlobalGenerator(6, 3, ngf, n_downsampling=n_down, n_blocks=n_blocks)
        d = MultiscaleDiscriminator(12, ndf=ndf, n_layers=3, num_d=2)
        step = TemporalPix2PixHD(g, d, LossConfig(vgg=0.0, l1=10.0), TrainConfig(fast=True, compile=compile))
        times = time_round_robin({"step": lambda: step.step(pair)}, steps)["step"]
        print(json.dumps({
            "ngf": ngf, "n_downsampling": n_down, "n_blocks": n_blocks, "ndf": ndf,
            "g_params_m": round(sum(p.numel() for p in g.parameters()) / 1e6, 1),
            **times, "it_per_s": round(1000 / times["min_ms"], 2),
        }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ngf", type=int, nargs="+", default=[64, 32])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per variant")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile for inference")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--compile-training", action="store_true",
                        help="fast training variant with torch.compile'd G passes (slow first step)")
    parser.add_argument("--sweep", nargs="+", metavar="NGF/DOWN/BLOCKS",
                        help="instead: fast training it/s of these generator shapes")
    parser.add_argument("--ndf", type=int, default=64, help="discriminator width for --sweep")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.sweep:
        sweep_training(args.sweep, args.ndf, args.rounds, args.compile_training)
        return
    for ngf in args.ngf:
        torch.manual_seed(0)
        g = GlobalGenerator(6, 3, ngf, n_downsampling=4, n_blocks=9)
        d = MultiscaleDiscriminator(12, ndf=64, n_layers=3, num_d=2)
        result: dict[str, object] = {
            "ngf": ngf,
            "size": SIZE,
            "threads": torch.get_num_threads(),
            "load_avg_1min_at_start": round(os.getloadavg()[0], 2),  # > 2: the cores were shared
            "g_params_m": round(sum(p.numel() for p in g.parameters()) / 1e6, 1),
            "inference": bench_inference(g, args.rounds + 2, compile=not args.no_compile),
        }
        if not args.skip_training:
            result["training"] = bench_training(g, d, args.rounds, args.compile_training)
        result["load_avg_1min_at_end"] = round(os.getloadavg()[0], 2)
        print(json.dumps(result), flush=True)
        torch._dynamo.reset()  # compiled graphs hold frozen weight copies: free them per ngf


if __name__ == "__main__":
    main()

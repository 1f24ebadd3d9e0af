"""Synthesis speed: our fast path vs a plain fp32 eager run of the same architecture.

The fast path is the one edn.core.runtime.cpu_plan() picks for this CPU (bf16 with native bf16,
else fp32 Winograd); `--cpu-path fp32` measures the fp32 path on a bf16 machine, and
`--emulate-avx2` caps oneDNN, MKL and ATen at AVX2 in the workers, to approximate an
AVX2-only CPU (the figures it gives are labelled so: a real AVX2 machine has other caches
and clocks). Each result names the CPU capability string, the host's 3x3-convolution
ceiling (fp32, 256 channels at 64x64, 2 threads, best of 10) and, per variant, the
effective GFLOP/s (the plain computation's FLOPs over the variant's time) and its fraction
of that ceiling; Winograd variants can exceed 1.

At 256x256, G input 6 channels (label map + previous output), pix2pixHD global generator
(4 downsamplings, 9 blocks) at ngf 64 and 32, 2-scale discriminator, LSGAN + feature matching.
Prints one JSON object per ngf. Each variant lives in one of two worker processes, timed
round-robin one call at a time (the machine is shared, so each ratio compares times taken
under the same load); `min` is the figure to quote, `median` shows the noise.

  worker "default": glibc's default allocator, as the reference pix2pixHD code runs.
    plain        fp32 eager: torch.no_grad for inference; for training pix2pixHD's step
                 written plainly (D on fake-detached, real and fake; G's backward also fills
                 D's gradients; for-loop Adam).
  worker "tuned": after edn.inference.fast.keep_freed_memory(), as our trainer and renderer run.
    plain_tuned  the same plain code: isolates what the allocator alone gives.
    fast_eager   inference: edn.inference.fast.FastGenerator (bf16 path: bf16 weights, bf16 Winograd
                 3x3 convolutions from 512 channels; fp32 path: fp32 Winograd from 256
                 channels, narrow RGB head; inference_mode) - what main/test.py runs.
    fast         inference: the same compiled (torch.compile, frozen weights); training:
                 edn.training.pix2pixhd_stage.TemporalPix2PixHD with fast=True (bf16 path: bf16
                 autocast; fp32 path: fp32 Winograd with its own backward);
                 --compile-training adds torch.compile'd G passes (bf16 path).
    ours_fp32    training: TemporalPix2PixHD with fast=False.
  All training variants train on the temporal pair (t, t+1): two G passes per iteration.
  `speedup` is plain over our default path (inference: fast_eager, training: fast), with
  `speedup_same_allocator` the same against plain_tuned and, for compiled inference,
  `speedup_compiled` plain over fast.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from edn.core.config import LossConfig, TrainConfig
from edn.core.runtime import ENV_VAR, PATHS, Precision, cpu_plan, keep_freed_memory
from edn.inference.fast import FastGenerator
from edn.models.discriminator import MultiscaleDiscriminator
from edn.models.generator import GlobalGenerator
from edn.models.losses import feature_matching_loss, lsgan_loss
from edn.training.pix2pixhd_stage import TemporalPix2PixHD
from edn.training.stage import FramePair, generate_pair

SIZE = 256
# What --emulate-avx2 sets in the workers: oneDNN, MKL and ATen's own kernels capped at AVX2,
# and torch.compile's cache of its own. Inductor compiles for AVX2 under the cap, but its cache
# does not tell the capped process from the uncapped one: with torch 2.14 a generator compiled
# under the cap and loaded from the cache without it segfaulted in its first kernel.
AVX2_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
            "TORCHINDUCTOR_CACHE_DIR": str(Path(__file__).resolve().parents[1] / ".cache/torchinductor_avx2_emulated")}


class Worker:
    """A child process that owns its variants and times one call of a variant on request.
    Plain runs in a child left with glibc's default allocator (what the reference code
    gets); ours in a child where edn.inference.fast.keep_freed_memory() applies, as in our trainer.
    Only one child works at a time, so each round compares times under the same load."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.info = self._read()  # after building and warming up (compiling) every variant

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"benchmark worker exited with code {self.proc.wait()}")
        return json.loads(line)

    def time(self, variant: str) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(variant + "\n")
        self.proc.stdin.flush()
        return float(self._read()["ms"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def serve(variants: dict[str, Callable[[], object]], info: dict[str, object]) -> None:
    """Worker side: warm every variant up, report `info`, then time the requested variants."""
    for fn in variants.values():
        fn()
    print(json.dumps(info), flush=True)
    for line in sys.stdin:
        fn = variants[line.strip()]
        start = time.perf_counter()
        fn()
        print(json.dumps({"ms": (time.perf_counter() - start) * 1000}), flush=True)


def conv_ceiling_gflops() -> float:
    """The host's fp32 3x3-convolution speed: 256 channels at 64x64, best of 10."""
    x, w = torch.randn(1, 256, 64, 64), torch.randn(256, 256, 3, 3)
    best = float("inf")
    with torch.no_grad():
        for i in range(11):
            start = time.perf_counter()
            F.conv2d(x, w, padding=1)
            if i:  # the first call sets oneDNN up
                best = min(best, time.perf_counter() - start)
    return 2 * 256 * 256 * 9 * 64 * 64 / best / 1e9


def counted_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def round_robin(workers: dict[str, Worker], rounds: int) -> dict[str, dict[str, float]]:
    """`workers` maps each variant to the worker that runs it."""
    times: dict[str, list[float]] = {k: [] for k in workers}
    for _ in range(rounds):
        for name, worker in workers.items():
            times[name].append(worker.time(name))
    return {k: {"min_ms": round(min(v), 1), "median_ms": round(statistics.median(v), 1)} for k, v in times.items()}


def build_models(ngf: int) -> tuple[GlobalGenerator, MultiscaleDiscriminator]:
    torch.manual_seed(0)
    g = GlobalGenerator(6, 3, ngf, n_downsampling=4, n_blocks=9)
    d = MultiscaleDiscriminator(12, ndf=64, n_layers=3, num_d=2)
    return g, d


def inputs(n: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.rand(1, 3, SIZE, SIZE, generator=generator) * 2 - 1 for _ in range(n)]


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
    loss_g = lsgan_loss(pred_fake, True) + feat_weight * feature_matching_loss(pred_fake, pred_real)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()


def plain_inference(g: GlobalGenerator) -> Callable[[], torch.Tensor]:
    label, prev = inputs(2)
    x = torch.cat([label, prev], 1)
    plain = copy.deepcopy(g).eval()

    def run() -> torch.Tensor:
        with torch.no_grad():
            return plain(x)

    return run


def inference_variants(g: GlobalGenerator, tuned: bool, compile: bool) -> tuple[dict, dict]:
    """The worker's variants and the info it reports (output differences vs plain fp32)."""
    if not tuned:
        return {"plain": plain_inference(g)}, {}
    plain = plain_inference(g)  # the worker applied keep_freed_memory() before building it
    precision = Precision(torch.device("cpu"))
    info = worker_info(precision, counted_flops(plain))
    fast_eager = FastGenerator(g, precision)  # applies keep_freed_memory()
    label, prev = inputs(2)
    variants: dict[str, Callable[[], object]] = {
        "plain_tuned": plain, "fast_eager": lambda: fast_eager(label, prev)
    }
    if compile:
        fast = FastGenerator(g, precision, compile=True)
        variants["fast"] = lambda: fast(label, prev)
    diff = (fast_eager(label, prev) - plain()).abs()
    return variants, {**info, "max_abs_diff": float(f"{diff.max().item():.3g}"),
                      "mean_abs_diff": float(f"{diff.mean().item():.3g}")}


def worker_info(precision: Precision, flops: int) -> dict[str, object]:
    """What the tuned worker reports besides times: its CPU plan, ceiling and the FLOPs."""
    plan = precision.cpu
    return {"cpu_capability": plan.capability, "native_bf16": plan.native_bf16, "path": plan.path,
            "path_source": plan.source, "conv3x3_ceiling_gflops": round(conv_ceiling_gflops(), 1),
            "plain_gflop": round(flops / 1e9, 2)}


def training_variants(g: GlobalGenerator, d: MultiscaleDiscriminator, tuned: bool, compile: bool) -> tuple[dict, dict]:
    pair = FramePair(*inputs(4))
    loss_cfg = LossConfig(vgg=0.0, l1=0.0)

    def plain() -> Callable[[], None]:
        g_plain, d_plain = copy.deepcopy(g), copy.deepcopy(d)
        opt_g = torch.optim.Adam(g_plain.parameters(), 2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(d_plain.parameters(), 2e-4, betas=(0.5, 0.999))
        return lambda: plain_step(g_plain, d_plain, opt_g, opt_d, pair, loss_cfg.feat_match)

    if not tuned:
        return {"plain": plain()}, {}
    info = worker_info(Precision(torch.device("cpu")), counted_flops(plain()))
    ours_fp32 = TemporalPix2PixHD(copy.deepcopy(g), copy.deepcopy(d), loss_cfg, TrainConfig(fast=False))
    fast = TemporalPix2PixHD(copy.deepcopy(g), copy.deepcopy(d), loss_cfg, TrainConfig(fast=True, compile=compile))
    first = {"ours_fp32": ours_fp32.step(pair), "fast": fast.step(pair)}  # same weights, same pair
    loss_rel_diff = {
        k: float(f"{abs(first['fast'][k].item() - v.item()) / max(abs(v.item()), 1e-8):.3g}")
        for k, v in first["ours_fp32"].items()
    }
    variants = {"plain_tuned": plain(), "ours_fp32": lambda: ours_fp32.step(pair), "fast": lambda: fast.step(pair)}
    return variants, {**info, "first_step_loss_rel_diff_fast_vs_fp32": loss_rel_diff}


def measure(part: str, ngf: int, rounds: int, compile: bool) -> dict[str, object]:
    common = ["--worker-part", part, "--ngf", str(ngf)] + (["--compile"] if compile else [])
    default = Worker([*common, "--worker", "default"])
    tuned = Worker([*common, "--worker", "tuned"])
    ours = "fast" if part == "training" else "fast_eager"
    order = {"plain": default, "plain_tuned": tuned, **({"ours_fp32": tuned} if part == "training" else {}),
             "fast_eager": tuned, "fast": tuned}
    if part == "training":
        del order["fast_eager"]
    elif not compile:
        del order["fast"]
    times = round_robin(order, rounds)
    default.close()
    tuned.close()
    result: dict[str, object] = {**times, **tuned.info}
    flops, ceiling = float(tuned.info["plain_gflop"]), float(tuned.info["conv3x3_ceiling_gflops"])
    for name in times:
        gflops = flops / (times[name]["min_ms"] / 1000)
        times[name]["effective_gflops"] = round(gflops, 1)
        times[name]["fraction_of_ceiling"] = round(gflops / ceiling, 2)
    result["speedup"] = round(times["plain"]["min_ms"] / times[ours]["min_ms"], 2)
    result["speedup_same_allocator"] = round(times["plain_tuned"]["min_ms"] / times[ours]["min_ms"], 2)
    if part == "inference" and compile:
        result["speedup_compiled"] = round(times["plain"]["min_ms"] / times["fast"]["min_ms"], 2)
    return result


def sweep_training(shapes: list[str], ndf: int, steps: int, compile: bool) -> None:
    """Fast-path training speed of candidate `cpu` presets: one JSON line per NGF/DOWN/BLOCKS."""
    pair = FramePair(*inputs(4))
    for shape in shapes:
        ngf, n_down, n_blocks = (int(v) for v in shape.split("/"))
        torch.manual_seed(0)
        g = GlobalGenerator(6, 3, ngf, n_downsampling=n_down, n_blocks=n_blocks)
        d = MultiscaleDiscriminator(12, ndf=ndf, n_layers=3, num_d=2)
        step = TemporalPix2PixHD(g, d, LossConfig(vgg=0.0, l1=10.0), TrainConfig(fast=True, compile=compile))
        step.step(pair)
        ms = []
        for _ in range(steps):
            start = time.perf_counter()
            step.step(pair)
            ms.append((time.perf_counter() - start) * 1000)
        print(json.dumps({
            "ngf": ngf, "n_downsampling": n_down, "n_blocks": n_blocks, "ndf": ndf,
            "g_params_m": round(sum(p.numel() for p in g.parameters()) / 1e6, 1),
            "min_ms": round(min(ms), 1), "median_ms": round(statistics.median(ms), 1),
            "it_per_s": round(1000 / min(ms), 2),
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
    parser.add_argument("--cpu-path", choices=PATHS, default=None,
                        help=f"force the fast path (sets {ENV_VAR} for the workers; default: "
                             f"{ENV_VAR} if set, else detected)")
    parser.add_argument("--emulate-avx2", action="store_true",
                        help="cap oneDNN/MKL/ATen at AVX2 in the workers (implies --cpu-path fp32 "
                             "unless given): an approximation of an AVX2-only CPU")
    parser.add_argument("--worker", choices=["default", "tuned"], help=argparse.SUPPRESS)
    parser.add_argument("--worker-part", choices=["inference", "training"], help=argparse.SUPPRESS)
    parser.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.worker:
        g, d = build_models(args.ngf[0])
        tuned = args.worker == "tuned"
        if tuned:
            keep_freed_memory()
        if args.worker_part == "inference":
            serve(*inference_variants(g, tuned, args.compile))
        else:
            serve(*training_variants(g, d, tuned, args.compile))
        return
    if args.cpu_path is not None or args.emulate_avx2:
        os.environ[ENV_VAR] = args.cpu_path or "fp32"
    if args.emulate_avx2:
        os.environ.update(AVX2_ENV)
    cpu_plan()  # a bad EDN_CPU_PATH fails here, before any worker starts
    if args.sweep:
        sweep_training(args.sweep, args.ndf, args.rounds, args.compile_training)
        return
    for ngf in args.ngf:
        g, _ = build_models(ngf)
        result: dict[str, object] = {
            "ngf": ngf,
            "size": SIZE,
            "threads": torch.get_num_threads(),
            "emulated_avx2": args.emulate_avx2,
            "load_avg_1min_at_start": round(os.getloadavg()[0], 2),  # > 2: the cores were shared
            "g_params_m": round(sum(p.numel() for p in g.parameters()) / 1e6, 1),
            "inference": measure("inference", ngf, args.rounds + 2, compile=not args.no_compile),
        }
        if not args.skip_training:
            result["training"] = measure("training", ngf, args.rounds, args.compile_training)
        result["load_avg_1min_at_end"] = round(os.getloadavg()[0], 2)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

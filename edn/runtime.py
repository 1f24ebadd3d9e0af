"""Every choice that depends on the host CPU, made in one place.

CPUs come in two kinds for us. With native bf16 (AVX512-BF16 or AMX) bf16 matrix products are
several times faster than fp32, so the fast path is bf16: autocast in training, bf16 weights
and bf16 Winograd products in inference. Without it (AVX2-only machines) bf16 is emulated, a
2048^2 matmul about 400x slower than fp32, so the fast path stays fp32 and saves multiplies
instead: Winograd convolutions in inference and in training, a cheaper RGB head.

``cpu_plan()`` detects the kind. Force it with the argument or with the environment variable
``EDN_CPU_PATH`` (``bf16``, ``fp32`` or ``auto``), so every branch can be exercised on any
machine: bf16 runs everywhere, only slowly where it is emulated.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

ENV_VAR = "EDN_CPU_PATH"
PATHS = ("auto", "bf16", "fp32")


def native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX tiles)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


@dataclass(frozen=True)
class CpuPlan:
    """The fast path's choices on this CPU.

    path: "bf16" or "fp32".
    autocast: bf16 autocast in training, bf16 weights in inference.
    inference_winograd_min_channels: 3x3 convolutions from this many input channels run by
        Winograd in inference (bf16: F(2x2) products in bf16; fp32: F(2x2) or F(4x4) by size).
    train_winograd_min_channels: the same in training (fp32 Winograd with its own backward),
        or None for the plain convolution.
    narrow_head: inference computes the 7x7 RGB head (3 or 4 output channels, which oneDNN
        runs at a fraction of its speed) as one wide matrix product plus shifted sums.
    compile_training: torch.compile of the generator's training passes is allowed (when the
        config asks for it). Measured: ~10% per step with bf16; the fp32 path's Winograd
        layers cache their weight transform between passes, which tracing would not keep.
    capability: torch's CPU capability string (AVX512, AVX2, ...), for reports.
    native_bf16: what the CPU has, whatever path was chosen.
    source: what chose the path: "detected", the environment variable, or "argument".
    """

    path: str
    autocast: bool
    inference_winograd_min_channels: int
    train_winograd_min_channels: int | None
    narrow_head: bool
    compile_training: bool
    capability: str
    native_bf16: bool
    source: str

    def describe(self) -> str:
        return (f"CPU {self.capability}, native bf16 {'yes' if self.native_bf16 else 'no'}: "
                f"{self.path} path ({self.source})")


def cpu_plan(path: str | None = None) -> CpuPlan:
    """The plan for ``path`` ("bf16", "fp32" or "auto"); None reads ``EDN_CPU_PATH``
    (unset or empty: "auto"). "auto" picks bf16 exactly when the CPU has native bf16."""
    source = "argument"
    if path is None:
        path = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
        source = f"{ENV_VAR}={path}" if path != "auto" else "detected"
    if path not in PATHS:
        raise ValueError(f"unknown CPU path {path!r} (from {source}); one of {', '.join(PATHS)}")
    has_bf16 = native_bf16()
    if path == "auto":
        path, source = ("bf16" if has_bf16 else "fp32"), "detected"
    capability = torch.backends.cpu.get_cpu_capability()
    if path == "bf16":
        # Winograd pays off in bf16 from 512 input channels on: 1024 channels at 16x16 8.9
        # vs 14.1 ms, 256 channels at 32x32 3.8 vs 3.4 ms (measured with commit 0ec3008).
        return CpuPlan("bf16", True, 512, None, False, True, capability, has_bf16, source)
    # fp32: Winograd wins from 256 channels on, forward and backward (256 channels at 32x32:
    # 4.4 vs 6.4 ms forward, 16.2 vs 21.2 ms forward + backward; 128 channels at 64x64 gains
    # under 10%, within the noise; bench/winograd_speed.py on the AVX512 machine, cache flushed).
    return CpuPlan("fp32", False, 256, 256, True, False, capability, has_bf16, source)

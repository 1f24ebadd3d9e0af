"""The runtime: the device, the precision policy, the allocator, and every choice that depends
on the host CPU, made in one place.

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

import ctypes
import ctypes.util
import functools
import os
import sys
from dataclasses import dataclass, field

import torch

from edn.core.errors import UserError

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
        raise UserError(f"unknown CPU path {path!r} (from {source}); one of {', '.join(PATHS)}")
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


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else the CPU; or ``cpu``, ``cuda``, ``cuda:N``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but no CUDA device is available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown --device {name!r}: auto, cpu, cuda or cuda:N") from None


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of returning it to the kernel.

    glibc serves every block above 32 MiB (the largest threshold it accepts) with its own mmap
    and unmaps it on free, so each new 38 MB tensor (a 1024-channel 3x3 weight in fp32, or its
    gradient) page-faults in again: on this CPU that made a weight cast 12 ms instead of 1.3 ms
    and a pix2pixHD training step (ngf 64, 256x256, bf16) 3.3 s instead of 2.7 s. With mmap
    and trimming off, freed blocks stay in the heap for the next allocation; the process keeps
    about its peak footprint (plus fragmentation) instead of returning memory between steps.
    Process-wide, once; returns whether both settings applied (glibc on Linux; a no-op
    elsewhere)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt"):  # musl and other libcs
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # from <malloc.h>
    if not libc.mallopt(m_trim_threshold, 2**31 - 1):
        return False
    return bool(libc.mallopt(m_mmap_max, 0))


@dataclass(frozen=True)
class Precision:
    """Which fast path a device runs. ``fast=False`` is plain fp32 everywhere (``--fp32``).
    Otherwise: AMP on CUDA (bf16 where supported, else fp16 with a gradient scaler); on CPU
    what ``cpu`` (default: ``edn.core.runtime.cpu_plan()``) chose, bf16 autocast or the fp32 fast
    path."""

    device: torch.device
    fast: bool = True
    cpu: CpuPlan = field(default_factory=cpu_plan)

    @property
    def enabled(self) -> bool:
        """Whether autocast is on."""
        if not self.fast:
            return False
        if self.device.type == "cpu":
            return self.cpu.autocast
        return self.device.type == "cuda"

    @property
    def fp32_fast(self) -> bool:
        """The CPU's fp32 fast path: Winograd convolutions (training and inference) and the
        narrow RGB head (inference)."""
        return self.fast and self.device.type == "cpu" and not self.cpu.autocast

    @property
    def dtype(self) -> torch.dtype:
        if self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16

    @property
    def needs_grad_scaler(self) -> bool:
        return self.enabled and self.dtype == torch.float16

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.enabled)


def to_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)

"""Fast inference: an inference-only copy of a generator on the fast path, and video synthesis.

Which fast path runs on a CPU is decided by ``edn.core.runtime.cpu_plan``. With native bf16
(bench/synthesis_speed.py on the 2-core AVX-512-bf16 CPU) bf16 halves the time of the
convolutions that dominate pix2pixHD; inference additionally gains from bf16 weights (no
per-call weight casts) and from torch.compile with frozen weights. Without it the fast path
stays fp32 and runs the wide 3x3 convolutions by Winograd and the RGB head as one wide matrix
product (edn.models.winograd, edn.models.narrow_conv).
"""
from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from edn.core.runtime import Precision, keep_freed_memory
from edn.core.window import Box, crop, paste
from edn.models.generator import generator_input
from edn.models.narrow_conv import use_narrow_conv
from edn.models.winograd import use_winograd

log = logging.getLogger(__name__)


class FastGenerator:
    """Inference-only copy of a generator: eval mode, inference_mode and, on CPU, the fast
    path ``precision`` chose: bf16 weights cast once (no per-frame casts) with bf16 Winograd
    products for the wide 3x3 convolutions, or fp32 Winograd and the narrow RGB head;
    ``--fp32`` stays the plain computation. Optionally torch.compile with frozen weights and
    static shapes (one compile of ~10-60 s on CPU, cached by inductor afterwards; where it
    cannot compile, e.g. without a C++ compiler, it says so once and runs uncompiled). On
    the fp32 path it fuses the instance norms, ReLUs and paddings between the convolutions
    and the narrow head's shifted sums: the live student (16 channels, 6 blocks, a 184x256
    window, AVX2 emulated, one thread) 61 -> 49 ms a frame.

    Called with the label map and the second input the generator was trained with: the
    previous output frame (ignored without temporal smoothing), or for the face generator
    the face crop."""

    def __init__(self, generator: nn.Module, precision: Precision, compile: bool = False,
                 temporal: bool = True) -> None:
        keep_freed_memory()
        self.temporal = temporal  # False: the previous output is not an input
        dtype = precision.dtype if precision.enabled else torch.float32
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)
        min_channels = precision.cpu.inference_winograd_min_channels
        if precision.enabled and precision.device.type == "cpu":  # measured on CPU only
            use_winograd(self.model, dtype, min_channels, m=2)  # from the fp32 weights
        elif precision.fp32_fast:
            use_winograd(self.model, torch.float32, min_channels, m=None)
            if precision.cpu.narrow_head:
                use_narrow_conv(self.model)
        # A composite generator's background plate (3, H, W), in fp32 for pasting windows.
        plate = getattr(generator, "plate", None)
        self.plate: torch.Tensor | None = plate.detach().float().clone() if plate is not None else None
        self.model.to(dtype)
        self.dtype = dtype
        self.output_nc: int = generator.output_nc  # type: ignore[assignment]
        self.compiled = compile
        self.forward = (torch.compile(self.model, options={"freezing": True}, dynamic=False)
                        if compile else self.model)

    @torch.inference_mode()
    def __call__(self, label_map: torch.Tensor, prev_output: torch.Tensor,
                 plate: torch.Tensor | None = None) -> torch.Tensor:
        """``plate``: for a composite generator on a person window, the plate's crop there."""
        x = generator_input(label_map, prev_output, self.temporal).to(self.dtype)
        inputs = (x,) if plate is None else (x, plate.to(self.dtype))
        try:
            return self.forward(*inputs).float()
        except torch._dynamo.exc.BackendCompilerFailed as e:  # the compiler, not the model
            reason = e.inner_exception
            log.warning("torch.compile failed (%s: %s): the generator runs uncompiled",
                        type(reason).__name__, (str(reason).strip().splitlines() or [""])[0][:160])
            self.compiled, self.forward = False, self.model
            return self.model(*inputs).float()


def generate_frame(generator: FastGenerator, label_map: torch.Tensor, prev_output: torch.Tensor | None,
                   box: Box | None = None) -> torch.Tensor:
    """One temporally smoothed frame: from its label map (B, C, h, w) and the previous
    generated frame (None before the first: zeros). With ``box`` a composite generator draws
    only that person window: the label map and the previous frame are cut there and the result
    is pasted into the plate (edn.core.window)."""
    b, _, h, w = label_map.shape
    if prev_output is None:
        prev_output = label_map.new_zeros(b, generator.output_nc, h, w)
    if box is None:
        return generator(label_map, prev_output)
    if generator.plate is None:
        raise ValueError("person windows need a composite generator (a plate to paste into)")
    boxes = [box] * b
    plate = generator.plate.to(label_map.device).expand(b, -1, -1, -1)
    drawn = generator(crop(label_map, boxes), crop(prev_output, boxes), crop(plate, boxes))
    return paste(plate, drawn, boxes)


def generate_video(generator: FastGenerator, label_maps: Iterable[torch.Tensor],
                   windows: Iterable[Box] | None = None) -> Iterator[torch.Tensor]:
    """Temporally smoothed synthesis (``generate_frame``): each frame from its label map and
    the previous generated frame, on its window (a box per frame) when ``windows`` is given."""
    prev_output: torch.Tensor | None = None
    boxes = iter(windows) if windows is not None else None
    for label_map in label_maps:
        prev_output = generate_frame(generator, label_map, prev_output,
                                     next(boxes) if boxes is not None else None)
        yield prev_output

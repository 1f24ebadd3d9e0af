"""The PyTorch OpenPose backend: CMU's COCO body network with PAF grouping, multi-person.

Used when the user brings the converted weights (``body_pose_model.pth`` or ``pose_model.pth``
in the weights folder); nothing is downloaded. Per image and scale s, the image is resized so
that its height is s * 368 pixels (CMU's box size), padded to a multiple of 8 with grey (128)
at the bottom and right, and run through the network. Each scale's stride-8 maps are
resampled (bilinear, pixel centres aligned, the padding cut off) onto one common grid, the
scale-1 map's, and averaged; the grouping (``pose_detector.openpose.paf``) then runs on that
grid, keypoints coming back in the original image's pixels.

Precision: on a CPU with native bf16 (``edn.core.runtime.cpu_plan``) the network runs with
bf16 weights and activations in channels-last layout, 6x faster than plain fp32 on the 2-core
AVX-512 machine; its heatmaps and PAFs stay within ``BF16_TOLERANCE`` of fp32's
(tests/test_openpose.py). Without native bf16 (AVX2) bf16 would be emulated, so the network
runs in fp32. On CUDA it runs under fp16 autocast.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from edn.core.errors import UserError
from edn.core.runtime import cpu_plan, pick_device
from pose_detector.base import PersonPose
from pose_detector.openpose.network import STRIDE, OpenPoseBody, load_openpose
from pose_detector.openpose.paf import PafParams, decode

BOX_SIZE = 368  # CMU's network input height at scale 1
PAD_VALUE = 128
# Largest |reduced-precision map - fp32 map|, as a fraction of the fp32 maps' largest magnitude.
BF16_TOLERANCE = 0.02
PRECISIONS = ("auto", "fp32", "bf16")


def parse_scales(text: str) -> tuple[float, ...]:
    """"0.5,1,1.5,2" -> (0.5, 1.0, 1.5, 2.0); every scale positive."""
    try:
        scales = tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise UserError(f"--scales takes numbers separated by commas, like 0.5,1,1.5,2, not {text!r}") from None
    if not scales or any(not s > 0 for s in scales):
        raise UserError(f"--scales must be positive numbers, not {text!r}")
    return scales


def pick_precision(device: torch.device, precision: str = "auto") -> str:
    """The network's precision: "fp32", "bf16" (CPU) or "fp16" (CUDA autocast). "auto": bf16 on
    a CPU with native bf16, fp32 on one without, fp16 on CUDA."""
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        return "fp32" if precision == "fp32" else "fp16"
    if precision == "auto":
        return "bf16" if cpu_plan().path == "bf16" else "fp32"
    return precision


class OpenPoseNet:
    """The network on a device at a precision: BGR image -> (heatmaps, PAFs) on a common grid."""

    def __init__(self, net: OpenPoseBody, device: str | torch.device = "auto", precision: str = "auto",
                 scales: Sequence[float] = (1.0,), box_size: int = BOX_SIZE) -> None:
        self.device = pick_device(device) if isinstance(device, str) else device
        self.precision = pick_precision(self.device, precision)
        self.scales = tuple(scales)
        self.box_size = box_size
        net = net.eval().requires_grad_(False).to(self.device)
        self.dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        if self.precision != "fp32":
            net = net.to(memory_format=torch.channels_last)
        self.net = net.to(self.dtype)

    def _forward(self, image_bgr: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(image_bgr.transpose(2, 0, 1)))[None]
        x = (x.to(self.device, torch.float32) / 256.0 - 0.5).to(self.dtype)
        if self.precision != "fp32":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", torch.float16, enabled=self.precision == "fp16"):
            paf, heat = self.net(x)
        return heat.float(), paf.float()

    @torch.inference_mode()
    def maps(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(19, h, w) heatmaps, (38, h, w) PAFs averaged over the scales, and the grid's
        stride in image pixels. Cell (i, j) is centred on image pixel
        ((j + 0.5) * stride - 0.5, (i + 0.5) * stride - 0.5)."""
        height, width = image_bgr.shape[:2]
        base = self.box_size / height  # image -> network input at scale 1
        grid_stride = STRIDE / base
        gh, gw = max(1, int(np.ceil(height / grid_stride))), max(1, int(np.ceil(width / grid_stride)))
        heat_sum = torch.zeros(1, 19, gh, gw, device=self.device)
        paf_sum = torch.zeros(1, 38, gh, gw, device=self.device)
        for scale in self.scales:
            f = scale * base
            sh, sw = max(1, round(height * f)), max(1, round(width * f))
            resized = cv2.resize(image_bgr, (sw, sh), interpolation=cv2.INTER_CUBIC)
            ph, pw = -sh % STRIDE, -sw % STRIDE
            padded = cv2.copyMakeBorder(resized, 0, ph, 0, pw, cv2.BORDER_CONSTANT,
                                        value=(PAD_VALUE,) * 3)
            heat, paf = self._forward(padded)
            # The common grid's cell centres in this scale's map cells (fx, fy: this scale's
            # actual resize factors), normalised for grid_sample (align_corners=False).
            fx, fy = sw / width, sh / height
            u = ((torch.arange(gw, device=self.device) + 0.5) * grid_stride) * fx / STRIDE - 0.5
            v = ((torch.arange(gh, device=self.device) + 0.5) * grid_stride) * fy / STRIDE - 0.5
            mh, mw = heat.shape[2:]
            gx = (2 * u + 1) / mw - 1
            gy = (2 * v + 1) / mh - 1
            grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None]
            heat_sum += F.grid_sample(heat, grid, mode="bilinear", padding_mode="border", align_corners=False)
            paf_sum += F.grid_sample(paf, grid, mode="bilinear", padding_mode="border", align_corners=False)
        n = len(self.scales)
        return ((heat_sum / n)[0].cpu().numpy(), (paf_sum / n)[0].cpu().numpy(), grid_stride)


class OpenPoseDetector:
    """Every person in an image (``detect``), or the main one (``track``: the tallest)."""

    name = "openpose"
    multi_person = True

    def __init__(self, weights: str | Path, scales: Sequence[float] = (1.0,), device: str = "auto",
                 precision: str = "auto", params: PafParams = PafParams()) -> None:
        self.weights = Path(weights)
        self.network = OpenPoseNet(load_openpose(self.weights), device, precision, scales)
        self.params = params

    def detect(self, image_rgb: np.ndarray) -> list[PersonPose]:
        heat, paf, stride = self.network.maps(np.ascontiguousarray(image_rgb[..., ::-1]))
        found = decode(heat, paf, stride, self.params)
        return [PersonPose(k, score=float(s)) for k, s in zip(found.people, found.scores)]

    def track(self, image_rgb: np.ndarray) -> PersonPose | None:
        people = [p for p in self.detect(image_rgb) if p.box() is not None]
        if not people:
            return None
        return max(people, key=lambda p: p.box()[3] - p.box()[1])  # type: ignore[index]

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass

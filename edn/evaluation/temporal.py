"""Temporal consistency that a frozen video cannot fake: the warping error (Lai et al. 2018,
"Learning Blind Video Temporal Consistency"; vid2vid). The previous generated frame is
warped by the *real* video's optical flow onto the current one and compared with it, on the
pixels the flow can follow (not occluded: forward and backward flow agree) and that move
(MOVING). The real frames' own warping error on the same pixels is the yardstick: the ratio
reads 1.0 for "as stable as reality". A still or frozen output does not move where the real
person moves, so it scores badly here, while the flicker ratio (frame difference) calls it
perfectly stable. Only moving pixels count because on a still background the real frames'
own error is their sensor noise, which any generated frame, frozen ones included, is free of:
over every pixel the demo's mean training frame scored 0.75 ("steadier than reality"), over
the moving ones 1.27. Blur still lowers the error of an output that does move (a blurred copy
of the real video: 0.63); body SSIM and the pose distance are what blur loses.

Flow: edn.core.flow (OpenCV's DIS, forward-backward consistent), computed once per pair of
real frames and shared by every candidate scored on them."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edn.core.flow import Flow, FlowEstimator, grey

MOVING = 0.5  # px a frame: slower pixels are left out


@dataclass
class Motion:
    """How frame t's pixels came from frame t-1 (``flow``), ``valid`` (h, w) bool, the pixels
    the flow follows and that move (more than MOVING px), and ``real_error``, the real frames'
    own summed warping error over them."""
    flow: Flow
    valid: np.ndarray
    real_error: float = 0.0

    def warp(self, previous: np.ndarray) -> np.ndarray:
        """Frame t-1 (h, w, C) moved onto frame t."""
        return self.flow.warp(previous)


class RealMotion:
    """The real video's motion, frame by frame: ``add(real)`` returns the ``Motion`` from the
    frame before (None for the first)."""

    def __init__(self) -> None:
        self.flows = FlowEstimator()
        self.previous: tuple[np.ndarray, np.ndarray] | None = None  # grey, float RGB

    def add(self, real: np.ndarray) -> Motion | None:
        current = (grey(real), real.astype(np.float32))
        previous, self.previous = self.previous, current
        if previous is None:
            return None
        flow = self.flows.between(previous[0], current[0])
        motion = Motion(flow, flow.followed & (flow.speed > MOVING))
        motion.real_error = float(np.abs(current[1] - motion.warp(previous[1]))[motion.valid].sum(dtype=np.float64))
        return motion


class WarpingError:
    """The warping error of a candidate's frames, frame by frame, beside the real frames'
    own on the same pixels (``Motion.real_error``): mean absolute difference (0-255) between
    frame t and frame t-1 warped by the real motion, over the followed pixels of every
    transition."""

    def __init__(self) -> None:
        self.previous: np.ndarray | None = None
        self.total = np.zeros(2)  # summed error of the candidate's and the real frames
        self.values = 0

    def add(self, pred: np.ndarray, motion: Motion | None) -> None:
        frame = pred.astype(np.float32)
        if self.previous is not None and motion is not None and motion.valid.any():
            error = np.abs(frame - motion.warp(self.previous))[motion.valid].sum(dtype=np.float64)
            self.total += (error, motion.real_error)
            self.values += int(motion.valid.sum()) * pred.shape[-1]
        self.previous = frame

    def result(self) -> dict[str, float]:
        """``generated`` and ``real`` errors and their ``ratio`` (1.0: as stable as the real
        video; NaN without a followed pixel)."""
        if not self.values:
            return {"generated": math.nan, "real": math.nan, "ratio": math.nan}
        generated, real = self.total / self.values
        return {"generated": float(generated), "real": float(real),
                "ratio": float(generated / real) if real > 0 else math.inf}

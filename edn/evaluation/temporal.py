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

Flow: OpenCV's DIS (no weights to download), on grey levels, computed once per pair of real
frames and shared by every candidate scored on them."""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Forward-backward consistency (Sundaram et al. 2010, as Lai et al. use it): a pixel is
# followed when |b + f(x + b)|^2 < ALPHA (|b|^2 + |f(x + b)|^2) + BETA.
ALPHA, BETA = 0.01, 0.5
MOVING = 0.5  # px a frame: slower pixels are left out


@dataclass
class Motion:
    """How frame t's pixels came from frame t-1: ``where`` (h, w, 2) float32, each pixel's
    place in frame t-1 (frame t ~ frame t-1 there), ``valid`` (h, w) bool, the pixels the flow
    follows (forward-backward consistent, inside the frame) and that move (more than MOVING
    px), and ``real_error``, the real frames' own summed warping error over them."""
    where: np.ndarray
    valid: np.ndarray
    real_error: float = 0.0

    def warp(self, previous: np.ndarray) -> np.ndarray:
        """Frame t-1 (h, w, C) moved onto frame t."""
        return cv2.remap(previous, self.where[..., 0], self.where[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)


class RealMotion:
    """The real video's motion, frame by frame: ``add(real)`` returns the ``Motion`` from the
    frame before (None for the first)."""

    def __init__(self) -> None:
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.previous: tuple[np.ndarray, np.ndarray] | None = None  # grey, float RGB
        self.grid: np.ndarray | None = None  # each pixel's own (x, y)

    def add(self, real: np.ndarray) -> Motion | None:
        grey, frame = cv2.cvtColor(real, cv2.COLOR_RGB2GRAY), real.astype(np.float32)
        previous, self.previous = self.previous, (grey, frame)
        if previous is None:
            return None
        if self.grid is None or self.grid.shape[:2] != grey.shape:
            h, w = grey.shape
            self.grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).astype(np.float32)
        backward = self.dis.calc(grey, previous[0], None)  # t -> t-1
        forward = self.dis.calc(previous[0], grey, None)   # t-1 -> t
        motion = Motion(self.grid + backward, np.zeros(grey.shape, bool))
        back_again = motion.warp(forward)  # forward flow at each pixel's place in t-1
        h, w = grey.shape
        x, y = motion.where[..., 0], motion.where[..., 1]
        inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
        mismatch = ((backward + back_again) ** 2).sum(-1)
        speed = (backward ** 2).sum(-1)
        consistent = mismatch < ALPHA * (speed + (back_again ** 2).sum(-1)) + BETA
        motion.valid = inside & consistent & (speed > MOVING ** 2)
        motion.real_error = float(np.abs(frame - motion.warp(previous[1]))[motion.valid].sum(dtype=np.float64))
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

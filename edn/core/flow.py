"""The real video's optical flow between two frames, and the pixels it can follow.

OpenCV's DIS (no weights to download) on grey levels, backward (each pixel of frame t's place
in frame t-1) and forward; a pixel is followed when the two agree (forward-backward
consistency, Sundaram et al. 2010, as Lai et al. 2018 use it) and its place lies inside frame
t-1. The training's flow-warp loss (edn.models.losses.flow_warp_loss) and the evaluation's
warping error (edn.evaluation.temporal) both read it.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# A pixel is followed when |b + f(x + b)|^2 < ALPHA (|b|^2 + |f(x + b)|^2) + BETA.
ALPHA, BETA = 0.01, 0.5


@dataclass
class Flow:
    """How frame t's pixels came from frame t-1: ``where`` (h, w, 2) float32, each pixel's
    place (x, y) in frame t-1, ``followed`` (h, w) bool, the pixels the flow follows, and
    ``speed`` (h, w) float32, how far each pixel moved (px)."""
    where: np.ndarray
    followed: np.ndarray
    speed: np.ndarray

    def warp(self, previous: np.ndarray) -> np.ndarray:
        """Frame t-1 (h, w, C) moved onto frame t."""
        return cv2.remap(previous, self.where[..., 0], self.where[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)


class FlowEstimator:
    """DIS flow between grey frames of one size at a time (its pixel grid is kept)."""

    def __init__(self) -> None:
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.grid: np.ndarray | None = None  # each pixel's own (x, y)

    def between(self, previous: np.ndarray, current: np.ndarray) -> Flow:
        """The ``Flow`` from grey frame ``previous`` to grey frame ``current`` (h, w) uint8."""
        h, w = current.shape
        if self.grid is None or self.grid.shape[:2] != (h, w):
            self.grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).astype(np.float32)
        backward = self.dis.calc(current, previous, None)  # t -> t-1
        forward = self.dis.calc(previous, current, None)   # t-1 -> t
        speed2 = (backward ** 2).sum(-1)
        flow = Flow(self.grid + backward, np.zeros((h, w), bool), np.sqrt(speed2))
        back_again = flow.warp(forward)  # forward flow at each pixel's place in t-1
        x, y = flow.where[..., 0], flow.where[..., 1]
        inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
        mismatch = ((backward + back_again) ** 2).sum(-1)
        flow.followed = inside & (mismatch < ALPHA * (speed2 + (back_again ** 2).sum(-1)) + BETA)
        return flow


def grey(frame: np.ndarray) -> np.ndarray:
    """An RGB uint8 frame (h, w, 3) in grey levels, as the flow reads it."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)

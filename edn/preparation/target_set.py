"""A prepared set (docs/formats.md) held in memory at a model's size: frames, label maps,
person masks and keypoints, and the background plate behind the person."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edn.core.errors import InputError
from edn.core.keypoints import PARTS, read_sequence, scale_keypoints
from edn.core.paths import FRAMES, KEYPOINTS, MASKS, frame_name
from edn.core.skeleton import render_labels
from edn.preparation.prepare import PreparedMeta


def person_cover(masks: np.ndarray, labels: np.ndarray, threshold: float = 0.3,
                 grow: float = 0.03) -> np.ndarray:
    """Pixels the person may cover, per frame: the segmentation mask over ``threshold`` or
    the drawn skeleton (label maps (N, h, w, 3), non-black where drawn), grown by ``grow`` of
    the frame's shorter side. Segmentation misses thin or still parts (a foot standing in one
    place for seconds), which would otherwise stay in the plate as a ghost. (N, h, w) bool."""
    r = max(1, round(grow * min(masks.shape[1:3])))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    seen = ((masks >= threshold) | labels.any(-1)).astype(np.uint8)
    return np.stack([cv2.dilate(s, disc) for s in seen]).astype(bool)


def _free_median(frames: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Per-pixel median over the frames where no person covers the pixel; NaN where the
    person covers it in every frame."""
    free = ~person[..., None]
    with warnings.catch_warnings():  # all-NaN pixels are the caller's to fill
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(np.where(free, frames.astype(np.float32), np.nan), axis=0)


def background_plate(frames: np.ndarray, person: np.ndarray, recent: int | None = None) -> np.ndarray:
    """The background: per pixel, the median of the person-free frames among the last
    ``recent`` frames (all when None); pixels the person covers in every one of those take
    the person-free median of all frames, and pixels covered in every frame (never seen) are
    inpainted from the background around them: a median there would be the person himself.
    ``recent`` follows a slowly drifting camera: the latest frames are the closest to what
    comes next. frames (N, h, w, 3) uint8, person (N, h, w) bool (``person_cover``) -> uint8."""
    sl = slice(-recent, None) if recent else slice(None)
    plate = _free_median(frames[sl], person[sl])
    holes = np.isnan(plate).any(-1)
    if holes.any():
        plate = np.where(holes[..., None], _free_median(frames, person), plate)
        holes = np.isnan(plate).any(-1)
    if holes.all():
        return np.median(frames, axis=0).round().astype(np.uint8)
    plate = np.nan_to_num(plate).round().astype(np.uint8)
    if holes.any():
        plate = cv2.inpaint(plate, holes.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return plate


@dataclass
class TargetSet:
    """A prepared set resized to the training size (w, h): uint8 arrays in memory."""
    folder: Path
    meta: PreparedMeta
    size: tuple[int, int]
    frames: np.ndarray     # (N, h, w, 3) RGB
    labels: np.ndarray     # (N, h, w, 3) RGB label maps
    masks: np.ndarray      # (N, h, w) float32 person probability (zeros without masks)
    keypoints: np.ndarray  # (N, 18 or 130, 3) in training pixels

    @classmethod
    def load(cls, folder: str | Path, size: tuple[int, int],
             frame_range: range | None = None, parts: tuple[str, ...] = PARTS) -> "TargetSet":
        """The set at ``size`` (w, h), its label maps drawing those of ``parts`` it has."""
        folder = Path(folder)
        meta = PreparedMeta.load(folder)
        keypoints = read_sequence(folder / KEYPOINTS)
        indices = list(frame_range if frame_range is not None else range(meta.frames))
        frames, masks = [], []
        for i in indices:
            image = cv2.imread(str(folder / FRAMES / frame_name(i)), cv2.IMREAD_COLOR)
            if image is None:
                raise InputError(f"missing frame {i} in {folder / FRAMES}")
            frames.append(cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), size,
                                     interpolation=cv2.INTER_AREA))
            if meta.masks:
                m = cv2.imread(str(folder / MASKS / frame_name(i)), cv2.IMREAD_GRAYSCALE)
                masks.append(cv2.resize(m, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255)
            else:
                masks.append(np.zeros(size[::-1], np.float32))
        kp = scale_keypoints(keypoints[indices], meta.size, size)
        return cls(folder, meta, size, np.stack(frames), render_labels(kp, size, parts),
                   np.stack(masks), kp)

    def plate(self, recent: int | None = None) -> np.ndarray:
        """The background plate (``background_plate``), favouring the last ``recent`` frames."""
        return background_plate(self.frames, person_cover(self.masks, self.labels), recent)

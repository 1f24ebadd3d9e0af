"""Training data: a prepared set (docs/formats.md) held in memory at the training size,
consecutive frame pairs in a deterministic order, and the background plate."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from edn.data_prep import PreparedMeta
from edn.keypoints import read_sequence
from edn.skeleton import render_label_map


def scale_keypoints(keypoints: np.ndarray, from_size: tuple[int, int],
                    to_size: tuple[int, int]) -> np.ndarray:
    """Keypoints (..., 18, 3) from one (w, h) frame size to another; missing joints stay 0."""
    out = keypoints.astype(np.float32).copy()
    out[..., 0] *= to_size[0] / from_size[0]
    out[..., 1] *= to_size[1] / from_size[1]
    return out


def render_labels(keypoints: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Label maps (N, h, w, 3) uint8 for keypoints already in (w, h) pixels."""
    return np.stack([render_label_map(k, (size[1], size[0])) for k in keypoints])


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, h, w, C) -> float (N, C, h, w) in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (N, C, h, w) in [-1, 1] -> uint8 (N, h, w, C)."""
    x = images.detach().float().clamp(-1, 1).add(1).mul(127.5).round()
    return x.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


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
    keypoints: np.ndarray  # (N, 18, 3) in training pixels

    @classmethod
    def load(cls, folder: str | Path, size: tuple[int, int],
             frame_range: range | None = None) -> "TargetSet":
        folder = Path(folder)
        meta = PreparedMeta.load(folder)
        keypoints = read_sequence(folder / "keypoints")
        indices = list(frame_range if frame_range is not None else range(meta.frames))
        frames, masks = [], []
        for i in indices:
            image = cv2.imread(str(folder / "frames" / f"{i:06d}.png"), cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(f"missing frame {i} in {folder}/frames")
            frames.append(cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), size,
                                     interpolation=cv2.INTER_AREA))
            if meta.masks:
                m = cv2.imread(str(folder / "masks" / f"{i:06d}.png"), cv2.IMREAD_GRAYSCALE)
                masks.append(cv2.resize(m, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255)
            else:
                masks.append(np.zeros(size[::-1], np.float32))
        kp = scale_keypoints(keypoints[indices], meta.size, size)
        return cls(folder, meta, size, np.stack(frames), render_labels(kp, size),
                   np.stack(masks), kp)

    def plate(self, recent: int | None = None) -> np.ndarray:
        """The background plate (``background_plate``), favouring the last ``recent`` frames."""
        return background_plate(self.frames, person_cover(self.masks, self.labels), recent)


def pair_order(n_pairs: int, epoch: int, seed: int) -> np.ndarray:
    """The shuffled order of pair indices in one epoch: a pure function of (seed, epoch), so a
    resumed run sees exactly the pairs an uninterrupted one would."""
    return np.random.default_rng([seed, epoch]).permutation(n_pairs)


def batch_indices(iteration: int, batch_size: int, n_pairs: int, seed: int,
                  rank: int = 0, world_size: int = 1) -> np.ndarray:
    """Pair indices of one iteration's batch for one process: the global stream of shuffled
    epochs is cut into batches of ``batch_size * world_size``, each process taking its slice."""
    start = (iteration * world_size + rank) * batch_size
    out = []
    for k in range(start, start + batch_size):
        epoch, pos = divmod(k, n_pairs)
        out.append(pair_order(n_pairs, epoch, seed)[pos])
    return np.array(out)

"""A prepared set (docs/formats.md) at a model's size, read from disk frame by frame: its
keypoints in memory (a few kB a frame), its frames and person masks decoded when asked for,
its label maps drawn when asked for, and the background plate behind the person from a
bounded sample of frames. Memory does not grow with the number of frames.

Why frames are not cached (measured for issue 31 on a 2-core AMD EPYC, bench/data_loading.py):
decoding a batch's two 256x256 PNG frames and masks and drawing its two label maps takes
about 4 ms, 1-2 % of a `cpu` preset iteration; `torch.utils.data` workers compete with the
training threads for the same two cores (11-14 % slower), and a uint8 cache would save 2.5
ms a batch for 2 MB a frame on disk at the `paper` preset's 1024x512 (18 GB for 9,000)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np

from edn.core.errors import InputError
from edn.core.keypoints import PARTS, scale_keypoints
from edn.core.openpose_json import read_sequence
from edn.core.paths import FRAMES, KEYPOINTS, MASKS, frame_name
from edn.core.skeleton import render_labels
from edn.preparation.contact_sheet import spread
from edn.preparation.prepare import PreparedMeta

PLATE_SAMPLE = 512  # frames, evenly spaced, the plate's medians look at (at most, each)
PLATE_BAND_BYTES = 64 << 20  # the float32 working set of the plate's median, per band of rows


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
    person covers it in every frame. Computed in bands of rows, so that the float copy stays
    under PLATE_BAND_BYTES whatever the number of frames and their size."""
    n, h, w = person.shape
    rows = max(1, PLATE_BAND_BYTES // max(1, n * w * frames.shape[-1] * 4))
    out = np.empty((h, w, frames.shape[-1]), np.float32)
    with warnings.catch_warnings():  # all-NaN pixels are the caller's to fill
        warnings.simplefilter("ignore", RuntimeWarning)
        for y in range(0, h, rows):
            band = slice(y, y + rows)
            free = ~person[:, band, :, None]
            out[band] = np.nanmedian(np.where(free, frames[:, band].astype(np.float32), np.nan), axis=0)
    return out


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


def plate_sample(frames: int, recent: int | None, sample: int = PLATE_SAMPLE
                 ) -> tuple[list[int], int | None]:
    """The frames the plate is made from, in order, and how many of them (the last ones) are
    among the last ``recent``: at most ``sample`` spread over all ``frames`` and at most
    ``sample`` spread over the last ``recent``; every frame when there are no more than
    ``sample`` (and ``recent`` is no more than ``sample``)."""
    def over(first: int) -> set[int]:
        return set((first + spread(frames - first, sample)).tolist())

    if not recent:
        return sorted(over(0)), None
    start = max(0, frames - recent)
    picks = sorted(over(0) | over(start))
    return picks, sum(i >= start for i in picks)


class FrameReader(Protocol):
    """Where a target set's pixels come from: frame i (RGB, (h, w, 3)) and its person mask
    (person probability x 255, (h, w)), both uint8 at the set's size."""

    def frame(self, i: int) -> np.ndarray: ...

    def mask(self, i: int) -> np.ndarray: ...


@dataclass
class PreparedFrames:
    """A prepared set's frames ``first``.. (``count`` of them) from its PNGs, resized to
    ``size`` (w, h); masks of zeros for a set prepared without masks."""
    folder: Path
    size: tuple[int, int]
    first: int
    count: int
    masks: bool

    def _read(self, folder: str, i: int, flags: int) -> np.ndarray:
        if not 0 <= i < self.count:
            raise IndexError(f"frame {i} of {self.count}")
        image = cv2.imread(str(self.folder / folder / frame_name(self.first + i)), flags)
        if image is None:
            raise InputError(f"missing or unreadable {folder[:-1]} {self.first + i} in {self.folder / folder}")
        return cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)

    def frame(self, i: int) -> np.ndarray:
        return cv2.cvtColor(self._read(FRAMES, i, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    def mask(self, i: int) -> np.ndarray:
        if not self.masks:
            return np.zeros(self.size[::-1], np.uint8)
        return self._read(MASKS, i, cv2.IMREAD_GRAYSCALE)


@dataclass
class TargetSet:
    """A prepared set at the training size (w, h): keypoints in memory, pixels from
    ``reader`` when asked for (``frames``, ``masks``, ``labels`` of some indices)."""
    folder: Path
    meta: PreparedMeta | None
    size: tuple[int, int]
    span: range                     # the prepared set's frames it holds
    keypoints: np.ndarray           # (N, 18 or 130, 3) in training pixels
    prepared_keypoints: np.ndarray  # the same in the prepared frames' pixels
    parts: tuple[str, ...]          # what the label maps draw
    reader: FrameReader

    @classmethod
    def load(cls, folder: str | Path, size: tuple[int, int], frame_range: range | None = None,
             parts: tuple[str, ...] = PARTS, meta: PreparedMeta | None = None) -> "TargetSet":
        """The set's frames ``frame_range`` (a step-1 range; all by default) at ``size``
        (w, h), its label maps drawing those of ``parts`` it has; ``meta``: its meta.json
        when the caller has read it already."""
        folder = Path(folder)
        meta = meta or PreparedMeta.load(folder)
        span = frame_range if frame_range is not None else range(meta.frames)
        if span.step != 1 or span.start < 0 or span.stop > meta.frames:
            raise InputError(f"{folder} has {meta.frames} frames, not frames {span.start} to "
                             f"{span.stop - 1} (was it prepared again, shorter?)")
        prepared = read_sequence(folder / KEYPOINTS)[span.start:span.stop]
        return cls(folder, meta, size, span, scale_keypoints(prepared, meta.size, size), prepared,
                   parts, PreparedFrames(folder, size, span.start, len(span), meta.masks))

    def __len__(self) -> int:
        return len(self.keypoints)

    def frames(self, indices: Sequence[int]) -> np.ndarray:
        """(len(indices), h, w, 3) uint8 RGB."""
        return np.stack([self.reader.frame(int(i)) for i in indices])

    def masks(self, indices: Sequence[int]) -> np.ndarray:
        """(len(indices), h, w) float32 person probability (zeros without masks)."""
        return np.stack([self.reader.mask(int(i)) for i in indices]).astype(np.float32) / 255

    def labels(self, indices: Sequence[int]) -> np.ndarray:
        """(len(indices), h, w, 3) uint8 label maps, drawn from the keypoints."""
        return render_labels(self.keypoints[np.asarray(indices, int)], self.size, self.parts)

    def plate(self, recent: int | None = None) -> np.ndarray:
        """The background plate (``background_plate``), favouring the last ``recent`` frames,
        from ``plate_sample`` of the frames: the same as from all of them up to PLATE_SAMPLE
        frames, and bounded in memory beyond."""
        picks, recent = plate_sample(len(self), recent)
        frames = np.empty((len(picks), self.size[1], self.size[0], 3), np.uint8)
        person = np.empty((len(picks), self.size[1], self.size[0]), bool)
        for k, i in enumerate(picks):
            frames[k] = self.reader.frame(i)
            person[k] = person_cover(self.masks([i]), self.labels([i]))[0]
        return background_plate(frames, person, recent)

"""Reading frames from a video, an image or a folder of images; writing H.264 mp4 atomically."""
from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from tqdm import tqdm

from edn.core.errors import InputError
from edn.core.io import atomic_write
from edn.core.paths import natural_key

log = logging.getLogger(__name__)
TRUNCATED_HELP = ("use a video cut short (fewer frames than its header declares) with a warning, "
                  "instead of stopping with an error")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass
class FrameSource:
    """RGB uint8 frames of a video, an image, or a folder of images (in the order of their
    names without the extension, ``edn.core.paths.natural_key``: that of their keypoint
    files)."""
    path: Path
    fps: float
    width: int
    height: int
    count: int            # frames announced (a video's header may be slightly off)
    images: list[Path] | None = None
    allow_truncated: bool = False  # fewer frames than announced: a warning, not an error

    def check_read(self, read: int) -> None:
        """After reading the whole source: ``read`` frames against the ``count`` announced.
        More than 1 % (at least 2) missing means the file is cut short: an InputError, or
        with ``allow_truncated`` a warning and the frames read are used."""
        missing = self.count - read
        if self.images is not None or missing <= max(1, 0.01 * self.count):
            return
        message = (f"{self.path}: only {read} of the {self.count} frames its header declares "
                   "could be read (the file is cut short?)")
        if not self.allow_truncated:
            raise InputError(f"{message}; pass --allow-truncated to use them")
        log.warning("%s: using them", message)

    @property
    def stem(self) -> str:
        return self.path.stem

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.frames_from(0)

    def frames_from(self, start: int) -> Iterator[np.ndarray]:
        """The frames from index ``start`` on (a video's earlier frames are decoded and
        dropped: exact where seeking may not be)."""
        if self.images is not None:
            for p in self.images[start:]:
                yield read_image_rgb(p)
        else:
            yield from _prefetch(self._video_frames(start))

    def _video_frames(self, start: int) -> Iterator[np.ndarray]:
        cap = cv2.VideoCapture(str(self.path))
        try:
            for _ in range(start):
                if not cap.grab():
                    return
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()


def _prefetch(frames: Iterator[np.ndarray], depth: int = 8) -> Iterator[np.ndarray]:
    """Decode in a background thread so decoding overlaps with detection."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for f in frames:
                if stop.is_set():
                    return
                q.put(f)
        except BaseException as e:  # surfaced in the consumer
            q.put(e)
        q.put(done)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.01)


def read_image_rgb(path: str | os.PathLike) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def write_image_rgb(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB image atomically (format from the suffix)."""
    def write(tmp: str) -> None:
        if not cv2.imwrite(tmp, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write image {path}")
    atomic_write(path, write)


def open_frames(path: str | os.PathLike, fps: float = 30.0, allow_truncated: bool = False) -> FrameSource:
    """A FrameSource for a video file, an image file or a folder of images. Raises
    InputError for a missing path, an unreadable or empty video and a folder without images
    (and, once read, for a video cut short: ``FrameSource.check_read``)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    if path.is_dir():
        images = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                        key=lambda p: (natural_key(p.stem), p.name))
        if not images:
            raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
        if twice := [a.stem for a, b in zip(images, images[1:]) if a.stem == b.stem]:
            raise InputError(f"two images in {path} are named {twice[0]!r} (with different "
                             "extensions): their keypoint files would have the same name; "
                             "rename one")
        h, w = read_image_rgb(images[0]).shape[:2]
        return FrameSource(path, fps, w, h, len(images), images)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        h, w = read_image_rgb(path).shape[:2]
        return FrameSource(path, fps, w, h, 1, [path])
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            raise InputError(f"cannot read any frame from {path} (not a video, empty, or cut short before its first frame)")
        video_fps = cap.get(cv2.CAP_PROP_FPS) or fps
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
    finally:
        cap.release()
    return FrameSource(path, float(video_fps), frame.shape[1], frame.shape[0], count,
                       allow_truncated=allow_truncated)


class Mp4Writer:
    """H.264 mp4 through imageio-ffmpeg, written under a temporary name and renamed on
    ``close()``; ``abort()`` (or an exception inside ``with``) leaves nothing behind.
    ``preset``: x264's speed preset (faster presets make larger files of the same quality)."""

    def __init__(self, path: str | os.PathLike, fps: float, quality_crf: int = 18, preset: str = "medium"):
        import imageio_ffmpeg
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._ffmpeg = imageio_ffmpeg
        self.fps = fps
        self.crf = quality_crf
        self.preset = preset
        self._gen = None
        self.size: tuple[int, int] | None = None

    def write(self, frame_rgb: np.ndarray) -> None:
        h, w = frame_rgb.shape[:2]
        if self._gen is None:
            # yuv420p needs even sides: pad by one pixel where odd.
            self.size = (w + w % 2, h + h % 2)
            self._gen = self._ffmpeg.write_frames(
                str(self._tmp), self.size, fps=self.fps, codec="libx264", pix_fmt_out="yuv420p",
                macro_block_size=2, output_params=["-crf", str(self.crf), "-preset", self.preset])
            self._gen.send(None)
        if (w + w % 2, h + h % 2) != self.size:
            raise InputError(f"frame size {w}x{h} differs from the first frame's")
        if w % 2 or h % 2:
            frame_rgb = np.pad(frame_rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        self._gen.send(np.ascontiguousarray(frame_rgb))

    def close(self) -> Path:
        if self._gen is None:
            raise InputError(f"no frames were written to {self.path}")
        self._gen.close()
        self._gen = None
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self._gen is not None:
            self._gen.close()
            self._gen = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _fit_height(image: np.ndarray, height: int) -> np.ndarray:
    if image.shape[0] == height:
        return image
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def assemble_video(frame_dirs: list[Path], out: str | os.PathLike, fps: float,
                   progress: bool = True) -> tuple[Path, int]:
    """Write the PNG frames of ``frame_dirs`` (matched by file name) as one H.264 mp4, the
    folders side by side left to right, each scaled to the first folder's frame height.
    Only names present in every folder are used. Returns (path, frames written)."""
    names = None
    for folder in frame_dirs:
        if not Path(folder).is_dir():
            raise InputError(f"no such folder: {folder}")
        here = {p.name for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        names = here if names is None else names & here
    if not names:
        raise InputError("no frame name is present in every folder: "
                         + ", ".join(str(f) for f in frame_dirs))
    with Mp4Writer(out, fps) as video:
        for name in tqdm(sorted(names), unit="frame", desc="video", disable=not progress):
            tiles = [read_image_rgb(Path(folder) / name) for folder in frame_dirs]
            height = tiles[0].shape[0]
            video.write(np.hstack([_fit_height(t, height) for t in tiles]))
    return Path(out), len(names)

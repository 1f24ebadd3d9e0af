"""Video -> one person's keypoint track: detect and track the dancer, then clean the track."""
from __future__ import annotations

import logging
import multiprocessing
import os
import queue
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from tqdm import tqdm

from edn.core.errors import NoPersonError, OutputExistsError, UserError
from edn.core.keypoints import NUM_JOINTS, WHOLE_JOINTS, check_parts
from edn.core.paths import weights_dir
from edn.core.video import FrameSource
from pose_detector.base import Detector, PersonPose, swap_world_sides
from pose_detector.filtering import fix_side_swaps, median_filter
from pose_detector.tracking import MainPersonTracker, same_person

log = logging.getLogger(__name__)
DETECTORS = ("auto", "mediapipe", "openpose")
# CMU's COCO body model as converted for PyTorch, and tensorboy's (the first found is used).
OPENPOSE_WEIGHTS = ("body_pose_model.pth", "pose_model.pth")


@dataclass
class Track:
    """The main person through a video (frames where nobody was found hold zeros)."""
    keypoints: np.ndarray        # (N, 18 or 130, 3) x, y, confidence in the frames' pixels
    world_landmarks: np.ndarray  # (N, 33, 4) MediaPipe world landmarks, zeros when absent
    found: np.ndarray            # (N,) bool: a person was detected in the frame
    side_swapped: np.ndarray     # (N,) bool: the detector's left/right labels were swapped back
    detector: str
    parts: tuple[str, ...] = ("body",)  # what the detector was asked for (edn.core.keypoints.PARTS)


def openpose_weights(folder: Path) -> Path | None:
    """The OpenPose weights file in ``folder``, if the user brought one."""
    return next((folder / n for n in OPENPOSE_WEIGHTS if (folder / n).is_file()), None)


def make_detector(name: str = "auto", segmentation: bool = False, weights: Path | None = None,
                  scales: tuple[float, ...] = (1.0,), device: str = "auto",
                  parts: tuple[str, ...] = ("body",)) -> Detector:
    """The detector called ``name``, saying in the log which one it is.

    ``auto``: the PyTorch OpenPose backend when its weights are in the weights folder
    (``weights``, default ``edn.core.paths.weights_dir()``), no segmentation masks are
    needed (OpenPose gives none) and only the body is asked for, else MediaPipe (bundled):
    BlazePose, or Holistic when ``parts`` has the face or hands (the OpenPose backend runs
    CMU's body model only). ``scales``: OpenPose's scale search
    (``pose_detector.backends.openpose``)."""
    if name not in DETECTORS:
        raise UserError(f"unknown detector {name!r}; one of {', '.join(DETECTORS)}")
    parts = check_parts(parts)
    folder = weights_dir(weights)
    found = openpose_weights(folder)
    if name == "auto":
        if found is not None and not segmentation and parts == ("body",):
            name = "openpose"
        elif found is not None and parts != ("body",):
            log.info("OpenPose weights found (%s), but the %s are asked for and this OpenPose "
                     "runs the body model only: using MediaPipe Holistic", found,
                     " and ".join(parts[1:]))
        elif found is not None:
            log.info("OpenPose weights found (%s), but segmentation masks are needed and "
                     "OpenPose gives none: using MediaPipe BlazePose", found)
        else:
            log.info("no OpenPose weights (%s) in %s: using MediaPipe BlazePose (bundled)",
                     " or ".join(OPENPOSE_WEIGHTS), folder)
    if name == "openpose":
        if parts != ("body",):
            raise UserError("the OpenPose detector here runs CMU's body model only: for the "
                            "face and hands use --detector mediapipe (Holistic); for the body "
                            "alone leave out --face/--hand (python -m pose_detector) or add "
                            "--body-only (data/video2data.py)")
        if segmentation:
            raise UserError("the OpenPose detector gives no segmentation masks: add --no-masks, "
                            "or use --detector mediapipe")
        if found is None:
            raise UserError(f"--detector openpose needs {' or '.join(OPENPOSE_WEIGHTS)} in "
                            f"{folder} (see weights/README.md)")
        from pose_detector.backends.openpose import OpenPoseDetector
        detector = OpenPoseDetector(found, scales=scales, device=device)
        log.info("detector: OpenPose COCO body model (%s, %s, scales %s)", found,
                 detector.network.precision, ",".join(f"{s:g}" for s in scales))
        return detector
    from pose_detector.backends.mediapipe import MediaPipeDetector
    return MediaPipeDetector(segmentation=segmentation, parts=parts)


# Splitting a video between processes (see ``chunk_starts``), measured on the 2-core AVX-512
# machine with MediaPipe: a worker process is ready ~1 s after its start, about 40 frames'
# worth of detection (27 ms a frame), and skipping a frame it does not track (decoding it)
# costs a tenth of tracking one.
WORKER_START_FRAMES = 40.0
SKIP_COST = 0.1
MIN_CHUNK = 60  # frames: shorter chunks are not worth a process


def detector_parts(detector: Detector) -> tuple[str, ...]:
    """The parts a detector gives (body only unless it says otherwise)."""
    return tuple(getattr(detector, "parts", ("body",)))


@dataclass
class _Detections:
    """Raw per-frame results of a stretch of frames, and the tracker's state at its end."""
    points: int = NUM_JOINTS  # keypoints per person: 18, or 130 with a face and hands
    keypoints: list[np.ndarray] = field(default_factory=list)
    world: list[np.ndarray] = field(default_factory=list)
    found: list[bool] = field(default_factory=list)
    first_box: tuple[float, float, float, float] | None = None  # the first person found
    end_state: tuple[object, int] = (None, 0)  # MainPersonTracker (box, misses) at the end

    def add(self, pose: PersonPose | None) -> None:
        if pose is not None and self.first_box is None:
            self.first_box = pose.box()
        self.found.append(pose is not None)
        self.keypoints.append(pose.keypoints if pose is not None
                              else np.zeros((self.points, 3), np.float32))
        wl = pose.world_landmarks if pose is not None else None
        self.world.append(wl if wl is not None else np.zeros((33, 4), np.float32))


def _track(frames: Iterable[np.ndarray], tracker: MainPersonTracker, first_index: int,
           stop: int | None, on_frame: Callable[[int, np.ndarray, PersonPose | None], None] | None,
           tick: Callable[[], None]) -> _Detections:
    out = _Detections(WHOLE_JOINTS if detector_parts(tracker.detector) != ("body",) else NUM_JOINTS)
    for i, frame in enumerate(frames, first_index):
        if stop is not None and i >= stop:
            break
        pose = tracker.update(frame)
        if on_frame is not None:
            on_frame(i, frame, pose)
        out.add(pose)
        tick()
    out.end_state = (tracker.box, tracker.misses)
    return out


def _track_chunk(factory: Callable[[], Detector], frames: FrameSource, start: int, stop: int | None,
                 chunk: int, messages) -> None:
    """A worker process: track frames [start, stop) with a fresh tracker, reporting each
    frame and then the result (or the error) on ``messages``."""
    try:
        detector = factory()
        try:
            result = _track(frames.frames_from(start), MainPersonTracker(detector), start, stop,
                            None, lambda: messages.put(("frame", chunk, None)))
        finally:
            detector.close()
        messages.put(("done", chunk, result))
    except BaseException as e:  # reported to, and raised in, the parent
        messages.put(("error", chunk, f"{type(e).__name__}: {e}"))


def chunk_starts(count: int, workers: int) -> list[int]:
    """First frames of the chunks that ``workers`` processes track at once, the parent
    taking the first (it starts at once); so sized that all end together: worker k starts
    ``WORKER_START_FRAMES`` late and first decodes the ``start_k`` frames before its own,
    at ``SKIP_COST`` each. Fewer chunks when they would be shorter than ``MIN_CHUNK``."""
    for n in range(min(workers, count // MIN_CHUNK), 1, -1):
        lo, hi = 0.0, float(count)
        for _ in range(50):  # bisect the first chunk's length L
            length = (lo + hi) / 2
            starts, total = [0], length
            for _ in range(n - 1):
                starts.append(round(total))
                total += max(0.0, length - WORKER_START_FRAMES - SKIP_COST * total)
            lo, hi = (length, hi) if total < count else (lo, length)
        if all(b - a >= MIN_CHUNK for a, b in zip(starts, starts[1:] + [count])):
            return starts
    return [0]


def default_workers() -> int:
    """Processes to track with: the cores this process may use, at most 8."""
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def extract_track(frames: FrameSource, detector: Detector, *, smooth: bool = True,
                  on_frame: Callable[[int, np.ndarray, PersonPose | None], None] | None = None,
                  progress: bool = True, workers: int | None = None) -> Track:
    """Track the main person through ``frames``.

    ``on_frame(index, frame_rgb, pose)`` is called for every frame while detecting (before the
    track is cleaned), e.g. to save segmentation masks without holding them all in memory.
    With ``smooth``, left/right label swaps are corrected over the whole track (the hands
    swapped with the body) and each joint, face and hand points included, is median-filtered
    over 7 frames with short gaps filled (``pose_detector.filtering``).

    A single-threaded detector (one with ``parallel_factory()``, e.g. MediaPipe) tracks a long
    video in ``workers`` chunks at once (default: one per core, at most 8; never with
    ``on_frame``): this process the first, worker processes the rest, each from a fresh
    tracker. Where a chunk's first person is not the one the previous chunk ended on (another
    person in the frame was chosen), that chunk is tracked again here, continuing the previous
    chunk's tracker, as a single pass would. Raises NoPersonError when nobody is found in any
    frame, and InputError for a video cut short (unless it was opened with allow_truncated).
    """
    factory = getattr(detector, "parallel_factory", lambda: None)()
    workers = default_workers() if workers is None else workers
    starts = chunk_starts(frames.count, workers) if factory is not None and on_frame is None else [0]
    tracker = MainPersonTracker(detector)
    bar = tqdm(total=frames.count or None, unit="frame", desc=f"pose {frames.stem}",
               disable=not progress, dynamic_ncols=True)
    try:
        if len(starts) == 1:
            chunks = [_track(frames, tracker, 0, None, on_frame, bar.update)]
        else:
            chunks = _track_parallel(frames, tracker, factory, starts, bar)
    finally:
        bar.close()
    found = [f for c in chunks for f in c.found]
    frames.check_read(len(found))
    if not any(found):
        raise NoPersonError(f"no person found in any of the {len(found)} frames of {frames.path}")
    kp = np.stack([k for c in chunks for k in c.keypoints]).astype(np.float32)
    wl = np.stack([w for c in chunks for w in c.world]).astype(np.float32)
    swapped = np.zeros(len(kp), bool)
    if smooth:
        kp, swapped = fix_side_swaps(kp)
        wl[swapped] = swap_world_sides(wl[swapped])
        kp = median_filter(kp)
    return Track(kp, wl, np.array(found), swapped, detector.name, detector_parts(detector))


def _track_parallel(frames: FrameSource, tracker: MainPersonTracker, factory: Callable[[], Detector],
                    starts: list[int], bar: tqdm) -> list[_Detections]:
    context = multiprocessing.get_context("spawn")  # no fork of a process holding detector threads
    messages = context.Queue()
    bounds = list(zip(starts, starts[1:] + [None]))
    processes = [context.Process(target=_track_chunk, args=(factory, frames, a, b, k, messages),
                                 daemon=True) for k, (a, b) in enumerate(bounds) if k > 0]
    results: dict[int, _Detections] = {}
    try:
        for p in processes:
            p.start()

        def drain(block: bool) -> None:
            while True:
                try:
                    kind, chunk, payload = messages.get(block=block, timeout=5 if block else None)
                except queue.Empty:
                    if not block:
                        return
                    dead = [k for k, p in enumerate(processes, 1) if k not in results and not p.is_alive()]
                    if dead:
                        raise RuntimeError(f"the pose worker for frames from {starts[dead[0]]} "
                                           f"died (exit code {processes[dead[0] - 1].exitcode})") from None
                    continue
                if kind == "frame":
                    bar.update()
                elif kind == "done":
                    results[chunk] = payload
                    return
                else:
                    raise RuntimeError(f"pose worker for frames from {starts[chunk]} failed: {payload}")

        chunks = [_track(frames, tracker, 0, starts[1], None, lambda: (bar.update(), drain(False)))]
        while len(results) < len(processes):
            drain(True)
    finally:
        for p in processes:
            if p.is_alive():
                p.terminate()
            p.join()
    for k in range(1, len(starts)):
        chunk = results[k]
        box, misses = chunks[-1].end_state
        if box is not None and chunk.first_box is not None and not same_person(chunk.first_box, box):
            # This chunk's tracker chose someone else: redo it continuing the previous state.
            tracker.box, tracker.misses = box, misses
            chunk = _track(frames.frames_from(starts[k]), tracker, starts[k], bounds[k][1], None,
                           lambda: None)
        chunks.append(chunk)
    return chunks


def check_output_dir(path: str | os.PathLike, overwrite: bool) -> None:
    """Refuse to replace a non-empty folder unless asked to."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not overwrite:
        raise OutputExistsError(f"{path} exists and is not empty (use --overwrite to replace it)")

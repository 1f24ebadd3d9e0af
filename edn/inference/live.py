"""Live transfer (main/live.py): the target person dances what a camera sees.

Two threads on the 2 cores:
- **the source thread** reads the camera (an index), a video file (played at its own frame
  rate: frames whose time has passed while the thread was busy are skipped, as a camera's
  would be) or a stream URL, and runs the tracking detector on each frame it keeps; it hands
  over only the newest (frame, skeleton, capture time);
- **the main thread** takes the newest of those (the ones it did not get to are dropped, never
  queued: the output does not lag behind the camera), normalizes the skeleton into the
  target's frame online (``OnlineNormalizer``), smooths it (``pose_detector.filtering.OneEuro``),
  renders it with the run's generator (its distilled student by default) and shows or writes
  the frame.

Torch runs on one thread. The tracking detector takes about 11 ms of the other core a frame
(MediaPipe at 1280x720) and the generator is the bottleneck, but two torch threads beside the
detector's made the loop slower, not faster (bench/live_speed.py, fp32 path, AMD EPYC, a
6-block student: 10.5 frames a second against 19.3; the threads' spinning starves the source
thread).

The skeletons are mapped from the camera's frame into the target's square prepared frame by one
scale (the frame's height onto the square's side) about the frame's centre, as the person stands
in it; the normalization then moves and scales them onto the target's floor.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from edn.core.errors import InputError, OutputExistsError, UserError
from edn.core.keypoints import NUM_JOINTS, scale_keypoints, torso_size
from edn.core.run import TargetInfo
from edn.core.runtime import pick_device
from edn.core.video import Mp4Writer
from edn.inference.transfer import Renderer
from edn.preparation.normalize import (
    AnkleStats,
    ankle_stats,
    fit_normalization,
    frame_transforms,
    robust_transforms,
)
from pose_detector.base import Detector
from pose_detector.extract import make_detector
from pose_detector.filtering import OneEuro
from pose_detector.tracking import MainPersonTracker

REFIT = 1.0        # seconds between refits of the source's statistics
HISTORY = 20.0     # seconds of source skeletons the fit looks at
STALL = 5.0        # seconds without a frame: the source has stalled
GONE = 1.0         # seconds without a frame made before the window says why (a missed detection
                   # or two keeps the last frame)
# x264's speed preset for a live mp4: the encoder shares the 2 cores with the loop, and at its
# default ("medium") the loop made 14.9-16.1 frames/s against 16.6-17.3 (docs/results.md)
LIVE_X264_PRESET = "veryfast"
NOTICE_FONT = cv2.FONT_HERSHEY_SIMPLEX
WINDOW = "edn live"


@dataclass
class LiveOptions:
    """What main/live.py's flags ask for (see its --help)."""
    name: str
    source: str                     # a camera index, a video file or a stream URL
    weights: Path
    output: Path | None = None      # an mp4 instead of a window
    side_by_side: bool = False      # the camera and the skeleton beside the result
    calibrate: float = 2.0          # seconds of source skeletons before the first frame
    student: bool = True
    compile: bool = True            # torch.compile the generator before the source starts
    device: str = "auto"
    fit: str = "auto"
    stall: float = STALL
    max_frames: int | None = None   # stop after this many frames shown
    overwrite: bool = False         # replace an existing output
    open_source: Callable[[str], "Capture"] | None = None  # tests: a fake camera
    detector: Detector | None = None  # tests: a stand-in for the tracking detector


class Capture:
    """A frame source: ``read()`` -> RGB frame or None at its end (a camera that stops
    delivering raises); ``fps`` (0: a live camera, read as fast as it delivers)."""

    def __init__(self, spec: str) -> None:
        self.capture = cv2.VideoCapture(int(spec) if spec.isdigit() else spec)
        if not self.capture.isOpened():
            raise InputError(f"cannot open the source {spec!r} (a camera index, a video file or a "
                             "stream URL OpenCV can read)")
        self.camera = spec.isdigit()
        # a file, or a stream of one, at its own rate; a camera as fast as it delivers
        self.fps = 0.0 if self.camera else float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)

    def read(self) -> np.ndarray | None:
        ok, frame = self.capture.read()
        if not ok and self.camera:
            raise OSError("the camera stopped delivering frames")
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok else None

    def close(self) -> None:
        self.capture.release()


@dataclass
class Seen:
    """A source frame as the source thread hands it over."""
    frame: np.ndarray
    pose: np.ndarray | None   # (18 or 130, 3) in the frame's pixels; None: nobody found
    captured: float           # time.monotonic() when read


@dataclass
class Stats:
    """What a live run did: frames shown and when (``shown_at``, time.monotonic()), dropped
    (the source thread's newest replaced before the main thread took it), skipped by the source
    (a file's frames whose time had passed), latencies (s, camera frame read -> frame shown), the time it ran, and why it
    stopped."""
    shown: int = 0
    skipped_by_source: int = 0
    dropped: int = 0
    latencies: list[float] = field(default_factory=list)
    shown_at: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str = ""
    compiled: bool = False  # whether the generator ran compiled (a failed compile falls back)

    @property
    def fps(self) -> float:
        """Frames shown a second, from the first shown (after the calibration) to the last."""
        span = self.shown_at[-1] - self.shown_at[0] if len(self.shown_at) > 1 else 0.0
        return (len(self.shown_at) - 1) / span if span > 0 else 0.0

    def summary(self) -> str:
        fps = self.fps
        lat = np.array(self.latencies) * 1000 if self.latencies else np.zeros(1)
        return (f"{self.shown} frames in {self.seconds:.1f} s: {fps:.1f} frames/s; latency median "
                f"{np.median(lat):.0f} ms, 95th percentile {np.percentile(lat, 95):.0f} ms; dropped "
                f"{self.dropped} + {self.skipped_by_source} skipped by the source; {self.stopped}")


class SourceThread(threading.Thread):
    """Reads the source and tracks the dancer; keeps only the newest ``Seen``."""

    def __init__(self, capture: Capture, tracker: MainPersonTracker) -> None:
        super().__init__(daemon=True)
        self.capture, self.tracker = capture, tracker
        self.lock = threading.Condition()
        self.latest: Seen | None = None
        self.taken = True
        self.ended = False
        self.error: BaseException | None = None
        self.dropped = 0
        self.skipped = 0
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            start, index = time.monotonic(), 0
            while not self.stop.is_set():
                frame = self.capture.read()
                if frame is None:
                    break
                if self.capture.fps > 0:  # a file: at its own rate, late frames skipped
                    due = start + index / self.capture.fps
                    now = time.monotonic()
                    if now > due + 1.0 / self.capture.fps:
                        index += 1
                        self.skipped += 1
                        continue
                    if now < due:
                        time.sleep(due - now)
                captured = time.monotonic()
                found = self.tracker.update(frame)
                seen = Seen(frame, found.keypoints if found is not None else None, captured)
                index += 1
                with self.lock:
                    if not self.taken:
                        self.dropped += 1
                    self.latest, self.taken = seen, False
                    self.lock.notify()
        except BaseException as e:  # reported by the main thread, in one line
            self.error = e
        finally:
            self.capture.close()  # here: never while this thread may be reading it
            with self.lock:
                self.ended = True
                self.lock.notify()

    def take(self, timeout: float) -> Seen | None:
        """The newest unseen frame, waiting up to ``timeout`` s; None at the end or a stall."""
        with self.lock:
            self.lock.wait_for(lambda: not self.taken or self.ended, timeout)
            if self.taken:
                return None
            self.taken = True
            return self.latest


def to_prepared(poses: np.ndarray, frame: tuple[int, int], prepared: tuple[int, int]) -> np.ndarray:
    """Keypoints (..., J, 3) in a camera frame of size ``frame`` (w, h) -> the prepared frame's
    pixels (w, h): one scale, the frame's height onto the prepared height, about the centres
    (the sides of a wide frame fall outside); unseen joints stay 0."""
    s = prepared[1] / frame[1]
    out = np.asarray(poses, np.float32).copy()
    out[..., 0] = (out[..., 0] - frame[0] / 2) * s + prepared[0] / 2
    out[..., 1] *= s
    out[out[..., 2] <= 0] = 0
    return out


class OnlineNormalizer:
    """The source's skeletons into the target's frame, live (edn.preparation.normalize): the
    source's ankle statistics and the fit ("edn" or "robust", as ``fit`` asks) chosen over the
    last HISTORY seconds, again every REFIT seconds, the first time once ``calibrate`` seconds
    of skeletons are in; each frame then transformed as that fit transforms it (a frame without
    both ankles keeps the transform before)."""

    def __init__(self, target: TargetInfo, source_size: tuple[int, int], fit: str, calibrate: float) -> None:
        self.target_stats = AnkleStats(**target.stats)
        self.target, self.source_size, self.fit, self.calibrate = target, source_size, fit, calibrate
        self.history: deque[tuple[float, np.ndarray]] = deque()
        self.chosen: tuple[str, AnkleStats] | None = None   # the fit and the source's statistics
        self.transform: tuple[np.ndarray, float, float] | None = None  # anchor, scale, shift
        self.fitted_at = -np.inf
        self.summary = ""

    def _refit(self, poses: np.ndarray, now: float) -> None:
        try:
            stats = ankle_stats(poses)
            result = fit_normalization(poses, stats, self.target_stats, self.fit)
        except InputError:  # TooFewFramesError among them: not enough ankles yet, keep the fit before
            return
        self.chosen, self.fitted_at, self.summary = (result.fit, stats), now, result.summary()

    def waiting(self, now: float) -> str:
        """What a None from ``__call__`` at ``now`` waits for, in words for the window."""
        if self.chosen is None:  # the calibration's time, or enough skeletons with ankles
            left = self.calibrate - (now - self.history[0][0]) if self.history else self.calibrate
            return f"calibrating{f': {math.ceil(left)} s' if left > 0 else ''}, dance in full view"
        return "waiting to see both feet: step into full view"

    def __call__(self, pose: np.ndarray, now: float) -> np.ndarray | None:
        """``pose`` (J, 3) in source pixels -> in the target's prepared pixels; None while
        calibrating (``waiting`` says why)."""
        kp = to_prepared(pose[None], self.source_size, self.target.prepared_size)
        self.history.append((now, kp[0]))
        while self.history[0][0] < now - HISTORY:
            self.history.popleft()
        def history() -> np.ndarray:  # stacked only where a fit needs every frame
            return np.stack([p for _, p in self.history])[:, :NUM_JOINTS]
        if (self.chosen is None and now - self.history[0][0] >= self.calibrate) or \
                (self.chosen is not None and now - self.fitted_at >= REFIT):
            self._refit(history(), now)
        if self.chosen is None:
            return None
        fit, stats = self.chosen
        try:
            t = frame_transforms(kp[:, :NUM_JOINTS], stats, self.target_stats) if fit == "edn" else \
                robust_transforms(history(), stats, self.target_stats)
            self.transform = (t.anchor[-1], float(t.scale[-1]), float(t.shift[-1]))
        except InputError:  # no ankles in this frame (nor, robust, in the history)
            pass
        if self.transform is None:
            return None
        anchor, scale, shift = self.transform
        out = kp[0].copy()
        found = out[:, 2] > 0
        out[found, :2] = anchor + scale * (out[found, :2] - anchor)
        out[found, 1] += shift
        return out


def compose(result: np.ndarray, seen: Seen, label: np.ndarray, side_by_side: bool) -> np.ndarray:
    """The frame shown: the result, or the camera | skeleton | result at the result's height."""
    if not side_by_side:
        return result
    h = result.shape[0]
    camera = cv2.resize(seen.frame, (max(1, round(seen.frame.shape[1] * h / seen.frame.shape[0])), h),
                        interpolation=cv2.INTER_AREA)
    return np.concatenate([camera, label, result], 1)


def notice(frame: np.ndarray, text: str, height: int) -> np.ndarray:
    """The camera frame at ``height`` with ``text`` over its top, white on black, wrapped to
    the frame's width: what the window shows while no frame can be made."""
    width = max(1, round(frame.shape[1] * height / frame.shape[0]))
    out = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    room = max(1, width - 20)
    unit = cv2.getTextSize(text, NOTICE_FONT, 1.0, 1)[0][0]
    scale = min(1.0, max(0.4, room / unit))  # one line where it fits at 0.4 or more, else wrapped
    lines: list[str] = []
    for word in text.split():
        line = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(line, NOTICE_FONT, scale, 1)[0][0] <= room:
            lines[-1] = line
        else:
            lines.append(word)
    (_, line_h), baseline = cv2.getTextSize(text, NOTICE_FONT, scale, 1)
    step = line_h + baseline + 4
    cv2.rectangle(out, (0, 0), (width, step * len(lines) + 6), (0, 0, 0), -1)
    for i, line in enumerate(lines):
        cv2.putText(out, line, (8, 4 + line_h + i * step), NOTICE_FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def has_display() -> bool:
    """Whether a window can open (Linux: an X or Wayland display, or Qt told to draw offscreen);
    OpenCV's Qt aborts the process instead of raising when it cannot."""
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM") == "offscreen")


def run_live(options: LiveOptions) -> Stats:
    """Run until the source ends, stalls, the window is closed (q / Esc), Ctrl-C or
    ``max_frames``."""
    if options.output is not None and options.output.suffix.lower() != ".mp4":
        raise UserError(f"--output {options.output}: an .mp4 file")
    if options.output is not None and options.output.exists() and not options.overwrite:
        raise OutputExistsError(f"{options.output} exists (use --overwrite to replace it)")
    if options.output is None and not has_display():
        raise UserError("no window can be opened here (no display): write to a file with --output live.mp4")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module text: two threads were slower
    try:
        return _run(options)
    finally:
        torch.set_num_threads(threads)


def _run(options: LiveOptions) -> Stats:
    renderer = Renderer(options.weights / options.name, pick_device(options.device),
                        face=False, student=options.student, compile=options.compile)
    detector = options.detector or make_detector("auto", weights=options.weights, parts=renderer.parts)
    capture = (options.open_source or Capture)(options.source)
    source = SourceThread(capture, MainPersonTracker(detector))
    stats = Stats()
    writer = None
    written_at = 0.0  # the capture time up to which the video holds frames
    stream = renderer.live()
    next(stream)
    normalizer: OnlineNormalizer | None = None
    smooth: OneEuro | None = None
    last_seen = None
    last_shown: np.ndarray | None = None  # the window's last made frame, and when its source was captured
    made_at = -np.inf
    target = renderer.target
    source.start()
    started = time.monotonic()
    try:
        while options.max_frames is None or stats.shown < options.max_frames:
            seen = source.take(options.stall)
            if seen is None:
                if source.error is not None:
                    raise InputError(f"the source failed: {source.error}") from source.error
                stats.stopped = "the source ended" if source.ended else \
                    f"the source stalled: no frame for {options.stall:g} s"
                break
            pose = None
            if seen.pose is None:
                if smooth is not None:
                    smooth.reset()  # the person left: no gliding from where they were
            else:
                if normalizer is None:
                    normalizer = OnlineNormalizer(target, (seen.frame.shape[1], seen.frame.shape[0]),
                                                  options.fit, options.calibrate)
                    smooth = OneEuro(capture.fps or 30.0, scale=max(1.0, torso_size(seen.pose)))
                assert smooth is not None
                dt = seen.captured - last_seen if last_seen is not None else None
                last_seen = seen.captured
                pose = normalizer(smooth(seen.pose, dt), seen.captured)
            if pose is None:  # no frame to make: the window keeps the last, or says why
                if options.output is None:
                    if last_shown is None or seen.captured - made_at >= GONE:
                        waiting = "nobody in view" if normalizer is None or seen.pose is None else \
                            normalizer.waiting(seen.captured)
                        last_shown = None  # the notice stays until a frame is made
                        wait_frame = notice(seen.frame, waiting, target.size[1])
                    else:
                        wait_frame = last_shown
                    if show(wait_frame):
                        stats.stopped = "stopped by the user"
                        break
                continue
            made = stream.send(scale_keypoints(pose[None], target.prepared_size, target.size)[0])
            shown = compose(made.result, seen, made.label, options.side_by_side)
            last_shown, made_at = shown, seen.captured
            if options.output is not None:
                rate = capture.fps or 15.0
                if writer is None:
                    writer = Mp4Writer(options.output, rate, preset=LIVE_X264_PRESET)
                    written_at = seen.captured - 1.0 / rate
                # each frame held until the next: the video plays at the source's pace
                repeats = max(1, round((seen.captured - written_at) * rate))
                for _ in range(repeats):
                    writer.write(shown)
                written_at += repeats / rate
            elif show(shown):
                stats.stopped = "stopped by the user"
                break
            stats.shown += 1
            stats.shown_at.append(time.monotonic())
            stats.latencies.append(stats.shown_at[-1] - seen.captured)
        else:
            stats.stopped = f"{options.max_frames} frames shown"
    except KeyboardInterrupt:
        stats.stopped = "stopped by the user (Ctrl-C)"
    except BaseException:
        if writer is not None:
            writer.abort()  # no half-written video that looks complete
        raise
    finally:
        source.stop.set()
        source.join(timeout=options.stall)
        detector.close()
        stats.seconds = time.monotonic() - started
        stats.dropped, stats.skipped_by_source = source.dropped, source.skipped
        stats.compiled = renderer.generator.compiled
        if options.output is None:
            try:
                cv2.destroyAllWindows()
            except cv2.error:
                pass  # nothing was shown
    if writer is not None:
        writer.close()
    elif options.output is not None:
        raise InputError(f"no frame was made ({stats.stopped}): {options.output} not written")
    return stats


def show(frame: np.ndarray) -> bool:
    """Show ``frame`` in the window; True when the user closes it (q, Esc or its close box)."""
    cv2.imshow(WINDOW, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    key = cv2.waitKey(1) & 0xFF
    return key in (ord("q"), 27) or cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1

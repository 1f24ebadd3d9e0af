"""Video -> one person's keypoint track: detect and track the dancer, then clean the track."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from edn.keypoints import NUM_JOINTS
from edn.video import FrameSource
from pose_detector.base import Detector, PersonPose, swap_world_sides
from pose_detector.filtering import fix_side_swaps, median_filter
from pose_detector.tracking import MainPersonTracker

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DETECTORS = ("auto", "mediapipe")
# CMU's COCO body model as converted for PyTorch, and tensorboy's.
OPENPOSE_WEIGHTS = (Path("body_pose_model.pth"), Path("pose_model.pth"))


class NoPersonError(Exception):
    """No person was found in any frame."""


@dataclass
class Track:
    """The main person through a video (frames where nobody was found hold zeros)."""
    keypoints: np.ndarray        # (N, 18, 3) x, y, confidence in the frames' pixels
    world_landmarks: np.ndarray  # (N, 33, 4) MediaPipe world landmarks, zeros when absent
    found: np.ndarray            # (N,) bool: a person was detected in the frame
    side_swapped: np.ndarray     # (N,) bool: the detector's left/right labels were swapped back
    detector: str


def make_detector(name: str = "auto", segmentation: bool = False) -> Detector:
    """The detector called ``name``. ``auto`` picks the OpenPose backend when its weights are
    in weights/ and that backend is available, else MediaPipe BlazePose (bundled)."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; one of {', '.join(DETECTORS)}")
    # The PyTorch OpenPose backend is not part of this version; `auto` always means MediaPipe.
    found = [p.name for p in OPENPOSE_WEIGHTS if (WEIGHTS_DIR / p).is_file()]
    if name == "auto" and found:
        print(f"OpenPose weights found in weights/ ({', '.join(found)}), but this version has "
              "no OpenPose backend: using MediaPipe BlazePose", file=sys.stderr)
    from pose_detector.mediapipe_backend import MediaPipeDetector
    return MediaPipeDetector(segmentation=segmentation)


def extract_track(frames: FrameSource, detector: Detector, *, smooth: bool = True,
                  on_frame: Callable[[int, np.ndarray, PersonPose | None], None] | None = None,
                  progress: bool = True) -> Track:
    """Track the main person through ``frames``.

    ``on_frame(index, frame_rgb, pose)`` is called for every frame while detecting (before the
    track is cleaned), e.g. to save segmentation masks without holding them all in memory.
    With ``smooth``, left/right label swaps are corrected over the whole track and each joint
    is median-filtered over 7 frames with short gaps filled (``pose_detector.filtering``).
    Raises NoPersonError when nobody is found in any frame.
    """
    tracker = MainPersonTracker(detector)
    keypoints, world, found = [], [], []
    bar = tqdm(total=frames.count or None, unit="frame", desc=f"pose {frames.stem}",
               disable=not progress, dynamic_ncols=True)
    try:
        for i, frame in enumerate(frames):
            pose = tracker.update(frame)
            if on_frame is not None:
                on_frame(i, frame, pose)
            found.append(pose is not None)
            keypoints.append(pose.keypoints if pose is not None
                             else np.zeros((NUM_JOINTS, 3), np.float32))
            wl = pose.world_landmarks if pose is not None else None
            world.append(wl if wl is not None else np.zeros((33, 4), np.float32))
            bar.update()
    finally:
        bar.close()
    if not any(found):
        raise NoPersonError(f"no person found in any of the {len(found)} frames of {frames.path}")
    kp = np.stack(keypoints).astype(np.float32)
    wl = np.stack(world).astype(np.float32)
    swapped = np.zeros(len(kp), bool)
    if smooth:
        kp, swapped = fix_side_swaps(kp)
        wl[swapped] = swap_world_sides(wl[swapped])
        kp = median_filter(kp)
    return Track(kp, wl, np.array(found), swapped, detector.name)


def check_output_dir(path: str | os.PathLike, overwrite: bool) -> None:
    """Refuse to replace a non-empty folder unless asked to."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not overwrite:
        raise FileExistsError(f"{path} exists and is not empty (use --overwrite to replace it)")

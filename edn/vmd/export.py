"""A video, a prepared set or a folder of OpenPose JSON -> a VMD motion file."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edn.core.errors import InputError
from edn.core.keypoints import NUM_JOINTS
from edn.core.openpose_json import list_json_files, read_sequence
from edn.core.paths import KEYPOINTS, META, WORLD_LANDMARKS
from edn.core.video import open_frames
from edn.preparation.prepare import PreparedMeta
from edn.vmd.format import write_vmd
from edn.vmd.motion import Options, Report, build_motion
from edn.vmd.pose3d import DEFAULT_FOV, Joints3D, from_world_landmarks, lift
from edn.vmd.skeleton import Skeleton
from pose_detector.extract import extract_track, make_detector

log = logging.getLogger(__name__)


@dataclass
class Skeletons:
    """A video's skeletons: 2D keypoints (T, 18, 3) in pixels, MediaPipe world landmarks
    (T, 33, 4) or None, the frame rate, where they came from, and the frames' size (w, h),
    None when unknown (OpenPose JSON)."""
    keypoints: np.ndarray
    world: np.ndarray | None
    fps: float
    origin: str
    size: tuple[int, int] | None


def load_skeletons(source: Path, fps: float = 30.0, weights: Path | None = None,
                   progress: bool = True, allow_truncated: bool = False) -> Skeletons:
    """From a prepared set (data/video2data.py), a folder of OpenPose JSON (at ``fps``), or a
    video (tracked here with ``--detector auto``)."""
    if not source.exists():
        raise InputError(f"no such file or folder: {source}")
    if source.is_dir() and (source / META).is_file():
        meta = PreparedMeta.load(source)
        world = np.load(source / WORLD_LANDMARKS) if (source / WORLD_LANDMARKS).is_file() else None
        return Skeletons(read_sequence(source / KEYPOINTS)[:, :NUM_JOINTS], world, meta.fps,
                         f"prepared set {source}", tuple(meta.size))
    if source.is_dir() and list_json_files(source):
        return Skeletons(read_sequence(source)[:, :NUM_JOINTS], None, fps, f"OpenPose JSON in {source}", None)
    frames = open_frames(source, fps=fps, allow_truncated=allow_truncated)
    track = extract_track(frames, make_detector("auto", weights=weights), progress=progress)
    world = track.world_landmarks if track.detector == "mediapipe" else None
    return Skeletons(track.keypoints, world, frames.fps, f"{source} ({track.detector})",
                     (frames.width, frames.height))


def joints_of(skeletons: Skeletons, fov: float = DEFAULT_FOV) -> Joints3D:
    """3D joints: the world landmarks when the detector gave them, else lifted from 2D; their
    travel seen through a camera of ``fov`` degrees across the frame's longer side."""
    if skeletons.size is None:
        log.warning("the frames' size is unknown (OpenPose JSON): no travel in depth")
    if skeletons.world is not None and np.abs(skeletons.world[:, :, :3]).sum() > 0:
        return from_world_landmarks(skeletons.world, skeletons.keypoints, skeletons.fps,
                                    skeletons.size, fov)
    return lift(skeletons.keypoints, skeletons.fps, skeletons.size, fov)


def export_vmd(source: Path, out: Path, model: Path | None = None, options: Options = Options(),
               fov: float = DEFAULT_FOV, fps: float = 30.0, weights: Path | None = None,
               progress: bool = True, allow_truncated: bool = False) -> Report:
    """Write the VMD of ``source``'s dancer for ``model`` (a PMX; default the built-in
    standard model) to ``out``, atomically. Returns what was done."""
    skeleton = Skeleton.from_pmx(model) if model is not None else Skeleton.standard()
    skeletons = load_skeletons(source, fps, weights, progress, allow_truncated)
    joints = joints_of(skeletons, fov)
    log.info("3D joints: %s", joints.source)
    motion, report = build_motion(joints, skeleton, options)
    write_vmd(out, motion)
    return report

"""A video, a prepared set or a folder of OpenPose JSON -> a VMD motion file."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edn.core.errors import InputError
from edn.core.keypoints import LEFT_HAND, NUM_JOINTS, RIGHT_HAND, WHOLE_JOINTS
from edn.core.openpose_json import list_json_files, read_sequence
from edn.core.paths import FRAMES, KEYPOINTS, META, WORLD_LANDMARKS
from edn.core.video import FrameSource, open_frames
from edn.preparation.prepare import PreparedMeta, keypoints_to_original
from edn.vmd.fingers import bends
from edn.vmd.format import write_vmd
from edn.vmd.motion import Options, Report, build_motion
from edn.vmd.preview import libraries, write_preview
from edn.vmd.pose3d import DEFAULT_FOV, Joints3D, from_world_landmarks, lift
from edn.vmd.skeleton import Skeleton
from pose_detector.extract import extract_track, make_detector

log = logging.getLogger(__name__)


@dataclass
class Skeletons:
    """A video's skeletons: 2D keypoints (T, 18, 3) in pixels, MediaPipe world landmarks
    (T, 33, 4) or None, the frame rate, where they came from, the frames' size (w, h), None
    when unknown (OpenPose JSON), and the hands (T, 2, 21, 3), the person's left first, or None."""
    keypoints: np.ndarray
    world: np.ndarray | None
    fps: float
    origin: str
    size: tuple[int, int] | None
    hands: np.ndarray | None = None


def _split(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(T, 18 or 130, 3) -> the body (T, 18, 3) and the hands (T, 2, 21, 3) when there are
    any."""
    if keypoints.shape[1] != WHOLE_JOINTS or not (keypoints[:, LEFT_HAND.start:, 2] > 0).any():
        return keypoints[:, :NUM_JOINTS], None
    return keypoints[:, :NUM_JOINTS], np.stack([keypoints[:, LEFT_HAND], keypoints[:, RIGHT_HAND]], 1)


PREPARED, JSON, FRAMES_OR_VIDEO = "prepared set", "OpenPose JSON", "video or image folder"


def source_kind(source: Path) -> str:
    """What ``source`` is: a prepared set, a folder of OpenPose JSON, or frames to track."""
    if not source.exists():
        raise InputError(f"no such file or folder: {source}")
    if source.is_dir() and (source / META).is_file():
        return PREPARED
    if source.is_dir() and list_json_files(source):
        return JSON
    return FRAMES_OR_VIDEO


def load_skeletons(source: Path, fps: float = 30.0, weights: Path | None = None,
                   progress: bool = True, allow_truncated: bool = False,
                   hands: bool = False) -> Skeletons:
    """From a prepared set (data/video2data.py), a folder of OpenPose JSON (at ``fps``), or a
    video (tracked here with ``--detector auto``, with the hands too when ``hands``: MediaPipe
    Holistic). The hands come along wherever the skeletons have them."""
    kind = source_kind(source)
    if kind == PREPARED:  # in the video's pixels: the camera is the video's, not the crop's
        meta = PreparedMeta.load(source)
        world = np.load(source / WORLD_LANDMARKS) if (source / WORLD_LANDMARKS).is_file() else None
        keypoints = keypoints_to_original(read_sequence(source / KEYPOINTS), meta.crop_box, meta.size)
        body, hand = _split(keypoints)
        return Skeletons(body, world, meta.fps, f"prepared set {source}", tuple(meta.original_size), hand)
    if kind == JSON:
        body, hand = _split(read_sequence(source))
        return Skeletons(body, None, fps, f"OpenPose JSON in {source}", None, hand)
    frames = open_frames(source, fps=fps, allow_truncated=allow_truncated)
    parts = ("body", "hands") if hands else ("body",)
    track = extract_track(frames, make_detector("auto", weights=weights, parts=parts), progress=progress)
    world = track.world_landmarks if track.detector == "mediapipe" else None
    body, hand = _split(track.keypoints)
    return Skeletons(body, world, frames.fps, f"{source} ({track.detector})",
                     (frames.width, frames.height), hand)


def joints_of(skeletons: Skeletons, fov: float = DEFAULT_FOV) -> Joints3D:
    """3D joints: the world landmarks when the detector gave them, else lifted from 2D; their
    travel seen through a camera of ``fov`` degrees across the frame's longer side."""
    if skeletons.size is None:
        log.warning("the frames' size is unknown (OpenPose JSON): no travel in depth")
    if skeletons.world is not None and np.abs(skeletons.world[:, :, :3]).sum() > 0:
        joints = from_world_landmarks(skeletons.world, skeletons.keypoints, skeletons.fps,
                                      skeletons.size, fov)
    else:
        joints = lift(skeletons.keypoints, skeletons.fps, skeletons.size, fov)
    if skeletons.hands is not None:
        joints.bends = bends(skeletons.hands)
    return joints


def export_vmd(source: Path, out: Path, model: Path | None = None, options: Options = Options(),
               fov: float = DEFAULT_FOV, fps: float = 30.0, weights: Path | None = None,
               progress: bool = True, allow_truncated: bool = False, hands: bool = False,
               preview: Path | None = None) -> Report:
    """Write the VMD of ``source``'s dancer for ``model`` (a PMX; default the built-in
    standard model) to ``out``, atomically, and with ``preview`` its preview page
    (edn.vmd.preview). Returns what was done."""
    if preview is not None:
        libraries()  # before any work: the preview's libraries are there
    skeleton = Skeleton.from_pmx(model) if model is not None else Skeleton.standard()
    skeletons = load_skeletons(source, fps, weights, progress, allow_truncated, hands)
    joints = joints_of(skeletons, fov)
    log.info("3D joints: %s", joints.source)
    motion, report = build_motion(joints, skeleton, options)
    if preview is not None:  # first: what can fail (a frame, a texture) leaves neither file
        frames = source_frames(source, skeletons.fps, allow_truncated)
        report.preview = write_preview(preview, motion, skeleton, model, frames, skeletons.fps,
                                       f"{out.name} on {skeleton.name}")
    write_vmd(out, motion)
    return report


def source_frames(source: Path, fps: float, allow_truncated: bool) -> FrameSource | None:
    """The frames the skeletons came from: a video's or image folder's, or a prepared set's;
    None for OpenPose JSON, which has none."""
    kind = source_kind(source)
    if kind == PREPARED:
        return open_frames(source / FRAMES, fps=fps) if (source / FRAMES).is_dir() else None
    return None if kind == JSON else open_frames(source, fps=fps, allow_truncated=allow_truncated)

"""Prepared sets: one fixed crop of a static-camera video, frames + keypoints + masks.

Layout and meta fields are documented in docs/formats.md.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edn.core.errors import InputError, NoPersonError, UserError
from edn.core.io import atomic_write_text, staged_dir
from edn.core.keypoints import check_parts
from edn.core.openpose_json import write_sequence
from edn.core.paths import FRAMES, KEYPOINTS, MASKS, META, WORLD_LANDMARKS, frame_name
from edn.core.video import open_frames
from pose_detector.base import Detector, PersonPose
from pose_detector.extract import DETECTORS, extract_track

Box = tuple[float, float, float, float]


@dataclass
class PreparedMeta:
    source: str
    fps: float
    original_size: tuple[int, int]   # (W, H) of the video
    crop_box: Box                    # (x0, y0, x1, y1) in original pixels
    size: tuple[int, int]            # (w, h) of the prepared frames
    detector: str
    frames: int
    masks: bool
    frames_with_person: int
    # The keypoint parts extracted (edn.core.keypoints.PARTS); sets made before faces and
    # hands were extracted have no such field and hold the body only.
    parts: tuple[str, ...] = ("body",)

    def save(self, folder: str | os.PathLike) -> None:
        atomic_write_text(Path(folder) / META, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "PreparedMeta":
        path = Path(folder) / META
        if not Path(folder).exists():
            raise InputError(f"{folder}: no such file or folder")
        if not path.is_file():
            raise InputError(f"{folder} is not a prepared set (no meta.json); "
                                    "make one with data/video2data.py")
        d = json.loads(path.read_text())
        d["original_size"] = tuple(d["original_size"])
        d["crop_box"] = tuple(d["crop_box"])
        d["size"] = tuple(d["size"])
        d["parts"] = check_parts(d.get("parts", ("body",)))
        return cls(**d)


def detector_of(prepared_set: str | os.PathLike) -> str:
    """The detector a prepared set's keypoints came from, so that keypoints compared with or
    transferred onto them come from the same one; "auto" when the set is gone or its
    keypoints came from elsewhere (e.g. real OpenPose JSON)."""
    try:
        name = PreparedMeta.load(prepared_set).detector
    except InputError:
        return "auto"
    return name if name in DETECTORS else "auto"


def parse_size(text: str) -> tuple[int, int]:
    """'512' -> (512, 512); '1024x512' -> (1024, 512) as (width, height)."""
    parts = text.lower().split("x")
    try:
        w, h = (int(parts[0]), int(parts[0])) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    except ValueError:
        raise UserError(f"size must be N or WxH, got {text!r}") from None
    if len(parts) > 2 or w < 16 or h < 16:
        raise UserError(f"size must be N or WxH with sides >= 16, got {text!r}")
    return w, h


def motion_box(keypoints: np.ndarray, min_conf: float = 0.3) -> Box:
    """The box around every confident keypoint of every frame."""
    seen = keypoints[..., 2] > min_conf
    if not seen.any():
        raise NoPersonError("no confident keypoint in any frame")
    xy = keypoints[seen][:, :2]
    return float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max())


def choose_crop_box(keypoints: np.ndarray, frame_size: tuple[int, int],
                    aspect: float = 1.0, margin: float = 0.3) -> Box:
    """One crop for the whole video: the box of the person's motion, grown by ``margin``
    (a fraction of its longer side, for the head top and feet the keypoints miss), with
    width/height = ``aspect``, moved inside the frame where it fits. Where the motion with
    margin is larger than the frame the margin is reduced to make the crop fit, as long as
    the bare motion fits; a motion larger than the frame keeps its whole margin and the crop
    extends past the frame (filled black when cut) rather than touch the person's extremes."""
    W, H = frame_size
    x0, y0, x1, y1 = motion_box(keypoints)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bw, bh = x1 - x0, y1 - y0
    grow = margin * max(bw, bh)
    w = max(bw + grow, (bh + grow) * aspect)
    fit = min(W, H * aspect)
    if w > fit and max(bw, bh * aspect) <= fit:
        w = fit
    h = w / aspect
    x0 = cx - w / 2 if w > W else min(max(cx - w / 2, 0.0), W - w)
    y0 = cy - h / 2 if h > H else min(max(cy - h / 2, 0.0), H - h)
    return x0, y0, x0 + w, y0 + h


def crop_resize(image: np.ndarray, box: Box, size: tuple[int, int],
                interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """Cut ``box`` out of ``image`` (black outside the image) and resize to size (w, h)."""
    H, W = image.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    pad = [max(0, -y0), max(0, y1 - H), max(0, -x0), max(0, x1 - W)]
    if any(pad):
        image = cv2.copyMakeBorder(image, *pad, cv2.BORDER_CONSTANT, value=0)
        x0, x1, y0, y1 = x0 + pad[2], x1 + pad[2], y0 + pad[0], y1 + pad[0]
    return cv2.resize(image[y0:y1, x0:x1], size, interpolation=interpolation)


def keypoints_to_crop(keypoints: np.ndarray, box: Box, size: tuple[int, int]) -> np.ndarray:
    """Original pixels -> prepared-frame pixels (missing joints stay 0)."""
    out = keypoints.astype(np.float32).copy()
    sx, sy = size[0] / (box[2] - box[0]), size[1] / (box[3] - box[1])
    out[..., 0] = (keypoints[..., 0] - box[0]) * sx
    out[..., 1] = (keypoints[..., 1] - box[1]) * sy
    out[out[..., 2] <= 0] = 0
    return out


def keypoints_to_original(keypoints: np.ndarray, box: Box, size: tuple[int, int]) -> np.ndarray:
    """Prepared-frame pixels -> original pixels (missing joints stay 0)."""
    out = keypoints.astype(np.float32).copy()
    sx, sy = (box[2] - box[0]) / size[0], (box[3] - box[1]) / size[1]
    out[..., 0] = keypoints[..., 0] * sx + box[0]
    out[..., 1] = keypoints[..., 1] * sy + box[1]
    out[out[..., 2] <= 0] = 0
    return out


def prepare_video(video: str | os.PathLike, out: str | os.PathLike, detector: Detector,
                  size: tuple[int, int] = (512, 512), margin: float = 0.3, masks: bool = True,
                  overwrite: bool = False, progress: bool = True,
                  crop_box: Box | None = None, allow_truncated: bool = False) -> PreparedMeta:
    """Write a prepared set for ``video`` into ``out`` (see docs/formats.md).

    Two passes over the video: the first tracks the person (and keeps the full-frame
    segmentation masks in a scratch folder), which fixes one crop for the whole video; the
    second cuts and resizes the frames. ``crop_box`` (original pixels) replaces the chosen
    crop, e.g. to match an evaluation protocol. ``out`` appears only when complete.
    Raises InputError / NoPersonError for unusable input.
    """
    frames = open_frames(video, allow_truncated=allow_truncated)
    out = Path(out)
    with staged_dir(out, overwrite=overwrite) as tmp, \
            tempfile.TemporaryDirectory(prefix="edn-masks-", dir=tmp) as scratch:

        def keep_mask(i: int, frame: np.ndarray, pose: PersonPose | None) -> None:
            if masks:
                seg = pose.segmentation if pose is not None and pose.segmentation is not None \
                    else np.zeros(frame.shape[:2], np.float32)
                cv2.imwrite(f"{scratch}/{frame_name(i)}", (seg * 255).astype(np.uint8),
                            [cv2.IMWRITE_PNG_COMPRESSION, 1])

        track = extract_track(frames, detector, on_frame=keep_mask, progress=progress)
        box = crop_box or choose_crop_box(track.keypoints, (frames.width, frames.height),
                                          aspect=size[0] / size[1], margin=margin)
        write_sequence(tmp / KEYPOINTS, keypoints_to_crop(track.keypoints, box, size),
                       frames.stem, track.parts,
                       names=None if frames.images is None else [p.stem for p in frames.images])
        np.save(tmp / WORLD_LANDMARKS, track.world_landmarks)
        (tmp / FRAMES).mkdir()
        if masks:
            (tmp / MASKS).mkdir()
        n = 0
        for i, frame in enumerate(tqdm(frames, total=len(track.keypoints), unit="frame",
                                       desc="crop frames", disable=not progress)):
            if i >= len(track.keypoints):
                break
            cv2.imwrite(str(tmp / FRAMES / frame_name(i)),
                        cv2.cvtColor(crop_resize(frame, box, size), cv2.COLOR_RGB2BGR))
            if masks:
                mask = cv2.imread(f"{scratch}/{frame_name(i)}", cv2.IMREAD_GRAYSCALE)
                cv2.imwrite(str(tmp / MASKS / frame_name(i)),
                            crop_resize(mask, box, size, cv2.INTER_LINEAR))
            n += 1
        if n != len(track.keypoints):
            raise InputError(f"the second read of {video} gave {n} frames, "
                               f"the first {len(track.keypoints)}")
        meta = PreparedMeta(source=str(Path(video).resolve()), fps=frames.fps,
                            original_size=(frames.width, frames.height), crop_box=box,
                            size=size, detector=track.detector, frames=n, masks=masks,
                            frames_with_person=int(track.found.sum()), parts=track.parts)
        meta.save(tmp)
    return meta

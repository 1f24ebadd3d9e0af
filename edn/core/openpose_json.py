"""OpenPose JSON files: one file per frame, as OpenPose's ``--write_json`` writes them.

A file holds one frame's people (``{"version": 1.3, "people": [...]}``), each with its
``pose_keypoints_2d``, and ``face_keypoints_2d`` and ``hand_{left,right}_keypoints_2d`` when
OpenPose ran with ``--face --hand``. Reading takes any body layout of ``edn.core.keypoints``
to COCO-18 (with the face and hands after it: 130 points); a folder reads as one sequence,
the main person of each frame, so our output and real OpenPose output are interchangeable.

Files are named as OpenPose names them (``json_name``): a video's frame as
``<video stem>_<12-digit frame>_keypoints.json``, an image's as ``<image stem>_keypoints.json``,
so tools that pair images with their JSON by name find them. A folder reads in frame order
(``list_json_files``).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from edn.core.errors import InputError
from edn.core.io import atomic_write_text
from edn.core.paths import natural_key
from edn.core.keypoints import (
    FACE,
    LEFT_HAND,
    NUM_JOINTS,
    PARTS,
    RIGHT_HAND,
    WHOLE_JOINTS,
    check_parts,
    empty_pose,
    resolve_layout,
    to_coco18,
    whole_body,
)

# OpenPose JSON keys of the parts beyond the body, and the points of each.
_PART_KEYS: tuple[tuple[str, str, slice], ...] = (
    ("face", "face_keypoints_2d", FACE),
    ("hands", "hand_left_keypoints_2d", LEFT_HAND),
    ("hands", "hand_right_keypoints_2d", RIGHT_HAND),
)


def _read_raw(path: str | os.PathLike) -> tuple[list[tuple[np.ndarray, np.ndarray | None]], set[str]]:
    """One JSON file's people as (body points as written, the 112 face and hand points or
    None when the file has neither), and the parts beyond the body the file holds."""
    with open(path) as f:
        data = json.load(f)
    people, parts = [], set()
    for person in data.get("people", []):
        body = np.asarray(person.get("pose_keypoints_2d", []), np.float32).reshape(-1, 3)
        if not len(body):
            continue
        extra = None
        for part, key, points in _PART_KEYS:
            values = np.asarray(person.get(key) or [], np.float32).reshape(-1, 3)
            if len(values) == points.stop - points.start:
                extra = np.zeros((WHOLE_JOINTS - NUM_JOINTS, 3), np.float32) if extra is None else extra
                extra[points.start - NUM_JOINTS:points.stop - NUM_JOINTS] = values
                parts.add(part)
        people.append((body, extra))
    return people, parts


def _person(body: np.ndarray, extra: np.ndarray | None, whole: bool) -> np.ndarray:
    if not whole:
        return body
    out = whole_body(body)
    if extra is not None:
        out[NUM_JOINTS:] = extra
        out[out[:, 2] <= 0] = 0
    return out


def read_openpose_json(path: str | os.PathLike, layout: str = "auto") -> list[np.ndarray]:
    """All people of one OpenPose JSON file, each (18, 3) in COCO-18 order, or (130, 3) with
    the face and hands when the file has ``face_keypoints_2d`` or ``hand_*_keypoints_2d``.

    Reads COCO-18 (54 values), BODY_25 and BODY_25B (75 values, told apart by where
    joints 1 and 8 lie unless ``layout`` says) and COCO-17 (51 values).
    """
    raw, parts = _read_raw(path)
    layout = resolve_layout([b for b, _ in raw], layout)
    return [_person(to_coco18(b, layout), e, bool(parts)) for b, e in raw]


def _values(points: np.ndarray) -> list[float]:
    return [round(float(v), 3) for v in np.asarray(points).reshape(-1)]


def openpose_json_text(people: Sequence[np.ndarray], parts: Sequence[str] | None = None) -> str:
    """OpenPose JSON of ``people``, each (18, 3) or (130, 3). Whole-body people carry
    ``face_keypoints_2d`` and ``hand_{left,right}_keypoints_2d`` as OpenPose writes them with
    ``--face --hand``: the parts in ``parts`` (default all) filled, the others empty lists."""
    parts = PARTS if parts is None else check_parts(parts)
    docs = []
    for p in people:
        p = np.asarray(p).reshape(-1, 3)
        doc: dict[str, object] = {"person_id": [-1], "pose_keypoints_2d": _values(p[:NUM_JOINTS])}
        if len(p) == WHOLE_JOINTS:
            for part, key, points in _PART_KEYS:
                doc[key] = _values(p[points]) if part in parts else []
        docs.append(doc)
    return json.dumps({"version": 1.3, "people": docs})


def write_openpose_json(path: str | os.PathLike, people: Sequence[np.ndarray],
                        parts: Sequence[str] | None = None) -> None:
    """Write people (each (18, 3) or (130, 3)) as an OpenPose JSON file, atomically."""
    atomic_write_text(path, openpose_json_text(people, parts))


_SUFFIX = "_keypoints.json"


def json_name(stem: str, frame: int | None = None) -> str:
    """OpenPose's --write_json naming: ``<video stem>_<12-digit frame>_keypoints.json`` for a
    video's frame, ``<image stem>_keypoints.json`` for an image (``frame`` None)."""
    return f"{stem}{_SUFFIX}" if frame is None else f"{stem}_{frame:012d}{_SUFFIX}"


_FRAME_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def list_json_files(folder: str | os.PathLike) -> list[Path]:
    """The JSON files of a folder in frame order. OpenPose's names (``json_name``) sort by
    what precedes ``_keypoints.json``, as a person counts (``edn.core.paths.natural_key``): a
    video's frame numbers, padded or not, in order, an image folder's files in the order of
    its images (``edn.core.video.open_frames``: ``img_2`` before ``img_10``). Other tools'
    names follow them, by the last number in the name (``v.9.json`` before ``v.10.json``),
    then by name."""
    files = [p for p in Path(folder).iterdir() if p.suffix == ".json"]

    def key(p: Path) -> tuple:
        if p.name.endswith(_SUFFIX):
            return 0, natural_key(p.name[:-len(_SUFFIX)])
        m = _FRAME_NUMBER.search(p.stem)
        return 1, (int(m.group(1)) if m else -1, p.name)

    return sorted(files, key=key)


def main_person(people: Sequence[np.ndarray], min_conf: float = 0.05) -> np.ndarray:
    """The person with the largest body keypoint box (an empty pose if there is nobody)."""
    best, best_area = empty_pose(), -1.0
    for p in people:
        body = p[:NUM_JOINTS]
        seen = body[:, 2] > min_conf
        if seen.sum() < 2:
            continue
        area = float(np.ptp(body[seen, 0]) * np.ptp(body[seen, 1]))
        if area > best_area:
            best, best_area = p, area
    return best


def read_sequence(folder: str | os.PathLike, layout: str = "auto") -> np.ndarray:
    """A folder of per-frame OpenPose JSON files -> (frames, K, 3), main person per frame;
    K = 18, or 130 when any file has a face or hands. A 25-joint layout is told (BODY_25
    or BODY_25B) once from all the folder's files."""
    files = list_json_files(folder)
    if not files:
        raise InputError(f"no OpenPose .json files in {folder}")
    raw, parts = [], set()
    for path in files:
        people, found = _read_raw(path)
        raw.append(people)
        parts |= found
    layout = resolve_layout([b for people in raw for b, _ in people], layout)
    whole = bool(parts)
    out = [main_person([_person(to_coco18(b, layout), e, whole) for b, e in people]) for people in raw]
    return np.stack([whole_body(p) if whole else p for p in out])


def write_sequence(folder: str | os.PathLike, poses: np.ndarray, stem: str,
                   parts: Sequence[str] | None = None,
                   names: Sequence[str] | None = None) -> list[Path]:
    """Write (frames, 18 or 130, 3) as one single-person JSON per frame (empty people when
    the pose has no confident point), named as OpenPose names them (``json_name``): by the
    video's ``stem`` and the frame's number, or, given ``names`` (an image folder's image
    stems, one per frame), by each frame's image. ``parts`` as in ``openpose_json_text``."""
    if names is None:
        files = [json_name(stem, i) for i in range(len(poses))]
    else:
        if len(names) != len(poses) or len(set(names)) != len(names):
            raise ValueError(f"{len(names)} names, {len(set(names))} of them different, for "
                             f"{len(poses)} frames")  # open_frames refuses repeated stems
        files = [json_name(name) for name in names]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, pose in zip(files, poses):
        path = folder / name
        write_openpose_json(path, [pose] if (pose[:, 2] > 0).any() else [], parts)
        paths.append(path)
    return paths

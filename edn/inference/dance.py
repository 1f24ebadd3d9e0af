"""A dance transfer into a folder (docs/formats.md, "Transfer folder"): the source's
skeletons extracted when it is a video, normalized into the target's frame, rendered by the
target's model, written with the label maps, the source frames and a contact sheet.

It streams: the skeletons of the whole source are read first (the normalization's
statistics need them all; they are a few kB a frame), then each frame is drawn, generated,
refined and written before the next is read, so memory does not grow with the source."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from edn.core.errors import NoPersonError, OutputExistsError
from edn.core.io import atomic_write_text, staged_dir
from edn.core.keypoints import NUM_JOINTS, scale_keypoints
from edn.core.openpose_json import read_sequence, write_sequence
from edn.core.paths import FRAMES, KEYPOINTS, frame_name
from edn.core.runtime import pick_device
from edn.core.video import read_image_rgb, write_image_rgb
from edn.inference.transfer import Renderer, normalize_to_target
from edn.preparation.contact_sheet import spread, transfer_sheet
from edn.preparation.normalize import jumps_warning
from edn.preparation.prepare import PreparedMeta, crop_resize, detector_of, prepare_video
from pose_detector.extract import make_detector

log = logging.getLogger(__name__)
SOURCE_SET = "source_set"  # in a transfer folder: the source video's prepared set
SHEET_TILES = 8


@dataclass
class TransferOptions:
    """What main/test.py's flags ask for (see its --help)."""
    name: str                 # the run, weights/NAME
    source: Path              # a video, or a prepared set
    out: Path
    weights: Path             # the weights folder
    fit: str = "auto"         # edn.preparation.normalize.FITS, or "none"
    frames: int | None = None  # only the first N
    device: str = "auto"
    fast: bool = True         # bf16 on CPU, AMP on CUDA
    face: bool = True         # the run's face stage, when it has one
    student: bool = False     # the run's distilled student generator (no face stage)
    overwrite: bool = False
    allow_truncated: bool = False
    progress: bool = True


def missing_parts(model_parts: tuple[str, ...], source_parts: tuple[str, ...]) -> list[str]:
    """The parts a model draws that the source's keypoints do not have."""
    return [p for p in model_parts if p not in source_parts]


def ranges_text(frames: Sequence[int]) -> str:
    """[3, 4, 5, 9] -> "3-5, 9"."""
    out: list[str] = []
    for f in sorted(frames):
        if out and out[-1].split("-")[-1] == str(f - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{f}"
        else:
            out.append(str(f))
    return ", ".join(out)


def hold_empty_frames(poses: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
    """(frames, 18, 3) with every frame that has no joint at all replaced by the nearest
    earlier frame that has one (the first one that has, for frames before it). Returns the
    poses and {empty frame: the frame it was given}; raises NoPersonError when no frame has
    a joint."""
    poses = np.asarray(poses).copy()
    seen = (poses[:, :, 2] > 0).any(1)
    if not seen.any():
        raise NoPersonError(f"none of the {len(poses)} frames has a skeleton")
    held: dict[int, int] = {}
    last = int(np.argmax(seen))
    for i in range(len(poses)):
        if seen[i]:
            last = i
        else:
            poses[i] = poses[last]
            held[i] = last
    return poses, held


def transfer_dance(options: TransferOptions) -> int:
    """Render the source with the run's model into ``options.out``, which appears only when
    complete. Returns the number of frames."""
    if options.out.exists() and not options.overwrite:  # before any model loads
        raise OutputExistsError(f"{options.out} exists (use --overwrite to replace it)")
    renderer = Renderer(options.weights / options.name, pick_device(options.device),
                        fast=options.fast, face=options.face, student=options.student)
    with staged_dir(options.out, overwrite=True) as tmp:
        prepared = source_set(options, renderer, tmp)
        meta = PreparedMeta.load(prepared)
        keypoints = source_keypoints(prepared, meta, renderer, options.frames)
        keypoints = fit_to_target(keypoints, meta, renderer, options.fit, tmp)
        write_sequence(tmp / KEYPOINTS, keypoints, "normalized", meta.parts)
        n = render_frames(renderer, keypoints, prepared, meta, tmp, options.progress)
        atomic_write_text(tmp / "meta.json", json.dumps(
            {"fps": meta.fps, "name": options.name, "source": meta.source, "frames": n,
             "normalized": options.fit != "none", "model_iteration": renderer.iteration,
             "faces_refined": renderer.face is not None}, indent=2))
    return n


def source_set(options: TransferOptions, renderer: Renderer, tmp: Path) -> Path:
    """The source as a prepared set: itself, or a video prepared into the transfer folder
    (at the target's prepared size, by the detector the target's keypoints came from: one
    skeleton convention)."""
    if not options.source.is_file():
        return options.source
    prepared = tmp / SOURCE_SET
    target = renderer.target
    detector = make_detector(detector_of(target.prepared_set), weights=options.weights,
                             parts=renderer.parts)
    prepare_video(options.source, prepared, detector, size=target.prepared_size, masks=False,
                  progress=options.progress, allow_truncated=options.allow_truncated)
    return prepared


def source_keypoints(prepared: Path, meta: PreparedMeta, renderer: Renderer,
                     frames: int | None) -> np.ndarray:
    """The source's skeletons (the first ``frames``), frames without one holding the one
    before; warns of what the model draws that they lack."""
    if missing := missing_parts(renderer.parts, meta.parts):
        log.warning("the model was trained with the %s, which the source's keypoints lack: "
                    "drawn without them (extract the source with data/video2data.py, "
                    "without --body-only, to have them)", " and ".join(missing))
    keypoints, held = hold_empty_frames(read_sequence(prepared / KEYPOINTS)[:frames])
    if held:
        log.warning("no person in source frame%s %s: drawn with the last skeleton found "
                    "before (or the first after)", "s" if len(held) > 1 else "", ranges_text(list(held)))
    body = keypoints[:, :NUM_JOINTS]
    usual = (body[:, :, 2] > 0).mean(0) >= 0.5  # joints most frames have
    partial = [i for i in range(len(keypoints))
               if i not in held and (body[i, usual, 2] <= 0).any()]
    if partial:
        log.info("%d source frames lack joints most frames have (%s): drawn without them",
                 len(partial), ranges_text(partial))
    return keypoints


def fit_to_target(keypoints: np.ndarray, meta: PreparedMeta, renderer: Renderer, fit: str,
                  tmp: Path) -> np.ndarray:
    """The source's skeletons in the target's prepared-frame pixels: normalized by ``fit``
    (its parameters written to norm_params.json), or only rescaled with "none"."""
    target = renderer.target
    if fit == "none":
        return scale_keypoints(keypoints, meta.size, target.prepared_size)
    result, params = normalize_to_target(keypoints, meta.size, target, fit)
    log.info(result.summary())
    if warning := jumps_warning(params["identity_jumps"]):
        log.warning(warning)
    atomic_write_text(tmp / "norm_params.json", json.dumps(params))
    return result.normalized


def render_frames(renderer: Renderer, keypoints: np.ndarray, prepared: Path,
                  meta: PreparedMeta, tmp: Path, progress: bool) -> int:
    """Frame after frame: the model's frame, its label map and the source frame at the
    model's size into frames/, labels/ and source/; the contact sheet of SHEET_TILES of them
    spread over the video. Returns the number of frames."""
    target = renderer.target
    n = len(keypoints)
    picks = set(spread(n, SHEET_TILES).tolist())
    sheet: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for folder in (FRAMES, "labels", "source"):
        (tmp / folder).mkdir()
    frames = renderer.stream(scale_keypoints(keypoints, target.prepared_size, target.size))
    for i, frame in enumerate(tqdm(frames, total=n, unit="frame", desc="transfer",
                                   disable=not progress)):
        source = crop_resize(read_image_rgb(prepared / FRAMES / frame_name(i)),
                             (0, 0, *meta.size), target.size)
        name = frame_name(i)
        write_image_rgb(tmp / FRAMES / name, frame.result)
        write_image_rgb(tmp / "labels" / name, frame.label)
        write_image_rgb(tmp / "source" / name, source)
        if i in picks:
            sheet.append((source, frame.label, frame.result))
    write_image_rgb(tmp / "contact_sheet.png",
                    transfer_sheet(*(np.stack(column) for column in zip(*sheet)),
                                   tiles=len(sheet)))
    return n

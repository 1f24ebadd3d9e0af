"""A dance transfer into a folder (docs/formats.md, "Transfer folder"): the source's
skeletons extracted when it is a video, normalized into the target's frame, rendered by the
target's model, written with the label maps, the source frames and a contact sheet."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from edn.core.errors import OutputExistsError
from edn.core.io import atomic_write_text, staged_dir
from edn.core.keypoints import (
    NUM_JOINTS,
    hold_empty_frames,
    ranges_text,
    read_sequence,
    scale_keypoints,
    write_sequence,
)
from edn.core.paths import FRAMES, KEYPOINTS, frame_name
from edn.core.video import read_image_rgb, write_image_rgb
from edn.inference.transfer import Renderer, normalize_to_target
from edn.preparation.contact_sheet import transfer_sheet
from edn.preparation.normalize import jumps_warning
from edn.preparation.prepare import PreparedMeta, crop_resize, detector_of, prepare_video
from pose_detector.extract import make_detector

log = logging.getLogger(__name__)


def missing_parts(model_parts: tuple[str, ...], source_parts: tuple[str, ...]) -> list[str]:
    """The parts a model draws that the source's keypoints do not have."""
    return [p for p in model_parts if p not in source_parts]


def transfer_dance(renderer: Renderer, name: str, source: Path, out: Path, fit: str = "auto",
                   frames: int | None = None, overwrite: bool = False,
                   progress: bool = True, weights: Path | None = None,
                   allow_truncated: bool = False) -> int:
    """Render ``source`` (a video or a prepared set) with ``renderer`` into ``out``, which
    appears only when complete. ``fit``: edn.preparation.normalize.FITS or "none";
    ``weights``: the weights folder (for the detector). Returns the number of frames."""
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists (use --overwrite to replace it)")
    target = renderer.target
    with staged_dir(out, overwrite=True) as tmp:
        prepared = source
        if source.is_file():
            prepared = tmp / "source_set"
            # the detector the target's keypoints came from: one skeleton convention
            detector = make_detector(detector_of(target.prepared_set), weights=weights,
                                     parts=renderer.parts)
            prepare_video(source, prepared, detector,
                          size=target.prepared_size,
                          masks=False, progress=progress, allow_truncated=allow_truncated)
        meta = PreparedMeta.load(prepared)
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
        if fit == "none":
            keypoints = scale_keypoints(keypoints, meta.size, target.prepared_size)
        else:
            result, params = normalize_to_target(keypoints, meta.size, target, fit)
            keypoints = result.normalized
            log.info(result.summary())
            if warning := jumps_warning(params["identity_jumps"]):
                log.warning(warning)
            atomic_write_text(tmp / "norm_params.json", json.dumps(params))
        write_sequence(tmp / KEYPOINTS, keypoints, "normalized", meta.parts)
        labels, generated = renderer.render(scale_keypoints(keypoints, target.prepared_size, target.size),
                                            progress=progress)
        for folder, images in (("labels", labels), (FRAMES, generated)):
            (tmp / folder).mkdir()
            for i, image in enumerate(images):
                write_image_rgb(tmp / folder / frame_name(i), image)
        (tmp / "source").mkdir()
        sources = np.stack([crop_resize(read_image_rgb(prepared / FRAMES / frame_name(i)),
                                        (0, 0, *meta.size), target.size)
                            for i in range(len(generated))])
        for i, image in enumerate(sources):
            write_image_rgb(tmp / "source" / frame_name(i), image)
        write_image_rgb(tmp / "contact_sheet.png", transfer_sheet(sources, labels, generated))
        atomic_write_text(tmp / "meta.json", json.dumps(
            {"fps": meta.fps, "name": name, "source": meta.source, "frames": len(generated),
             "normalized": fit != "none", "model_iteration": renderer.iteration,
             "faces_refined": renderer.face is not None}, indent=2))
    return len(generated)

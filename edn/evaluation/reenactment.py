"""Self-reenactment evaluation of trained runs on their target's held-out frames (main/evaluate.py):
each held-out frame regenerated from its own skeleton, sequentially, and compared with the
real one, beside nearest-skeleton retrieval and the mean training frame; with several runs,
the paper's ablation table. Writes the report folder of docs/formats.md."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edn.core.errors import InputError, OutputExistsError, UserError
from edn.core.io import atomic_write_text, staged_dir
from edn.core.keypoints import FACE, NUM_JOINTS
from edn.evaluation.lpips_score import LPIPS
from edn.evaluation.metrics import (
    ablation_label,
    ablation_rank,
    ablation_row,
    ablation_table,
    all_scores,
    detect_each,
    held_out_split,
    nearest_skeleton,
    points_distance,
    pose_distance,
    retrieval_verdict,
)
from edn.inference.transfer import Renderer
from edn.preparation.contact_sheet import write_report
from edn.preparation.prepare import PreparedMeta, detector_of
from edn.preparation.target_set import TargetSet
from pose_detector.extract import make_detector


def prepared_set_of(target: Path, renderer: Renderer) -> Path:
    """The prepared set to evaluate on: ``target`` itself when it is one, else (a video) the
    set the run was trained on, which must come from that video (same crop)."""
    if not target.exists():
        raise InputError(f"--target {target}: no such file or folder")
    if target.is_dir():
        return target
    trained_on = Path(renderer.target.prepared_set)
    meta = PreparedMeta.load(trained_on)
    if Path(meta.source).resolve() != target.resolve():
        raise InputError(f"the run was trained on a set made from {meta.source}, not {target}; "
                         "pass that prepared set (or its video) as --target")
    return trained_on


@dataclass
class Evaluation:
    """What an evaluation wrote (report = metrics.json) and what a command shows of it."""
    report: dict
    metrics: dict
    verdicts: dict[str, str]
    table: str  # the ablation table (markdown), empty without ablate


def evaluate_runs(runs: dict[str, Path], target: Path, out: Path, device: torch.device,
                  weights: Path, split_fraction: float | None = None, ablate: bool = False,
                  overwrite: bool = False, progress: bool = True) -> Evaluation:
    """Evaluate ``runs`` (name -> run folder) on ``target`` (a prepared set or its video) and
    write the report into ``out``; LPIPS when ``weights`` holds AlexNet's weights."""
    renderers = {name: Renderer(run_dir, device) for name, run_dir in runs.items()}
    names = list(runs)
    first = renderers[names[0]]
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists (use --overwrite to replace it)")
    prepared = prepared_set_of(target, first)
    size = first.target.size
    for name, r in renderers.items():
        if r.target.size != size or Path(r.target.prepared_set) != Path(first.target.prepared_set):
            raise UserError(f"run {name} was trained on another set or size than {names[0]}")
    data = TargetSet.load(prepared, size)
    n = len(data.frames)
    split = max(held_out_split(split_fraction, r.target.frames[1], n) for r in renderers.values())
    train, test = slice(0, split), slice(split, n)
    keypoints, real = data.keypoints[test], data.frames[test]
    # the target keypoints' own detector, with the parts the set has
    detector = make_detector(detector_of(prepared), weights=weights, parts=data.meta.parts)
    perceptual, lpips_note = LPIPS.from_weights_dir(weights, device)

    def scores(frames: np.ndarray) -> dict:
        result = all_scores(frames, real, keypoints, size)
        detected = detect_each(frames, detector, keypoints.shape[1])
        result["pose_distance"] = pose_distance(detected, keypoints)
        if "face" in data.meta.parts:
            result["face_pose_distance"] = points_distance(detected[:, FACE], keypoints[:, FACE])
        if perceptual is not None:
            result["lpips"] = perceptual(frames, real)
        return result

    candidates: dict[str, np.ndarray] = {}
    ablation: dict[str, str] = {}  # row -> run (and whether its face stage was used)
    labels = np.empty(0)
    for name, renderer in renderers.items():
        temporal = renderer.cfg.generator.temporal
        labels, body, refined = renderer.render_both(keypoints, progress=progress)
        if refined is None:
            outputs = {False: body}
        elif ablate:  # a face stage's run is scored without and with it
            outputs = {False: body, True: refined}
        else:
            outputs = {True: refined}
        for face, frames in outputs.items():
            row = ablation_label(temporal, face, renderer.parts) if ablate else "model"
            if row in candidates:
                row = f"{row} ({name})"
            candidates[row] = frames
            ablation[row] = f"{name}{' with its face stage' if face else ''}"
    model_rows = list(candidates)
    candidates["nearest_skeleton_retrieval"] = data.frames[train][
        nearest_skeleton(data.keypoints[train, :NUM_JOINTS], keypoints[:, :NUM_JOINTS])]
    mean_frame = data.frames[train].astype(np.float32).mean(0).round().astype(np.uint8)
    candidates["mean_training_frame"] = np.repeat(mean_frame[None], len(real), 0)
    metrics = {name: scores(frames) for name, frames in candidates.items()}
    retrieval = metrics["nearest_skeleton_retrieval"]
    verdicts = {row: retrieval_verdict(row, metrics[row], retrieval) for row in model_rows}
    best = max(model_rows, key=ablation_rank)  # the report sheet shows the fullest model

    def per_run(values: dict) -> object:
        # One run: its value as such; --ablate: a value per run.
        return values if ablate else values[names[0]]

    report = {
        "run": per_run({name: str(run_dir) for name, run_dir in runs.items()}),
        "checkpoint_iteration": per_run({name: r.iteration for name, r in renderers.items()}),
        "config": per_run({name: dataclasses.asdict(r.cfg) for name, r in renderers.items()}),
        "prepared_set": str(prepared), "size": list(size),
        "split": {"first_test_frame": split, "frames": n,
                  "trained_on": per_run({name: list(r.target.frames)
                                         for name, r in renderers.items()})},
        "lpips": lpips_note,
        "verdict": verdicts if ablate else verdicts["model"], "metrics": metrics,
    }
    table = ""
    if ablate:
        rows = {row: ablation_row(metrics[row]) for row in sorted(model_rows, key=ablation_rank)}
        rows["nearest-skeleton retrieval (baseline)"] = ablation_row(retrieval)
        table = ablation_table(rows)
        report["ablation"] = {"rows": rows, "runs": ablation}
    with staged_dir(out, overwrite=True) as tmp:
        atomic_write_text(tmp / "metrics.json", json.dumps(report, indent=2))
        if table:
            atomic_write_text(tmp / "ablation.md", table)
        shown = {k: v for k, v in metrics.items() if k == best or k not in model_rows}
        write_report(tmp, labels, candidates[best], real, shown)
    return Evaluation(report, metrics, verdicts, table)

"""`main/to_vmd.py` on the shared dance video (unianimate source_video.mp4, 150 frames at 16
fps, 692x1108) for Gene: frames per second of the whole command (start-up, MediaPipe, 3D,
rotations, clean-up, writing) and of the conversion alone (skeletons -> VMD), the keyframes
before and after reduction (Bézier curves, the default, against straight lines, each with the
largest error of the file read back against the unreduced tracks), and FK on Gene against the
input 3D bone directions. Writes a
sheet (video frame | Gene from the front | from the side) to .cache/bench/vmd_sheet.png.

    python bench/vmd_export.py [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from edn.vmd.export import joints_of, load_skeletons
from edn.vmd.fk import DIRECTION_CHECKS, direction_errors, pose, sample
from edn.vmd.format import read_vmd
from edn.vmd import rotations as rot
from edn.vmd.motion import Options, build_motion, resample
from edn.vmd.skeleton import Skeleton

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared/data"
VIDEO = SHARED / "unianimate/data/videos/source_video.mp4"
GENE = SHARED / "mmd/Gene.pmx"
SHEET = ROOT / ".cache/bench/vmd_sheet.png"


def sheet(gene: Skeleton, positions: np.ndarray, fps: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    capture = cv2.VideoCapture(str(VIDEO))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[..., ::-1])
    chains = [["センター", "上半身", "上半身2", "首", "頭", "頭先"]] + [
        [a.replace("X", side) for a in chain] for side in ("左", "右") for chain in
        (["上半身2", "X肩", "X腕", "Xひじ", "X手首"], ["下半身", "X足", "Xひざ", "X足首", gene.toe(side) or "X足首"])]
    picks = np.linspace(5, len(frames) - 5, 5).astype(int)
    fig, ax = plt.subplots(3, len(picks), figsize=(3 * len(picks), 10))
    for c, f in enumerate(picks):
        t = min(int(round(f / fps * 30)), len(positions) - 1)
        ax[0, c].imshow(frames[f])
        ax[0, c].set_title(f"video frame {f}")
        ax[0, c].axis("off")
        for chain in chains:
            p = np.array([positions[t, gene.index(b)] for b in chain])
            colour = "r" if any("左" in b for b in chain) else "b" if any("右" in b for b in chain) else "k"
            ax[1, c].plot(p[:, 0], p[:, 1], colour + "-o", ms=2)  # camera view: the model's left on the right
            ax[2, c].plot(p[:, 2], p[:, 1], colour + "-o", ms=2)
        for row, title in ((1, "Gene, front (left red)"), (2, "side (front = -Z, left)")):
            ax[row, c].set_aspect("equal")
            ax[row, c].set(xlim=(-10, 10), ylim=(-1, 22), title=title)
            ax[row, c].axhline(0, color="g")
    plt.tight_layout()
    SHEET.parent.mkdir(parents=True, exist_ok=True)
    plt.savefig(SHEET, dpi=60)


def direction_groups(gene: Skeleton, positions: np.ndarray, joints, frames: int) -> dict:
    """Bone direction errors (degrees, mean and 95th percentile) of a posed motion against the
    3D joints: all bones, the arms, spine and neck, and the legs (with IK legs these are solved
    for the held feet, which the input's sliding feet are not)."""
    errors = direction_errors(gene, positions, resample(joints).joints).reshape(len(DIRECTION_CHECKS), frames)
    legs = np.array([any(b in ("足", "ひざ") for b in (a[1:], z[1:])) for (a, z), _ in DIRECTION_CHECKS])

    def figures(e: np.ndarray) -> dict:
        return {"mean": round(float(e.mean()), 2), "p95": round(float(np.percentile(e, 95)), 2)}
    return {"all": figures(errors), "arms_spine_neck": figures(errors[~legs]), "legs": figures(errors[legs])}


def reduction_error(joints, gene: Skeleton, frames: int, options: Options) -> dict:
    """Keys kept with ``options`` and the largest error of every bone read back from the file
    against the same motion with every frame kept."""
    exact = Options(angle_threshold=1e-6, position_threshold=1e-7, curves=False,
                    fk_legs=options.fk_legs, in_place=options.in_place)
    full, _ = build_motion(joints, gene, exact)
    truth_r, truth_t, _ = sample(full, frames)
    motion, report = build_motion(joints, gene, options)
    with tempfile.TemporaryDirectory() as tmp:
        from edn.vmd.format import write_vmd
        write_vmd(Path(tmp) / "r.vmd", motion)
        got_r, got_t, _ = sample(read_vmd(Path(tmp) / "r.vmd"), frames)
    return {"keyframes": report.keys_after,
            "max_error_deg": round(max(float(np.degrees(rot.angle(got_r[k], truth_r[k])).max()) for k in truth_r), 3),
            "max_error_units": round(max(float(np.linalg.norm(got_t[k] - truth_t[k], axis=1).max()) for k in truth_t), 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not (VIDEO.is_file() and GENE.is_file()):
        print(json.dumps({"skipped": "../shared/data not present"}))
        return 0
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dance.vmd"
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "main/to_vmd.py", str(VIDEO), "-o", str(out), "--model", str(GENE),
                            "--overwrite", "--quiet"], cwd=ROOT, check=True, capture_output=True)
            seconds.append(time.perf_counter() - t0)
    gene = Skeleton.from_pmx(GENE)
    skeletons = load_skeletons(VIDEO, progress=False)
    joints = joints_of(skeletons)
    conversion = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        motion, report = build_motion(joints, gene)
        conversion.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        from edn.vmd.format import write_vmd
        write_vmd(Path(tmp) / "d.vmd", motion)
        rotations, translations, _ = sample(read_vmd(Path(tmp) / "d.vmd"), report.frames)
    positions, _ = pose(gene, rotations, translations, report.frames)
    reductions = {"curves": reduction_error(joints, gene, report.frames, Options()),
                  "linear": reduction_error(joints, gene, report.frames, Options(curves=False))}
    directions = {"IK legs (default)": direction_groups(gene, positions, joints, report.frames)}
    fk_motion, _ = build_motion(joints, gene, Options(fk_legs=True))
    fk_rotations, fk_translations, _ = sample(fk_motion, report.frames)
    directions["FK legs (--fk-legs)"] = direction_groups(
        gene, pose(gene, fk_rotations, fk_translations, report.frames)[0], joints, report.frames)
    feet = [gene.index(n) for n in ("左足首", "右足首", gene.toe("左"), gene.toe("右"))]
    lowest = (positions[:, feet, 1] - gene.rest[feet, 1]).min(1)
    sheet(gene, positions, skeletons.fps)
    n = len(skeletons.keypoints)
    print(json.dumps({
        "cpu": torch.backends.cpu.get_cpu_capability(), "video": f"{VIDEO.name}: {n} frames at {skeletons.fps:g} fps",
        "command_frames_per_s": round(n / statistics.median(seconds), 1),
        "command_s": [round(s, 2) for s in seconds],
        "conversion_frames_per_s": round(n / statistics.median(conversion), 1),
        "output_frames_30fps": report.frames, "bones": len(report.bones),
        "keyframes_before": report.keys_before, "keyframes_after": report.keys_after,
        "reduction": reductions,
        "bone_direction_error_deg": directions,
        "lowest_foot_height_p95_minus_p5": round(float(np.percentile(lowest, 95) - np.percentile(lowest, 5)), 3),
        "sheet": str(SHEET.relative_to(ROOT)),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

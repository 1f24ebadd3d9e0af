"""Feet, jumps, travel and fingers of `main/to_vmd.py`'s motion for Gene (issue 33), read back
from the written VMD files as a reader would.

For each clip, the IK legs (the default) against the FK legs (`--fk-legs`, the output before):
- **foot sliding** while a foot stands: the horizontal speed (MMD units a second) of the
  standing foot, frame to frame, mean and 95th percentile. Stands come from
  edn.vmd.ground.contacts on the IK file's FK pose, the same frames for both files; the FK
  file's foot is its ankle posed by FK, the IK file's its 足ＩＫ target (where MMD's IK puts
  the ankle when the leg reaches it: ``out of reach`` is the share of standing frames where
  the target is farther from the hip than the leg is long);
- **height**: センター's peak above its median, and the lowest foot (IK target, and the FK pose's
  ankles and toes) against the floor;
- **depth**: センター's travel in depth against the change of the body's apparent size (the
  torso's length in pixels, its 95th over its 5th percentile).

Fingers, on taiji.mp4 tracked with its hands (`--hands`: MediaPipe Holistic, 1280x720): each
finger bone's bend as written (the angle of its rotation read back) against
the hand keypoints' own bend at that joint (the angle between its two segments in the image),
over the frames where the hand is seen (edn.vmd.fingers.visible), mean and 95th percentile of the
difference; and the largest bend written where the hand is not seen.

The preview (`--preview`), on the dance video for Gene and for the built-in stick figure: its
size, the time headless Chromium (Debian's, software WebGL) takes from start to the page's
bones read at one frame, and the page's bones (babylon-mmd, MMD's IK solved) against our FK of
the same file every 20 frames: the FK-only bones' largest distance, and the ankles' distance
from our foot IK targets (mean, 95th percentile).

    python bench/vmd_motion.py

Clips: the shared dance video, taiji and the Sports2D demo (a man jumps off a box). Their
skeletons are tracked once into .cache/bench/vmd_skeletons/. Prints one JSON object.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from edn.core.keypoints import J
from edn.vmd.export import Skeletons, joints_of, load_skeletons
from edn.vmd.fk import pose, sample
from edn.vmd.format import read_vmd, write_vmd
from edn.vmd.motion import Options, build_motion
from edn.vmd.skeleton import SIDES, Skeleton

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared/data"
GENE = SHARED / "mmd/Gene.pmx"
CLIPS = {"dance": SHARED / "unianimate/data/videos/source_video.mp4",
         "taiji": SHARED / "hybrik/examples/taiji.mp4",
         "sports2d jump": SHARED / "sports2d_pypi/Sports2D/Demo/demo.mp4"}
CACHE = ROOT / ".cache/bench/vmd_skeletons"
FPS = 30.0


def skeletons_of(video: Path, hands: bool = False) -> Skeletons:
    """The clip's skeletons (with its hands), tracked once."""
    cached = CACHE / f"{video.stem}{'_hands' if hands else ''}.npz"
    if cached.is_file():
        z = np.load(cached)
        return Skeletons(z["keypoints"], z["world"] if z["world"].size else None, float(z["fps"]), str(video),
                         tuple(z["size"]), z["hands"] if z["hands"].size else None)
    s = load_skeletons(video, progress=False, hands=hands)
    CACHE.mkdir(parents=True, exist_ok=True)
    empty = np.zeros(0, np.float32)
    with tempfile.NamedTemporaryFile(dir=CACHE, suffix=".npz", delete=False) as f:
        np.savez(f, keypoints=s.keypoints, world=s.world if s.world is not None else empty, fps=s.fps,
                 size=s.size, hands=s.hands if s.hands is not None else empty)
    Path(f.name).replace(cached)
    return s


def written(motion, frames: int) -> tuple[dict, dict]:
    """The motion's rotations and translations as read back from a VMD file."""
    with tempfile.TemporaryDirectory() as tmp:
        write_vmd(Path(tmp) / "m.vmd", motion)
        rotations, translations, _ = sample(read_vmd(Path(tmp) / "m.vmd"), frames)
    return rotations, translations


def horizontal_speed(points: np.ndarray, standing: np.ndarray) -> np.ndarray:
    """Units a second between consecutive frames that both stand."""
    both = standing[1:] & standing[:-1]
    step = np.linalg.norm((points[1:] - points[:-1])[:, [0, 2]], axis=1) * FPS
    return step[both]


def stats(values: np.ndarray) -> dict:
    return {"mean": round(float(values.mean()), 2), "p95": round(float(np.percentile(values, 95)), 2)} \
        if len(values) else {"mean": None, "p95": None}


def measure(gene: Skeleton, skeletons: Skeletons) -> dict:
    joints = joints_of(skeletons)
    ik_motion, ik_report = build_motion(joints, gene)
    fk_motion, fk_report = build_motion(joints, gene, Options(fk_legs=True))
    frames = ik_report.frames
    rotations, translations = written(ik_motion, frames)
    ik_positions, _ = pose(gene, rotations, translations, frames)  # FK of the IK file (IK unsolved)
    standing = ik_report.standing
    fk_rotations, fk_translations = written(fk_motion, frames)
    fk_positions, _ = pose(gene, fk_rotations, fk_translations, frames)
    fk_slide, ik_slide, reach, target_low = [], [], [], []
    for i, side in enumerate(SIDES):
        target = translations[side + "足ＩＫ"] + gene.position(side + "足ＩＫ")
        fk_slide.append(horizontal_speed(fk_positions[:, gene.index(side + "足首")], standing[:, i]))
        ik_slide.append(horizontal_speed(target, standing[:, i]))
        hip = ik_positions[:, gene.index(side + "足")]
        leg = gene.leg_length(side)
        reach.append(np.linalg.norm(target - hip, axis=1)[standing[:, i]] - leg)
        target_low.append((target[:, 1] - gene.position(side + "足首")[1]).min())
    feet = [gene.index(side + "足首") for side in SIDES] + [gene.index(gene.toe(side)) for side in SIDES]
    centre = translations["センター"]
    k = skeletons.keypoints
    seen = (k[:, [J["l_shoulder"], J["r_shoulder"], J["l_hip"], J["r_hip"]], 2] > 0).all(1)
    torso = np.linalg.norm((k[:, J["l_shoulder"], :2] + k[:, J["r_shoulder"], :2]) / 2
                           - (k[:, J["l_hip"], :2] + k[:, J["r_hip"], :2]) / 2, axis=1)[seen]
    return {
        "frames_30fps": frames, "standing_share": round(float(standing.any(1).mean()), 3),
        "sliding_fk_legs": stats(np.concatenate(fk_slide)),
        "sliding_ik_legs": stats(np.concatenate(ik_slide)),
        "ik_out_of_reach": {"share": round(float((np.concatenate(reach) > 0).mean()), 3),
                            "p95_units": round(float(np.percentile(np.maximum(np.concatenate(reach), 0), 95)), 3)},
        "centre_peak_above_median": round(float(centre[:, 1].max() - np.median(centre[:, 1])), 2),
        "fk_legs_centre_peak_above_median": round(float(fk_translations["センター"][:, 1].max()
                                                        - np.median(fk_translations["センター"][:, 1])), 2),
        "lowest_ik_target_above_floor": round(float(min(target_low)), 3),
        "lowest_fk_foot_point_above_floor": round(float((ik_positions[:, feet, 1] - gene.rest[feet, 1]).min()), 3),
        "depth_travel_units": round(float(np.ptp(centre[:, 2])), 2),
        "apparent_size_p95_over_p5": round(float(np.percentile(torso, 95) / np.percentile(torso, 5)), 3),
        "keyframes_ik": ik_report.keys_after, "keyframes_fk": fk_report.keys_after,
    }


def fingers(gene: Skeleton) -> dict:
    """The finger figures of the module text."""
    from edn.vmd import rotations as rot
    from edn.vmd.fingers import JOINTS, joint_angle, visible

    skeletons = skeletons_of(CLIPS["taiji"], hands=True)
    if skeletons.hands is None:
        return {"skipped": "no hands found in taiji.mp4"}
    motion, report = build_motion(joints_of(skeletons), gene)
    rotations, _ = written(motion, report.frames)
    n = len(skeletons.hands)
    at = np.clip(np.round(np.arange(n) / skeletons.fps * FPS).astype(int), 0, report.frames - 1)
    differences: dict[str, list[np.ndarray]] = {"thumb": [], "finger bases (MCP)": [], "finger middles and ends (PIP, DIP)": []}
    unseen = [0.0]
    for s, side in enumerate(SIDES):
        hand = skeletons.hands[:, s]
        seen = visible(hand)
        for bone, points in JOINTS.items():
            own = np.degrees(joint_angle(hand, points))
            bent = np.degrees(rot.angle(rotations[side + bone][at], rot.IDENTITY))
            kind = "thumb" if bone.startswith("親指") else "finger bases (MCP)" if bone.endswith("１") \
                else "finger middles and ends (PIP, DIP)"
            differences[kind].append(np.abs(bent - own)[seen])
            # away from a seen frame by more than the smoothing's reach: at rest
            far = ~np.convolve(seen, np.ones(13), mode="same").astype(bool)
            unseen.append(float(bent[far].max()) if far.any() else 0.0)
    return {"frames": n, "hands_seen_share": round(float(np.mean([visible(skeletons.hands[:, s]) for s in range(2)])), 3),
            "bend_difference_deg": {kind: stats(np.concatenate(d)) for kind, d in differences.items()},
            "largest_bend_where_unseen_deg": round(max(unseen), 2)}


def preview(gene: Skeleton) -> dict:
    """The preview figures of the module text."""
    import re
    import shutil
    import subprocess
    import time
    from html import unescape

    from edn.core.video import open_frames
    from edn.vmd.preview import write_preview

    chromium = shutil.which("chromium")
    if chromium is None:
        return {"skipped": "no chromium (make test installs it)"}
    video = CLIPS["dance"]
    skeletons = skeletons_of(video)
    joints = joints_of(skeletons)
    flags = ["--headless", "--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader",
             "--virtual-time-budget=60000", "--dump-dom"]
    out = {}
    for name, sk, model in (("Gene", gene, GENE), ("stick figure", Skeleton.standard(), None)):
        motion, report = build_motion(joints, sk)
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "preview.html"
            t0 = time.perf_counter()
            written_preview = write_preview(page, motion, sk, model, open_frames(video), skeletons.fps, name)
            write_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            subprocess.run([chromium, *flags, f"file://{page}#probe=0"], capture_output=True, timeout=300)
            load_s = time.perf_counter() - t0
            frames = list(range(0, report.frames, 20))
            dom = subprocess.run([chromium, *flags, f"file://{page}#probe={','.join(map(str, frames))}"],
                                 capture_output=True, text=True, timeout=600).stdout
        seen = json.loads(unescape(re.search(r'<pre id="probe"[^>]*>(.*?)</pre>', dom, re.S).group(1)))
        rotations, translations = written(motion, report.frames)
        ours, _ = pose(sk, rotations, translations, report.frames)
        fk_bones = ["センター", "上半身", "首", "頭"] + [side + b for side in SIDES for b in ("腕", "ひじ", "手首", "足")]
        fk = [np.linalg.norm(np.subtract(seen[str(t)][b], ours[t, sk.index(b)])) for t in frames for b in fk_bones]
        ik = [np.linalg.norm(np.subtract(seen[str(t)][side + "足首"],
                                         translations[side + "足ＩＫ"][t] + sk.position(side + "足ＩＫ")))
              for t in frames for side in SIDES]
        out[name] = {"bytes": written_preview.size, "source_frames": written_preview.frames,
                     "write_s": round(write_s, 2), "chromium_start_to_bones_s": round(load_s, 2),
                     "fk_bones_max_distance_units": round(float(max(fk)), 4),
                     "ankle_to_ik_target_units": stats(np.array(ik))}
    return out


def main() -> int:
    if not GENE.is_file():
        print(json.dumps({"skipped": "../shared/data not present"}))
        return 0
    gene = Skeleton.from_pmx(GENE)
    out = {"cpu": torch.backends.cpu.get_cpu_capability()}
    for name, video in CLIPS.items():
        if video.is_file():
            out[name] = measure(gene, skeletons_of(video))
    if CLIPS["taiji"].is_file():
        out["fingers (taiji.mp4 --hands)"] = fingers(gene)
    if CLIPS["dance"].is_file():
        out["preview (dance)"] = preview(gene)
    print(json.dumps(out, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Agreement of our main-person skeletons with real CMU OpenPose on the Pose2Sim trial.

For each of the four cameras of ../shared/data's Pose2Sim balancing trial: run our
extraction (tracker + swap correction + median) and raw MediaPipe (video mode, whole
frames, no post-processing) and compare each with OpenPose's main person (largest box;
model BODY_25B, joints 0-16 = COCO-17). Figure: mean per-frame PCK@0.2 of the torso size
over the COCO-17 joints OpenPose itself found with confidence > 0.3 (its lower-confidence
joints are guesses on occluded limbs); the same with every joint OpenPose output
(confidence > 0) is printed as "strict". Prints one JSON object.

    python bench/pose_agreement.py [--cams cam01 cam02 ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edn.core.openpose_json import read_sequence  # noqa: E402
from edn.core.video import open_frames  # noqa: E402
from edn.evaluation.pose_metrics import pck  # noqa: E402
from pose_detector.extract import extract_track, make_detector  # noqa: E402

TRIAL = (ROOT.parent / "shared/data/pose2sim/Pose2Sim/S00_Demo_BatchSession/"
         "S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial")


def raw_mediapipe(video: Path) -> np.ndarray:
    detector = make_detector("mediapipe")
    poses = [detector.track(frame) for frame in open_frames(video)]
    detector.close()
    return np.stack([p.keypoints if p is not None else np.zeros((18, 3), np.float32)
                     for p in poses])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cams", nargs="+", default=["cam01", "cam02", "cam03", "cam04"])
    args = ap.parse_args()
    if not TRIAL.is_dir():
        print(json.dumps({"skipped": f"{TRIAL} not found"}))
        return 0
    result: dict = {"metric": "PCK@0.2 torso, OpenPose joints with confidence > 0.3",
                    "ours": {}, "raw_mediapipe": {}, "ours_strict": {}, "raw_mediapipe_strict": {},
                    "left_right_corrected_frames": {}}
    for cam in args.cams:
        video = TRIAL / "videos" / f"{cam}.mp4"
        reference = read_sequence(TRIAL / "pose" / f"{cam}_json", layout="body25b")
        detector = make_detector("mediapipe")
        track = extract_track(open_frames(video), detector, progress=False)
        detector.close()
        raw = raw_mediapipe(video)
        for name, poses in (("ours", track.keypoints), ("raw_mediapipe", raw)):
            result[name][cam] = round(float(np.nanmean(pck(poses, reference))), 4)
            result[f"{name}_strict"][cam] = round(
                float(np.nanmean(pck(poses, reference, min_ref_conf=0.0))), 4)
        result["left_right_corrected_frames"][cam] = int(track.side_swapped.sum())
        print(f"{cam}: ours {result['ours'][cam]}  raw {result['raw_mediapipe'][cam]}",
              file=sys.stderr, flush=True)
    result["ours_min"] = min(result["ours"].values())
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

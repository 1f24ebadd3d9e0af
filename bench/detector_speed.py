"""Throughput of `python -m pose_detector` on a 1280x720 video, end to end.

Runs the command (decode, detect, track, clean, write JSON; no overlay video; by default one
tracking process per core, see pose_detector.extract.extract_track) several times on
../shared/data/hybrik/examples/taiji.mp4 (412 frames, 1280x720) and prints one JSON object:
the CPU capability and cores, frames/s of the whole process (start-up and imports included)
and of the pipeline as the command reports it (first frame to last JSON written), median
and range.

    python bench/detector_speed.py [--runs 3] [--video PATH] [--workers N] [--face-hand]

--face-hand passes --face --hand (MediaPipe Holistic: the face and hands too).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from pose_detector.extract import default_workers

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = ROOT.parent / "shared/data/hybrik/examples/taiji.mp4"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--workers", type=int, default=None,
                    help="passed to the command (default: its own, one process per core)")
    ap.add_argument("--face-hand", action="store_true", help="extract the face and hands too")
    args = ap.parse_args()
    if not args.video.is_file():
        print(json.dumps({"skipped": f"{args.video} not found"}))
        return 0
    whole, pipeline = [], []
    frames = 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            start = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "pose_detector", str(args.video),
                                  "--write-json", f"{tmp}/json", "--overwrite", "--quiet"]
                                 + ([] if args.workers is None else ["--workers", str(args.workers)])
                                 + (["--face", "--hand"] if args.face_hand else []),
                                 cwd=ROOT, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if run.returncode:
                print(run.stderr, file=sys.stderr)
                return 1
            m = re.search(r"^(\d+) frames .* = ([\d.]+) frames/s", run.stderr, re.M)
            frames = int(m.group(1))
            whole.append(frames / seconds)
            pipeline.append(float(m.group(2)))
    print(json.dumps({
        "video": str(args.video), "frames": frames, "runs": args.runs, "workers": args.workers or "default",
        "face_and_hands": args.face_hand,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cores": default_workers(),
        "whole_process_fps": {"median": round(statistics.median(whole), 1),
                              "min": round(min(whole), 1), "max": round(max(whole), 1)},
        "pipeline_fps": {"median": round(statistics.median(pipeline), 1),
                         "min": round(min(pipeline), 1), "max": round(max(pipeline), 1)},
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

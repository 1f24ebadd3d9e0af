"""The live loop's speed (issue 34): `main/live.py` on taiji.mp4 (1280x720, 24 fps) played at its
own frame rate, driving the taiji model's distilled student, written to an mp4 (no window).

    python bench/live_speed.py [--run .cache/bench/weights/tmp_warp100_fast_pairs3_6000]

The run needs its student: `python main/train.py --weights-dir .cache/bench/weights --name
tmp_warp100_fast_pairs3_6000 --distill --minutes 12` (bench/temporal_ablation.py makes the run).
`--fp32` runs the fp32 path (EDN_CPU_PATH=fp32); `--emulate-avx2` that path with oneDNN, MKL and
ATen capped at AVX2 as well (bench/synthesis_speed.py's AVX2_ENV), an approximation of an AVX2
CPU. Prints one JSON object: sustained frames a second (shown,
from the first after the calibration to the last), median and 95th-percentile latency (camera frame read -> frame written),
frames dropped, the CPU capability string and the path.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from synthesis_speed import AVX2_ENV

import torch

from edn.core.paths import STUDENT
from edn.core.runtime import ENV_VAR
from edn.inference.live import LiveOptions, run_live

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared/data/hybrik/examples/taiji.mp4"
RUN = ROOT / ".cache/bench/weights/tmp_warp100_fast_pairs3_6000"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=RUN, help="a run folder with a student")
    ap.add_argument("--source", type=Path, default=VIDEO, help="the video played as the camera")
    ap.add_argument("--teacher", action="store_true", help="the run's own generator instead")
    ap.add_argument("--no-compile", action="store_true", help="the generator uncompiled")
    ap.add_argument("--keep", type=Path, help="keep the side-by-side video here")
    ap.add_argument("--fp32", action="store_true", help="the fp32 path (EDN_CPU_PATH=fp32)")
    ap.add_argument("--emulate-avx2", action="store_true", help="the fp32 path capped at AVX2")
    args = ap.parse_args()
    wanted = ({ENV_VAR: "fp32"} if args.fp32 or args.emulate_avx2 else {}) | (AVX2_ENV if args.emulate_avx2 else {})
    if any(os.environ.get(k) != v for k, v in wanted.items()):  # set before torch starts: run again
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **wanted})
    if not args.source.is_file() or not (args.run / STUDENT).is_file():
        print(json.dumps({"skipped": f"needs {args.source} and {args.run / STUDENT} (see --help)"}))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "live.mp4"
        stats = run_live(LiveOptions(
            name=args.run.name, source=str(args.source), weights=args.run.parent, output=out,
            side_by_side=args.keep is not None, student=not args.teacher, device="cpu",
            compile=not args.no_compile))
    lat = sorted(stats.latencies)
    print(json.dumps({
        "cpu": torch.backends.cpu.get_cpu_capability(), "path": os.environ.get(ENV_VAR, "default"),
        "emulated_avx2": args.emulate_avx2,
        "generator": "teacher" if args.teacher else "student", "compiled": stats.compiled,
        "source": args.source.name,
        "frames_shown": stats.shown, "seconds": round(stats.seconds, 2),
        "sustained_fps": round(stats.fps, 2),
        "latency_ms": {"median": round(1000 * lat[len(lat) // 2], 1),
                       "p95": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1)},
        "dropped": stats.dropped, "skipped_by_source": stats.skipped_by_source, "stopped": stats.stopped,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

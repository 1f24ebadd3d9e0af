"""python main/live.py --name RUN --source 0|VIDEO|URL [--output live.mp4] [--side-by-side]"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edn.core.cli import add_common_flags, run_command
from edn.core.errors import UserError
from edn.core.paths import WEIGHTS_HELP, weights_dir
from edn.inference.live import HISTORY, STALL, LiveOptions, run_live
from edn.preparation.normalize import FIT_HELP, FITS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Live transfer: the run's target person dances what the source shows, frame "
                    "by frame as it comes (the run's distilled student generator, "
                    "main/train.py --distill). Frames the generator cannot keep up with are "
                    "dropped, never queued. Prints the frames per second and the latency (camera "
                    "frame to shown frame) when it stops; q or Esc closes the window.")
    p.add_argument("--name", required=True, help="the run, weights/NAME")
    p.add_argument("--source", required=True,
                   help="a camera index (0), a video file (played at its own frame rate) or a "
                        "stream URL OpenCV can open")
    p.add_argument("--output", type=Path, metavar="LIVE.mp4",
                   help="write the frames to this mp4 instead of showing a window")
    p.add_argument("--side-by-side", action="store_true", help="the camera and the skeleton beside the result")
    p.add_argument("--calibrate", type=float, default=2.0,
                   help="seconds of the dancer's skeletons the normalization is first fitted on "
                        "(default %(default)g); it is refitted every second on the last 20")
    p.add_argument("--normalize", choices=FITS, default="auto", help=FIT_HELP)
    p.add_argument("--teacher", action="store_true",
                   help="the run's own generator instead of its student (slower)")
    p.add_argument("--no-compile", action="store_true",
                   help="run the generator uncompiled: no compile at the start (up to a minute "
                        "the first time, then cached), but slower frames")
    p.add_argument("--stall", type=float, default=STALL,
                   help="seconds without a frame after which the source counts as stalled "
                        "(default %(default)g)")
    p.add_argument("--frames", type=int, help="stop after this many frames")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--weights-dir", type=Path, help=WEIGHTS_HELP)
    add_common_flags(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: run(args), args.verbose, "interrupted")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.calibrate <= HISTORY or args.stall <= 0 or (args.frames is not None and args.frames < 1):
        raise UserError(f"--calibrate must be 0 to {HISTORY:g} seconds (the fit's history), "
                        "--stall and --frames more than 0")
    stats = run_live(LiveOptions(
        name=args.name, source=args.source, weights=weights_dir(args.weights_dir), output=args.output,
        side_by_side=args.side_by_side, calibrate=args.calibrate, student=not args.teacher,
        device=args.device, fit=args.normalize, stall=args.stall, max_frames=args.frames,
        overwrite=args.overwrite, compile=not args.no_compile))
    print(stats.summary() + (f" -> {args.output}" if args.output else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

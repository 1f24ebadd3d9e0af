"""python output/img2video.py FRAMES_DIR -o result.mp4 [--fps F] [--side-by-side DIR ...]"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edn.core.cli import add_common_flags, run_command
from edn.core.errors import UserError
from edn.core.video import assemble_video


def source_fps(frames_dir: Path) -> float | None:
    """The fps recorded by main/test.py in the transfer folder's meta.json, if any."""
    for meta in (frames_dir / "meta.json", frames_dir.parent / "meta.json"):
        if meta.is_file():
            fps = json.loads(meta.read_text()).get("fps")
            if fps:
                return float(fps)
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Assemble PNG frames into an H.264 mp4, optionally side by side with other "
                    "frame folders (e.g. source | skeleton | result).")
    p.add_argument("frames", type=Path, help="folder of the result frames (*.png)")
    p.add_argument("-o", "--out", required=True, type=Path, help="output .mp4")
    p.add_argument("--fps", type=float,
                   help="frame rate (default: the source's, from meta.json next to the frames "
                        "as written by main/test.py; 30 when there is none)")
    p.add_argument("--side-by-side", nargs="+", type=Path, default=[], metavar="DIR",
                   help="frame folders placed left of the result, in this order, frames "
                        "matched by file name (e.g. OUT/source OUT/labels)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_common_flags(p)
    args = p.parse_args(argv)
    return run_command(lambda: run(args), args.verbose, "interrupted: nothing was written")


def run(args: argparse.Namespace) -> int:
    fps = args.fps or source_fps(args.frames) or 30.0
    if fps <= 0:
        raise UserError("--fps must be positive")
    path, n = assemble_video([*args.side_by_side, args.frames], args.out, fps,
                             progress=not args.quiet)
    print(f"{n} frames at {fps:g} fps -> {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python main/to_vmd.py VIDEO_OR_PREPARED_SET_OR_KEYPOINT_DIR -o dance.vmd [--model X.pmx] [--foot-ik]"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edn.core.cli import add_common_flags, run_command
from edn.core.errors import OutputExistsError
from edn.core.paths import WEIGHTS_HELP
from edn.core.video import TRUNCATED_HELP
from edn.vmd.export import export_vmd


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Write a MikuMikuDance motion (VMD, 30 fps) that moves an MMD model like the "
                    "dancer: 3D joints from MediaPipe's world landmarks (or lifted from 2D "
                    "skeletons), rotations for the standard bones (センター, 上半身(2), 下半身, "
                    "首, 頭, 肩, 腕, ひじ, 手首, 足, ひざ, 足首), feet kept on the floor, "
                    "smoothed and keyframe-reduced.")
    p.add_argument("input", type=Path,
                   help="a video, a prepared set (data/video2data.py) or a folder of OpenPose JSON")
    p.add_argument("-o", "--out", required=True, type=Path, help="the .vmd file to write")
    p.add_argument("--model", type=Path,
                   help="the PMX model the motion is for: its bone names and rest pose "
                        "(default: a built-in standard model, arms 32 degrees below horizontal)")
    p.add_argument("--foot-ik", action="store_true",
                   help="write foot IK (足ＩＫ positions) and leave leg IK on; default: FK legs, "
                        "with an IK-off frame for the leg and toe IK bones")
    p.add_argument("--fps", type=float, default=30.0,
                   help="frame rate of a JSON folder or image folder (videos and prepared sets "
                        "know theirs; default 30)")
    p.add_argument("--allow-truncated", action="store_true", help=TRUNCATED_HELP)
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--weights-dir", type=Path, help=WEIGHTS_HELP)
    add_common_flags(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: run(args), args.verbose, "interrupted: nothing was written")


def run(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.overwrite:
        raise OutputExistsError(f"{args.out} exists (use --overwrite to replace it)")
    start = time.perf_counter()
    report = export_vmd(args.input, args.out, args.model, args.foot_ik, args.fps,
                        args.weights_dir, progress=not args.quiet, allow_truncated=args.allow_truncated)
    print(f"{report.summary()} in {time.perf_counter() - start:.1f} s; legs "
          f"{'foot IK' if args.foot_ik else 'FK (leg IK off)'} -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

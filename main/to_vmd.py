"""python main/to_vmd.py VIDEO_OR_PREPARED_SET_OR_KEYPOINT_DIR -o dance.vmd [--model X.pmx] [--preview dance.html]
[--hands] [--fk-legs] [--in-place] [--fov DEG]"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edn.core.cli import add_common_flags, run_command
from edn.core.errors import InputError, OutputExistsError
from edn.core.paths import WEIGHTS_HELP
from edn.core.video import TRUNCATED_HELP
from edn.vmd.export import export_vmd
from edn.vmd.motion import Options
from edn.vmd.pose3d import DEFAULT_FOV


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Write a MikuMikuDance motion (VMD, 30 fps) that moves an MMD model like the "
                    "dancer: 3D joints from MediaPipe's world landmarks (or lifted from 2D "
                    "skeletons), rotations for the standard bones (センター, 上半身(2), 下半身, "
                    "首, 頭, 肩, 腕, ひじ, 手首, 足, ひざ, 足首), IK legs whose feet stay put "
                    "while they stand, センター travelling sideways, up (jumps) and in depth, "
                    "smoothed and keyframe-reduced.")
    p.add_argument("input", type=Path,
                   help="a video, a prepared set (data/video2data.py) or a folder of OpenPose JSON")
    p.add_argument("-o", "--out", required=True, type=Path, help="the .vmd file to write")
    p.add_argument("--model", type=Path,
                   help="the PMX model the motion is for: its bone names and rest pose "
                        "(default: a built-in standard model, arms 32 degrees below horizontal)")
    p.add_argument("--fk-legs", action="store_true",
                   help="FK legs only, with an IK-off frame for the leg and toe IK bones, and the "
                        "lowest foot on the floor in every frame (no jumps); default: IK legs "
                        "(足ＩＫ positions and rotations, held in place while a foot stands) "
                        "with the legs' FK rotations as IK's starting pose")
    p.add_argument("--in-place", action="store_true",
                   help="no travel in depth: センター's Z stays 0 (sideways travel is kept)")
    p.add_argument("--hands", action="store_true",
                   help="a video: track the hands too (MediaPipe Holistic, slower) and write the "
                        "finger bones; prepared sets and OpenPose JSON with hands have them anyway")
    p.add_argument("--preview", type=Path, metavar="PREVIEW.html",
                   help="also write one self-contained HTML page that plays the motion on the model "
                        "(or a stick figure) beside the source video's frames, offline in any browser")
    p.add_argument("--fov", type=float, default=DEFAULT_FOV,
                   help="the camera's field of view across the frame's longer side, degrees, "
                        "for travel in depth (default %(default)g: a phone's main camera)")
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
    if not 10 <= args.fov <= 170:
        raise InputError(f"--fov {args.fov:g}: a field of view is between 10 and 170 degrees")
    if args.preview is not None and args.preview.resolve() == args.out.resolve():
        raise InputError(f"--preview {args.preview} is the motion file -o names: give the page another name")
    for path in (args.out, args.preview):
        if path is not None and path.exists() and not args.overwrite:
            raise OutputExistsError(f"{path} exists (use --overwrite to replace it)")
    start = time.perf_counter()
    report = export_vmd(args.input, args.out, args.model, Options(fk_legs=args.fk_legs, in_place=args.in_place),
                        args.fov, args.fps, args.weights_dir, progress=not args.quiet,
                        allow_truncated=args.allow_truncated, hands=args.hands, preview=args.preview)
    page = f" and {args.preview}" if args.preview is not None else ""
    print(f"{report.summary()} in {time.perf_counter() - start:.1f} s -> {args.out}{page}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

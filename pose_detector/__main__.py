"""python -m pose_detector INPUT --write-json DIR [--face] [--hand] [--detector auto|mediapipe|openpose]
[--render-video OUT.mp4]"""
from __future__ import annotations

import argparse
import sys
import time

from edn.core.cli import add_common_flags, run_command
from edn.core.errors import UserError
from edn.core.io import check_outside, staged_dir
from edn.core.keypoints import check_parts
from edn.core.openpose_json import write_sequence
from edn.core.skeleton import draw_skeleton
from edn.core.video import Mp4Writer, open_frames
from pose_detector.cli import PARTS_NOTE, add_detector_flags, detector_from_args
from pose_detector.extract import check_output_dir, extract_track


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m pose_detector",
        description="Find the main person (the dancer) in a video, an image or a folder of "
                    "images, follow them through every frame and write OpenPose COCO-18 JSON "
                    "(one file per frame, original pixel coordinates, named like OpenPose's "
                    "--write_json output); with --face and --hand, OpenPose's face and hand "
                    "keypoints too.")
    p.add_argument("input", help="a video file, an image file, or a folder of images")
    p.add_argument("--write-json", metavar="DIR", required=True,
                   help="folder for the per-frame JSON files (written complete or not at all)")
    add_detector_flags(p)
    p.add_argument("--face", action="store_true",
                   help="also the face, as OpenPose's --face writes it: 70 points (the 68 "
                        "iBUG/dlib points and the pupils) in face_keypoints_2d, " + PARTS_NOTE)
    p.add_argument("--hand", action="store_true",
                   help="also the hands, as OpenPose's --hand writes them: 21 points per hand "
                        "in hand_left_keypoints_2d and hand_right_keypoints_2d, " + PARTS_NOTE)
    p.add_argument("--render-video", metavar="OUT.mp4",
                   help="also write an H.264 video of the input with the skeleton drawn over it")
    p.add_argument("--no-smooth", action="store_true",
                   help="keep the raw per-frame detections: no left/right swap correction, "
                        "no 7-frame median filter or short-gap filling")
    p.add_argument("--fps", type=float, default=30.0,
                   help="frame rate for image folders (videos use their own; default 30)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes tracking chunks of a long video at once, for a "
                        "single-threaded backend such as mediapipe (default: one per core, at "
                        "most 8; 1 = a single pass)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a non-empty --write-json folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_common_flags(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: run(args), args.verbose, "interrupted")


def run(args: argparse.Namespace) -> int:
    check_output_dir(args.write_json, args.overwrite)
    check_outside(args.write_json, args.input)
    frames = open_frames(args.input, fps=args.fps, allow_truncated=args.allow_truncated)
    parts = check_parts([p for p, on in (("face", args.face), ("hands", args.hand)) if on])
    detector = detector_from_args(args, parts=parts)
    start = time.perf_counter()
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, not {args.workers}")
    track = extract_track(frames, detector, smooth=not args.no_smooth,
                          progress=not args.quiet, workers=args.workers)
    with staged_dir(args.write_json, overwrite=True) as tmp:
        write_sequence(tmp, track.keypoints, frames.stem, parts,
                       names=None if frames.images is None else [p.stem for p in frames.images])
    seconds = time.perf_counter() - start
    n = len(track.keypoints)
    print(f"{n} frames ({track.found.sum()} with a person, {track.side_swapped.sum()} "
          f"left/right-corrected) in {seconds:.1f} s = {n / seconds:.1f} frames/s "
          f"-> {args.write_json}", file=sys.stderr)
    if args.render_video:
        with Mp4Writer(args.render_video, frames.fps) as video:
            for frame, pose in zip(frames, track.keypoints):
                video.write(draw_skeleton(frame, pose))
        print(f"skeleton video -> {args.render_video}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

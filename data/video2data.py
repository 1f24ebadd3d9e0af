"""python data/video2data.py VIDEO -o DIR [--size 512]: a prepared training/transfer set."""
from __future__ import annotations

import argparse
import sys

from edn.core.cli import add_common_flags, run_command
from edn.core.io import check_outside
from edn.core.keypoints import PARTS
from edn.preparation.prepare import parse_size, prepare_video
from pose_detector.cli import PARTS_NOTE, add_detector_flags, detector_from_args


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Prepare a video of one person (static camera) for training or transfer: "
                    "track the person, fix one crop covering their whole motion, and write "
                    "DIR/frames/*.png, DIR/keypoints/*.json (OpenPose JSON in frame pixels: "
                    "COCO-18 body, 70-point face and 21-point hands), DIR/masks/*.png, "
                    "DIR/world_landmarks.npy and DIR/meta.json (fps, original size, crop box, "
                    "detector, frame count, parts) so every keypoint maps back to the "
                    "original video. DIR appears only when complete.")
    p.add_argument("video", help="input video file")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--size", default="512",
                   help="output frame size: N for NxN or WxH, e.g. 1024x512 (default 512)")
    p.add_argument("--margin", type=float, default=0.3,
                   help="crop margin around the motion, as a fraction of its longer side "
                        "(default 0.3)")
    add_detector_flags(p)
    p.add_argument("--body-only", action="store_true",
                   help="the body's 18 keypoints only: skip the face and hands (extracted by "
                        "default, " + PARTS_NOTE + "; --detector openpose needs this)")
    p.add_argument("--no-masks", action="store_true",
                   help="skip person segmentation masks (faster)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_common_flags(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: run(args), args.verbose, "interrupted: nothing was written")


def run(args: argparse.Namespace) -> int:
    size = parse_size(args.size)
    check_outside(args.out, args.video)
    parts = ("body",) if args.body_only else PARTS
    detector = detector_from_args(args, segmentation=not args.no_masks, parts=parts)
    meta = prepare_video(args.video, args.out, detector, size=size, margin=args.margin,
                         masks=not args.no_masks, overwrite=args.overwrite,
                         allow_truncated=args.allow_truncated,
                         progress=not args.quiet)
    box = ", ".join(f"{v:.0f}" for v in meta.crop_box)
    print(f"{meta.frames} frames ({meta.frames_with_person} with a person), crop box ({box}) "
          f"-> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python main/test.py --name NAME --source VIDEO_OR_PREPARED_DIR -o OUT [--normalize auto|edn|robust|none]"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edn.console import VERBOSE_HELP, quiet_third_party
from edn.contact_sheet import transfer_sheet
from edn.data import scale_keypoints
from edn.data_prep import PreparedMeta, crop_resize, prepare_video
from edn.io import atomic_write_text, staged_dir
from edn.keypoints import read_sequence, write_sequence
from edn.normalize import FIT_HELP, FITS, TooFewFramesError, jumps_warning
from edn.trainer import pick_device
from edn.transfer import Renderer, normalize_to_target
from edn.video import InputError, read_image_rgb, write_image_rgb
from pose_detector.extract import WEIGHTS_DIR, NoPersonError, make_detector


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Transfer a dance: extract the source dancer's skeletons, normalize them to "
                    "the target's position and size (EDN global pose normalization), and render "
                    "them with the target model frame by frame. Writes OUT/frames/%%06d.png, "
                    "OUT/labels/%%06d.png, OUT/source/%%06d.png, OUT/keypoints/ (the normalized "
                    "skeletons), OUT/norm_params.json, OUT/meta.json and OUT/contact_sheet.png "
                    "(source | skeleton | result for 8 frames); assemble a video with "
                    "output/img2video.py.")
    p.add_argument("--name", required=True, help="the trained run: weights/NAME")
    p.add_argument("--source", required=True, type=Path,
                   help="the source dance video, or a folder made by data/video2data.py")
    p.add_argument("-o", "--out", required=True, type=Path, help="output folder")
    p.add_argument("--normalize", choices=(*FITS, "none"), default="auto",
                   help=f"how the source skeletons are fitted into the target's frame: {FIT_HELP}; "
                        "'none' = as they are (default: auto)")
    p.add_argument("--no-normalize", dest="normalize", action="store_const", const="none",
                   help="the same as --normalize none")
    p.add_argument("--frames", type=int, help="only the first N frames")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--no-face", action="store_true",
                   help="skip the run's face stage (when it has one): the body generator's faces")
    p.add_argument("--fp32", action="store_true", help="plain fp32 inference (default: bf16 on CPU, AMP on CUDA)")
    p.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR,
                   help="where run folders live (default: the checkout's weights/)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with quiet_third_party(args.verbose):
        try:
            renderer = Renderer(args.weights_dir / args.name, pick_device(args.device),
                                fast=not args.fp32, face=not args.no_face)
            if args.out.exists() and not args.overwrite:
                raise FileExistsError(f"{args.out} exists (use --overwrite to replace it)")
            with staged_dir(args.out, overwrite=True) as out:
                source = args.source
                if source.is_file():
                    source = out / "source_set"
                    size = renderer.target.prepared_size
                    prepare_video(args.source, source, make_detector("auto"), size=size,
                                  masks=False, progress=not args.quiet)
                meta = PreparedMeta.load(source)
                keypoints = read_sequence(source / "keypoints")[:args.frames]
                if args.normalize == "none":
                    keypoints = scale_keypoints(keypoints, meta.size, renderer.target.prepared_size)
                else:
                    fit, params = normalize_to_target(keypoints, meta.size, renderer.target, args.normalize)
                    keypoints = fit.normalized
                    print(fit.summary(), file=sys.stderr)
                    if warning := jumps_warning(params["identity_jumps"]):
                        print(warning, file=sys.stderr)
                    atomic_write_text(out / "norm_params.json", json.dumps(params))
                write_sequence(out / "keypoints", keypoints, "normalized")
                model_kp = scale_keypoints(keypoints, renderer.target.prepared_size,
                                           renderer.target.size)
                labels, frames = renderer.render(model_kp, progress=not args.quiet)
                size = renderer.target.size
                for name, images in (("labels", labels), ("frames", frames)):
                    (out / name).mkdir()
                    for i, image in enumerate(images):
                        write_image_rgb(out / name / f"{i:06d}.png", image)
                (out / "source").mkdir()
                sources = np.stack([crop_resize(read_image_rgb(source / "frames" / f"{i:06d}.png"),
                                                (0, 0, *meta.size), size) for i in range(len(frames))])
                for i, image in enumerate(sources):
                    write_image_rgb(out / "source" / f"{i:06d}.png", image)
                write_image_rgb(out / "contact_sheet.png", transfer_sheet(sources, labels, frames))
                atomic_write_text(out / "meta.json", json.dumps(
                    {"fps": meta.fps, "name": args.name, "source": meta.source,
                     "frames": len(frames), "normalized": args.normalize != "none",
                     "model_iteration": renderer.iteration,
                     "faces_refined": renderer.face is not None}, indent=2))
        except (InputError, NoPersonError, TooFewFramesError, FileExistsError, FileNotFoundError,
                ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted: nothing was written", file=sys.stderr)
            return 130
        print(f"{len(frames)} frames -> {args.out}/frames (assemble: python output/img2video.py "
              f"{args.out}/frames -o result.mp4 --side-by-side {args.out}/source {args.out}/labels)",
              file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())

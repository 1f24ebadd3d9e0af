"""python main/test.py --name NAME --source VIDEO_OR_PREPARED_DIR -o OUT [--normalize auto|edn|robust|none] [--vmd OUT.vmd]"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edn.core.cli import add_common_flags, run_command
from edn.core.errors import OutputExistsError, UserError
from edn.core.io import check_outside
from edn.core.paths import WEIGHTS_HELP, weights_dir
from edn.core.video import TRUNCATED_HELP
from edn.inference.dance import SOURCE_SET, TransferOptions, transfer_dance
from edn.preparation.normalize import FIT_HELP, FITS
from edn.vmd.export import export_vmd


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
    p.add_argument("--student", action="store_true",
                   help="the run's distilled student generator (main/train.py --distill): several "
                        "times faster, no face stage")
    p.add_argument("--vmd", type=Path, metavar="OUT.vmd",
                   help="also write the source dancer's motion as a MikuMikuDance VMD "
                        "(as main/to_vmd.py with its defaults; replaced with --overwrite)")
    p.add_argument("--vmd-model", type=Path, metavar="X.pmx",
                   help="the PMX model for --vmd (default: the built-in standard model)")
    p.add_argument("--weights-dir", type=Path, help=WEIGHTS_HELP)
    p.add_argument("--allow-truncated", action="store_true", help=TRUNCATED_HELP)
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_common_flags(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: run(args), args.verbose, "interrupted: nothing was written")


def run(args: argparse.Namespace) -> int:
    if args.frames is not None and args.frames < 1:
        raise UserError(f"--frames must be at least 1, not {args.frames}")
    if args.vmd is not None and args.vmd.exists() and not args.overwrite:
        raise OutputExistsError(f"{args.vmd} exists (use --overwrite to replace it)")
    check_outside(args.out, args.source)
    weights = weights_dir(args.weights_dir)
    n = transfer_dance(TransferOptions(
        name=args.name, source=args.source, out=args.out, weights=weights, fit=args.normalize,
        frames=args.frames, device=args.device, fast=not args.fp32, face=not args.no_face,
        student=args.student,
        overwrite=args.overwrite, allow_truncated=args.allow_truncated, progress=not args.quiet))
    print(f"{n} frames -> {args.out}/frames (assemble: python output/img2video.py "
          f"{args.out}/frames -o result.mp4 --side-by-side {args.out}/source {args.out}/labels)",
          file=sys.stderr)
    if args.vmd is not None:
        # the source's skeletons as the transfer prepared them (a video's set is kept in OUT)
        source = args.source if args.source.is_dir() else args.out / SOURCE_SET
        report = export_vmd(source, args.vmd, args.vmd_model, weights=weights, progress=not args.quiet)
        print(f"{report.summary()} -> {args.vmd}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

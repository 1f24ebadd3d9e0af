"""Normalize a source dancer's keypoints into a target video's frame (EDN global pose
normalization, see edn/normalize.py).

    python data/annot_normalize.py --source SRC --target TGT -o OUT

SRC and TGT are prepared sets written by data/video2data.py. OUT gets the normalized source
keypoints (OUT/keypoints/, the same OpenPose JSON format), OUT/norm_params.json (the fit
used, both videos' statistics and every frame's c, b and anchor) and OUT/contact_sheet.png (normalized
source skeletons over the target frames whose feet are at the same depth).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from edn.core.cli import add_common_flags, run_command
from edn.core.errors import InputError, OutputExistsError
from edn.core.io import staged_dir
from edn.core.openpose_json import read_sequence, write_sequence
from edn.core.paths import FRAMES, KEYPOINTS, META
from edn.preparation import normalize
from edn.preparation.contact_sheet import normalization_sheet


def load_prepared(folder: Path, role: str) -> tuple[dict, np.ndarray]:
    meta_path = folder / META
    if not folder.exists():
        raise InputError(f"{role} {folder}: no such file or folder")
    if not meta_path.is_file():
        raise InputError(f"{role} {folder}: not a prepared set (no {META}); "
                         f"make one with data/video2data.py")
    if not (folder / KEYPOINTS).is_dir():
        raise InputError(f"{role} {folder}: no {KEYPOINTS}/ folder")
    meta = json.loads(meta_path.read_text())
    try:
        poses = read_sequence(folder / KEYPOINTS)
    except InputError as err:
        raise InputError(f"{role} {folder}: {err}") from None
    return meta, poses


def run(args: argparse.Namespace) -> Path:
    if args.output.exists() and not args.overwrite:
        raise OutputExistsError(f"{args.output} exists; pass --overwrite to replace it")
    source_meta, source_poses = load_prepared(args.source, "source")
    target_meta, target_poses = load_prepared(args.target, "target")
    if source_meta.get("size") != target_meta.get("size"):
        raise InputError(f"frame sizes differ (source {source_meta.get('size')}, target "
                         f"{target_meta.get('size')}); prepare both with the same --size")
    settings = dict(alpha=args.alpha, beta=args.beta, conf_threshold=args.conf_threshold,
                    min_frames=args.min_frames)
    stats = {}
    for role, poses in (("source", source_poses), ("target", target_poses)):
        try:
            stats[role] = normalize.ankle_stats(poses, **settings)
        except normalize.TooFewFramesError as err:
            raise InputError(f"{role} {getattr(args, role)}: {err}") from None
    fit = normalize.fit_normalization(source_poses, stats["source"], stats["target"],
                                      args.normalize, args.conf_threshold)
    transforms, normalized = fit.transforms, fit.normalized
    print(fit.summary())
    jumps = normalize.identity_jumps(source_poses, conf_threshold=args.conf_threshold)
    if warning := normalize.jumps_warning(jumps):
        print(warning)
    sheet = normalization_sheet(args.target / FRAMES, target_poses, normalized, transforms,
                                stats["target"], args.sheet_tiles, args.conf_threshold)
    params = {
        "source": str(args.source), "target": str(args.target), "size": source_meta["size"],
        **settings, "fit": fit.fit, "requested_fit": fit.requested,
        "edn_fit_problems": list(fit.problems), "identity_jumps": jumps,
        "source_stats": stats["source"].to_dict(), "target_stats": stats["target"].to_dict(),
        "target_range": list(normalize.target_range(stats["source"], stats["target"])),
        "c_close": stats["target"].height_close / stats["source"].height_close,
        "c_far": stats["target"].height_far / stats["source"].height_far,
        "frames": transforms.to_dict(),
    }
    with staged_dir(args.output, overwrite=args.overwrite) as out:
        write_sequence(out / KEYPOINTS, normalized,
                       Path(source_meta.get("source", "source")).stem)
        (out / "norm_params.json").write_text(json.dumps(params, indent=1))
        cv2.imwrite(str(out / "contact_sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    s, t = stats["source"], stats["target"]
    print(f"source: {s.usable}/{s.frames} usable frames, ankles far {s.far:.1f} close "
          f"{s.close:.1f}, heights far {s.height_far:.1f} close {s.height_close:.1f}")
    print(f"target: {t.usable}/{t.frames} usable frames, ankles far {t.far:.1f} close "
          f"{t.close:.1f}, heights far {t.height_far:.1f} close {t.height_close:.1f}")
    print(f"c in [{transforms.scale.min():.3f}, {transforms.scale.max():.3f}], b in "
          f"[{transforms.shift.min():.1f}, {transforms.shift.max():.1f}]; "
          f"{int((~transforms.measured).sum())} frames reused the last good transform")
    print(f"wrote {args.output}/keypoints, norm_params.json, contact_sheet.png")
    return args.output


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", type=Path, required=True,
                   help="prepared set of the source dancer (data/video2data.py output)")
    p.add_argument("--target", type=Path, required=True,
                   help="prepared set of the target person, whose frame the source is mapped to")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--normalize", choices=normalize.FITS, default="auto",
                   help=f"{normalize.FIT_HELP} (default: auto)")
    p.add_argument("--alpha", type=float, default=normalize.ALPHA,
                   help="band above the median ankle position searched for the farthest "
                        "position, as a fraction of (closest - median) (default %(default)s)")
    p.add_argument("--beta", type=float, default=normalize.BETA,
                   help="fraction of the ankle range around each end whose frames give that "
                        "end's height (default %(default)s)")
    p.add_argument("--conf-threshold", type=float, default=normalize.CONF_THRESHOLD,
                   help="keypoint confidence below which a joint counts as missing "
                        "(default %(default)s)")
    p.add_argument("--min-frames", type=int, default=normalize.MIN_FRAMES,
                   help="fewest frames with both ankles and the head visible needed per "
                        "video (default %(default)s)")
    p.add_argument("--sheet-tiles", type=int, default=12,
                   help="source frames shown on the contact sheet (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    add_common_flags(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def body() -> int:
        run(args)
        return 0

    return run_command(body, args.verbose, "interrupted: nothing was written")


if __name__ == "__main__":
    sys.exit(main())

"""Global pose normalization on real footage: the UniAnimate dancer (source) mapped onto
the HybrIK tai-chi man (target).

    python bench/normalization_real.py [--source-set DIR --target-set DIR]

Prepares both videos at 512 px with data/video2data.py into .cache/bench/ (once), runs
data/annot_normalize.py, and prints JSON figures. The checks: every normalized source
lower-ankle y lies inside the target's range of lower-ankle y (within 2 % of the image
height), and the median source height after normalization equals the target's within 5 %.
Exits 0 with a message when ../shared/data is absent, 1 when a check fails.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from edn.core.keypoints import J  # noqa: E402
from edn.core.openpose_json import read_sequence  # noqa: E402
from edn.preparation.normalize import frame_measures  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SOURCE_VIDEO = DATA / "unianimate" / "data" / "videos" / "source_video.mp4"
TARGET_VIDEO = DATA / "hybrik" / "examples" / "taiji.mp4"
CACHE = ROOT / ".cache" / "bench"
SIZE = 512
ANKLE_TOLERANCE = 0.02  # of the image height
HEIGHT_TOLERANCE = 0.05


class BenchError(Exception):
    """A step of the bench failed; reported in one line."""


def prepare(video: Path, folder: Path) -> Path:
    """A prepared set of ``video`` at SIZE px, made by data/video2data.py unless cached."""
    if not (folder / "meta.json").is_file():
        print(f"preparing {video.name} -> {folder}", file=sys.stderr)
        run_script("video2data.py", str(video), "-o", str(folder), "--size", str(SIZE))
    return folder


def run_script(name: str, *args: str) -> None:
    script = ROOT / "data" / name
    if not script.is_file():
        raise BenchError(f"{script} is missing (or pass --source-set/--target-set)")
    if subprocess.run([sys.executable, str(script), *args], stdout=sys.stderr).returncode:
        raise BenchError(f"data/{name} failed")


def figures(source_set: Path, target_set: Path, normalized_dir: Path) -> dict:
    target = read_sequence(target_set / "keypoints")
    before = read_sequence(source_set / "keypoints")
    after = read_sequence(normalized_dir / "keypoints")
    height = json.loads((target_set / "meta.json").read_text())["size"][1]
    params = json.loads((normalized_dir / "norm_params.json").read_text())
    conf = params["conf_threshold"]

    f_t, h_t, ok_t = frame_measures(target, conf)
    f_b, h_b, ok_b = frame_measures(before, conf)
    f_a, h_a, ok_a = frame_measures(after, conf)
    lo, hi = float(f_t[ok_t].min()), float(f_t[ok_t].max())
    f_a = f_a[ok_a]
    outside = np.maximum(lo - f_a, f_a - hi).clip(min=0)
    both = after[:, [J["r_ankle"], J["l_ankle"]]]
    ankle_y = both[..., 1][both[..., 2] >= conf]
    median_h_t, median_h_a = float(np.median(h_t[ok_t])), float(np.median(h_a[ok_a]))
    height_error = median_h_a / median_h_t - 1
    worst = float(outside.max()) / height
    return {
        "image_height": height,
        "source_frames_measured": int(ok_a.sum()),
        "target_lower_ankle_y_range": [round(lo, 1), round(hi, 1)],
        "source_lower_ankle_y_range_before": [round(float(f_b[ok_b].min()), 1),
                                              round(float(f_b[ok_b].max()), 1)],
        "source_lower_ankle_y_range_after": [round(float(f_a.min()), 1),
                                             round(float(f_a.max()), 1)],
        "source_frames_outside_target_range": int((outside > 0).sum()),
        "worst_outside_fraction_of_height": round(worst, 4),
        "any_source_ankle_y_range_after": [round(float(ankle_y.min()), 1),
                                           round(float(ankle_y.max()), 1)],
        "median_height_target": round(median_h_t, 1),
        "median_height_source_before": round(float(np.median(h_b[ok_b])), 1),
        "median_height_source_after": round(median_h_a, 1),
        "median_height_relative_error": round(height_error, 4),
        "c_range": [round(min(params["frames"]["c"]), 4), round(max(params["frames"]["c"]), 4)],
        "b_range": [round(min(params["frames"]["b"]), 1), round(max(params["frames"]["b"]), 1)],
        "ankles_inside_target_range": worst <= ANKLE_TOLERANCE,
        "median_height_within_5_percent": abs(height_error) <= HEIGHT_TOLERANCE,
        "contact_sheet": str(normalized_dir / "contact_sheet.png"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-set", type=Path,
                        help="an existing prepared set of the source video (default: make one)")
    parser.add_argument("--target-set", type=Path,
                        help="an existing prepared set of the target video (default: make one)")
    parser.add_argument("-o", "--output", type=Path, default=CACHE / "normalized",
                        help="folder for the normalized keypoints (default %(default)s)")
    args = parser.parse_args()
    if not (SOURCE_VIDEO.is_file() and TARGET_VIDEO.is_file()):
        print(f"skipped: {DATA} with the source and taiji videos is not here")
        return 0
    try:
        source_set = args.source_set or prepare(SOURCE_VIDEO, CACHE / f"source_video_{SIZE}")
        target_set = args.target_set or prepare(TARGET_VIDEO, CACHE / f"taiji_{SIZE}")
        run_script("annot_normalize.py", "--source", str(source_set), "--target",
                   str(target_set), "-o", str(args.output), "--overwrite")
    except BenchError as err:
        print(f"normalization_real: error: {err}", file=sys.stderr)
        return 1
    result = figures(source_set, target_set, args.output)
    print(json.dumps(result, indent=1))
    return 0 if result["ankles_inside_target_range"] and result[
        "median_height_within_5_percent"] else 1


if __name__ == "__main__":
    sys.exit(main())

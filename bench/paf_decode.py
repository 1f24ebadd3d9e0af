"""PAF grouping: the decoding proof on real multi-person ground truth, and its speed.

Proof: for every image of a COCO-format keypoint file, ideal network outputs are rendered
from the annotated people (pose_detector.openpose.maps.render_ideal_maps: a Gaussian of
7/8 cell at each joint, unit vectors one cell either side of each limb, at stride 8) and
decoded. For every person with at least 4 labelled joints it counts the joints given back on
that person (people matched one to one) within 1/4 cell (2 px), over all labelled joints and
over the resolvable ones (maps.resolvable_keypoints: not within 2 cells of the same joint of
another person, and linked to the person's skeleton through labelled limbs), and whether the
C++ and NumPy groupings give identical people on every image.

Speed: decoding (peaks, scoring, assembly) of the maps of 1 and 20 synthetic people at
368x656 (46x82 cells), C++ against the NumPy reference.

    python bench/paf_decode.py [--annotations COCO_KEYPOINTS.json --images DIR] [--repeats 200]

Default sets: ../shared/data/coco_minival and mmpose's COCO, OCHuman and CrowdPose test
images. Prints one JSON object; its last figure is the recovered fraction (resolvable joints).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from edn.core.keypoints import read_coco_keypoints
from pose_detector.openpose.maps import (recovered_keypoints, render_ideal_maps, resolvable_keypoints,
                                         synthetic_people)
from pose_detector.openpose.paf import decode, decode_numpy, has_extension

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MMPOSE = SHARED / "mmpose_testdata/tests/data"
DEFAULT_SETS = {
    "coco_minival": (SHARED / "coco_minival/person_keypoints_val2017.json", SHARED / "coco_minival/images/val2017"),
    "mmpose_coco": (MMPOSE / "coco/test_coco.json", MMPOSE / "coco"),
    "ochuman": (MMPOSE / "ochuman/test_ochuman.json", MMPOSE / "ochuman"),
    "crowdpose": (MMPOSE / "crowdpose/test_crowdpose.json", MMPOSE / "crowdpose"),
}
STRIDE = 8.0
TOLERANCE = STRIDE / 4


def same(a, b) -> bool:
    return (a.people.shape == b.people.shape and np.allclose(a.people, b.people, atol=1e-4)
            and np.allclose(a.scores, b.scores, atol=1e-5))


def proof(annotations: Path, images: Path | None) -> dict:
    counts = dict(images=0, people=0, labelled=0, resolvable=0, recovered_labelled=0,
                  recovered_resolvable=0)
    identical = True
    for image in read_coco_keypoints(annotations):
        height, width = image.height, image.width
        if not (height and width):
            picture = cv2.imread(str((images or Path(".")) / image.file_name))
            if picture is None:
                raise SystemExit(f"{annotations} gives no size for {image.file_name} and "
                                 f"--images has no such picture")
            height, width = picture.shape[:2]
        heat, pafs = render_ideal_maps(image.people, height, width, STRIDE)
        result = decode(heat, pafs, STRIDE)
        identical &= same(result, decode_numpy(heat, pafs, STRIDE))
        evaluated = image.labelled.sum(1) >= 4
        resolvable = resolvable_keypoints(image.people, image.labelled, STRIDE)
        counts["images"] += 1
        counts["people"] += int(evaluated.sum())
        counts["labelled"] += int(image.labelled[evaluated].sum())
        counts["resolvable"] += int(resolvable[evaluated].sum())
        counts["recovered_labelled"] += int(recovered_keypoints(
            image.people, image.labelled, result.people, TOLERANCE)[evaluated].sum())
        counts["recovered_resolvable"] += int(recovered_keypoints(
            image.people, resolvable, result.people, TOLERANCE)[evaluated].sum())
    counts["cpp_equals_numpy"] = identical
    return counts


def timed(fn, repeats: int) -> list[float]:
    fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def speed(repeats: int) -> dict:
    out = {}
    for count in (1, 20):
        heat, pafs = render_ideal_maps(synthetic_people(count, 368, 656), 368, 656, STRIDE)
        assert len(decode(heat, pafs).people) == count
        cpp = timed(lambda: decode(heat, pafs, STRIDE), repeats)
        reference = timed(lambda: decode_numpy(heat, pafs, STRIDE), max(3, repeats // 20))
        out[f"{count}_person" if count == 1 else f"{count}_people"] = {
            "cpp_ms_median": round(statistics.median(cpp), 4), "cpp_ms_min": round(min(cpp), 4),
            "numpy_ms_median": round(statistics.median(reference), 2),
            "speedup_median": round(statistics.median(reference) / statistics.median(cpp), 1)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--annotations", type=Path, help="a COCO-format keypoint file (default: the shared sets)")
    ap.add_argument("--images", type=Path, help="its pictures, for sizes the file does not give")
    ap.add_argument("--repeats", type=int, default=200, help="timed decodes per scene (default 200)")
    args = ap.parse_args()
    if not has_extension():
        print("the C++ extension is not built: pip install -e .", file=sys.stderr)
        return 1
    sets = {args.annotations.stem: (args.annotations, args.images)} if args.annotations else \
        {k: v for k, v in DEFAULT_SETS.items() if v[0].is_file()}
    result: dict = {"cpu": torch.backends.cpu.get_cpu_capability(), "maps": "368x656 image, stride 8 (46x82)",
                    "speed": speed(args.repeats), "sets": {}}
    for name, (annotations, images) in sets.items():
        result["sets"][name] = proof(annotations, images)
    total = {k: sum(s[k] for s in result["sets"].values()) for k in
             ("labelled", "resolvable", "recovered_labelled", "recovered_resolvable")}
    result["cpp_equals_numpy"] = all(s["cpp_equals_numpy"] for s in result["sets"].values())
    result["recovered_labelled_fraction"] = round(total["recovered_labelled"] / max(1, total["labelled"]), 4)
    result["recovered_fraction"] = round(total["recovered_resolvable"] / max(1, total["resolvable"]), 4)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ablation on taiji: body-only labels, face and hand labels, + the face stage.

Same crop (the 256x256 evaluation crop), split (0.8) and seed as bench/synthesis_quality.py,
the set prepared with the face and hands (data/video2data.py's default). Two temporally
smoothed body models train the same number of iterations of the `cpu` preset, one with
--body-only label maps; the face-and-hand one then trains its face stage; and
`main/evaluate.py --ablate` scores them on the held-out frames, beside nearest-skeleton
retrieval. --pix2pixhd adds the paper's first row (no temporal smoothing, body labels).

    python bench/ablation.py [--iters 1500] [--face-iters 750] [--pix2pixhd] [--eval-only]

Prints one JSON object (the table's rows); the report is in .cache/bench/ablation/, and
.cache/bench/ablation/faces.png is the face-crop sheet (label | body-only labels | face and
hand labels | + face stage | real).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys

from synthesis_quality import CACHE, ROOT, SPLIT, VIDEO, prepared_eval_set

import cv2
import numpy as np
import torch

from edn.core.keypoints import PARTS
from edn.core.face_box import face_box
from edn.core.video import write_image_rgb
from edn.inference.transfer import Renderer
from edn.preparation.contact_sheet import spread
from edn.preparation.target_set import TargetSet

PLAIN, BODY, FULL = "abl_p2p", "abl_body", "abl_full"


def face_sheet(prepared: str, weights, out, count: int = 8, side: int = 128) -> None:
    """Face crops of ``count`` held-out frames spread over the test part, one row each:
    label | body-only model | face-and-hand model without, then with its face stage | real,
    each ``side`` px (nearest-neighbour upscaled, so the pixels are as generated)."""
    body = Renderer(weights / BODY, torch.device("cpu"), face=False)
    full = Renderer(weights / FULL, torch.device("cpu"))
    data = TargetSet.load(prepared, body.target.size)
    first = body.target.frames[1]
    keypoints = data.keypoints[first:]
    picks = set(spread(len(keypoints), count).tolist())
    rows = []
    for i, (b, f) in enumerate(zip(body.stream(keypoints), full.stream(keypoints))):
        box = face_box(keypoints[i], (data.size[1], data.size[0]))
        if i not in picks or box is None:
            continue
        x0, y0, x1, y1 = box
        columns = [f.label, b.body, f.body, f.refined, data.frames([first + i])[0]]
        rows.append(np.concatenate([cv2.resize(c[y0:y1, x0:x1], (side, side),
                                               interpolation=cv2.INTER_NEAREST)
                                    for c in columns], 1))
    write_image_rgb(out, np.concatenate(rows, 0))


def run(*args: str) -> None:
    r = subprocess.run([sys.executable, *args], cwd=ROOT)
    if r.returncode:
        raise SystemExit(r.returncode)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=1500, help="iterations of each body model")
    ap.add_argument("--face-iters", type=int, default=750, help="iterations of the face stage")
    ap.add_argument("--pix2pixhd", action="store_true",
                    help="also the paper's frame-by-frame pix2pixHD row (body labels)")
    ap.add_argument("--eval-only", action="store_true", help="evaluate the existing runs")
    args = ap.parse_args()
    if not VIDEO.is_file():
        print(json.dumps({"skipped": f"{VIDEO} not found"}))
        return 0
    prepared = str(prepared_eval_set(PARTS))
    weights = CACHE / "weights"
    common = ["--target", prepared, "--weights-dir", str(weights), "--quiet"]
    names = [PLAIN, BODY, FULL] if args.pix2pixhd else [BODY, FULL]
    if not args.eval_only:
        for name in names:
            shutil.rmtree(weights / name, ignore_errors=True)
        new = ["--preset", "cpu", "--split", str(SPLIT), "--iters", str(args.iters)]
        if args.pix2pixhd:
            run("main/train.py", *common, "--name", PLAIN, "--no-temporal", "--body-only", *new)
        run("main/train.py", *common, "--name", BODY, "--body-only", *new)
        run("main/train.py", *common, "--name", FULL, *new)
        run("main/train.py", *common, "--name", FULL, "--stage", "1", "--iters", str(args.face_iters))
    report = CACHE / "ablation"
    run("main/evaluate.py", *common, "--name", *names, "--ablate", "-o", str(report), "--overwrite")
    metrics = json.loads((report / "metrics.json").read_text())
    rows = {row: {k: round(v, 3) for k, v in values.items()}
            for row, values in metrics["ablation"]["rows"].items()}
    face_sheet(prepared, weights, report / "faces.png")
    print(json.dumps({"split": metrics["split"], "iterations": metrics["checkpoint_iteration"],
                      "lpips": metrics["lpips"], "rows": rows, "report": str(report)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

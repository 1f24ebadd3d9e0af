"""The paper's ablation on taiji (issue 5): pix2pixHD, +temporal smoothing, +face.

Same prepared set (the 256x256 evaluation crop), split (0.8) and seed as
bench/synthesis_quality.py. Two body models train the same number of iterations of the `cpu`
preset, one with --no-temporal; the temporally smoothed one then trains its face stage; and
`main/evaluate.py --ablate` scores all three on the held-out frames, beside nearest-skeleton
retrieval.

    python bench/ablation.py [--iters 2000] [--face-iters 1000] [--eval-only]

Prints one JSON object (the table's rows); the report is in .cache/bench/ablation/.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys

from synthesis_quality import CACHE, ROOT, SPLIT, VIDEO, prepared_eval_set

PLAIN, FULL = "abl_p2p", "abl_full"


def run(*args: str) -> None:
    r = subprocess.run([sys.executable, *args], cwd=ROOT)
    if r.returncode:
        raise SystemExit(r.returncode)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=2000, help="iterations of each body model")
    ap.add_argument("--face-iters", type=int, default=1000, help="iterations of the face stage")
    ap.add_argument("--eval-only", action="store_true", help="evaluate the existing runs")
    args = ap.parse_args()
    if not VIDEO.is_file():
        print(json.dumps({"skipped": f"{VIDEO} not found"}))
        return 0
    prepared = str(prepared_eval_set())
    weights = CACHE / "weights"
    common = ["--target", prepared, "--weights-dir", str(weights), "--quiet"]
    if not args.eval_only:
        for name in (PLAIN, FULL):
            shutil.rmtree(weights / name, ignore_errors=True)
        new = ["--preset", "cpu", "--split", str(SPLIT), "--iters", str(args.iters)]
        run("main/train.py", *common, "--name", PLAIN, "--no-temporal", *new)
        run("main/train.py", *common, "--name", FULL, *new)
        run("main/train.py", *common, "--name", FULL, "--stage", "1", "--iters", str(args.face_iters))
    report = CACHE / "ablation"
    run("main/evaluate.py", *common, "--name", PLAIN, FULL, "--ablate", "-o", str(report), "--overwrite")
    metrics = json.loads((report / "metrics.json").read_text())
    rows = {row: {k: round(v, 3) for k, v in values.items()}
            for row, values in metrics["ablation"]["rows"].items()}
    print(json.dumps({"split": metrics["split"], "iterations": metrics["checkpoint_iteration"],
                      "lpips": metrics["lpips"], "rows": rows, "report": str(report)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

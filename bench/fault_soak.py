"""Soak of the kill -9 / --resume cycle: a tiny run is killed with SIGKILL at random moments
(seeded) over and over, resumed each time, and its final weights compared with an
uninterrupted run's, bit for bit (CPU, fp32 path). Prints one JSON object: the kills, how many
landed before the first checkpoint (a fresh start then; kills after the run had finished are
not counted), the seconds, and whether the weights are equal.

    python bench/fault_soak.py [--kills 20] [--iters 400] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from edn.core.paths import CHECKPOINT  # noqa: E402
from edn.core.run import load_checkpoint  # noqa: E402
from tests.helpers.tiny_training import tiny_config, write_prepared  # noqa: E402  (tiny target)

ENV = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", EDN_CPU_PATH="fp32")


def command(tmp: Path, weights: str, iters: int, resume: bool) -> list[str]:
    return [sys.executable, "main/train.py", "--target", str(tmp / "set"), "--name", "r", "--config",
            str(tmp / "tiny.json"), "--iters", str(iters), "--save-every", "3", "--weights-dir",
            str(tmp / weights), "--quiet"] + (["--resume"] if resume else [])


def equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    start = time.time()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        write_prepared(tmp / "set")
        tiny_config(fast=False).save(tmp / "tiny.json")
        subprocess.run(command(tmp, "straight", args.iters, False), cwd=ROOT, env=ENV, check=True,
                       capture_output=True)
        expected = load_checkpoint(tmp / "straight" / "r" / CHECKPOINT)["model"]
        checkpoint = tmp / "killed" / "r" / CHECKPOINT
        early = finished = 0
        for _ in range(args.kills):
            resume = checkpoint.is_file()
            early += not resume
            p = subprocess.Popen(command(tmp, "killed", args.iters, resume), cwd=ROOT, env=ENV,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(1.5, 4.0))  # start-up is ~1.5 s, then ~20 iterations a second
            finished += p.poll() is not None
            p.send_signal(signal.SIGKILL)
            p.wait()
        subprocess.run(command(tmp, "killed", args.iters, checkpoint.is_file()), cwd=ROOT, env=ENV,
                       check=True, capture_output=True)
        final = load_checkpoint(checkpoint)
        print(json.dumps({"kills": args.kills - finished, "killed_before_a_checkpoint": early,
                          "iterations": final["iteration"], "seconds": round(time.time() - start, 1),
                          "weights_equal": equal(final["model"], expected)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

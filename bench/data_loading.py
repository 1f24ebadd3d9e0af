"""Where a training batch comes from, measured: seconds per `cpu`-preset iteration on the
demo's target (its prepared set, frames 0-79) with each way of reading the frames.

    python bench/data_loading.py [--set DIR] [--iters 40] [--rounds 3]

  arrays     every frame, mask and label map made once and held in memory (what training
             did before issue 31: memory grows with the video)
  png        each batch's frames and masks decoded from the set's PNGs, label maps drawn,
             in the training process (what training does)
  workers1/2 the same in a torch.utils.data.DataLoader with 1 or 2 worker processes,
             prefetching the next batches while the model trains
  memmap     frames and masks written once into a uint8 memory-mapped file at the training
             size, each batch sliced from it (label maps drawn)

Variants run round-robin in one process, training the same model on, so each compares
times taken under the same load; `min` is the figure to quote. A DataLoader's workers are
started (and start prefetching) before its timing begins. Also prints the data time alone
per batch and the one-off cost of making the arrays or the cache. Prints one JSON object.

Limits: the `cpu` preset only, and an 80-frame set that sits in the page cache after the
first round; a set larger than memory reads from disk (a few hundred kB a batch).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edn.core.runtime import pick_device  # noqa: E402
from edn.preparation.target_set import PreparedFrames, TargetSet  # noqa: E402
from edn.training.presets import preset  # noqa: E402
from edn.training.stage import FramePair  # noqa: E402
from edn.training.trainer import Trainer  # noqa: E402

DEMO_SET = ROOT / ".cache/demo/weights/demo/target_set"


@dataclass
class Arrays:
    """Every frame and mask in memory (``FrameReader``)."""
    frames: np.ndarray
    masks: np.ndarray

    def frame(self, i: int) -> np.ndarray:
        return self.frames[i]

    def mask(self, i: int) -> np.ndarray:
        return self.masks[i]


class Memmap:
    """Frames and masks in one uint8 memory-mapped file (``FrameReader``)."""

    def __init__(self, source: PreparedFrames, path: Path) -> None:
        w, h = source.size
        self.data = np.lib.format.open_memmap(path, "w+", np.uint8, (source.count, h, w, 4))
        for i in range(source.count):
            self.data[i, ..., :3] = source.frame(i)
            self.data[i, ..., 3] = source.mask(i)
        self.data.flush()
        self.data = np.load(path, mmap_mode="r")

    def frame(self, i: int) -> np.ndarray:
        return np.ascontiguousarray(self.data[i, ..., :3])

    def mask(self, i: int) -> np.ndarray:
        return np.ascontiguousarray(self.data[i, ..., 3])


class Batches(Dataset):
    """Iteration i's batch, as ``Trainer.batch`` makes it, for a DataLoader."""

    def __init__(self, trainer: Trainer, first: int, count: int) -> None:
        self.trainer, self.first, self.count = trainer, first, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, k: int) -> FramePair:
        return self.trainer.batch(self.first + k)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", type=Path, default=DEMO_SET, help="a prepared set (default: the demo's)")
    p.add_argument("--iters", type=int, default=40, help="iterations per variant and round")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if not args.set.is_dir():
        raise SystemExit(f"{args.set} is missing: run `make demo` or pass --set")
    cfg = preset("cpu")
    stage = cfg.train.stages[0]
    size = (stage.width, stage.height)
    target = TargetSet.load(args.set, size, range(0, 80), tuple(cfg.data.parts))
    png = target.reader
    assert isinstance(png, PreparedFrames)
    start = time.perf_counter()
    every = range(len(target))
    arrays = Arrays(np.stack([png.frame(i) for i in every]), np.stack([png.mask(i) for i in every]))
    drawn = target.labels(every)
    setup = {"arrays": time.perf_counter() - start}
    scratch = tempfile.TemporaryDirectory()
    start = time.perf_counter()
    memmap = Memmap(png, Path(scratch.name) / "cache.npy")
    setup["memmap"] = time.perf_counter() - start
    plate = target.plate(cfg.data.plate_frames)
    from edn.training.run import measure_target
    info = measure_target(target, 2 ** cfg.generator.n_downsampling)
    device = pick_device("cpu")
    torch.manual_seed(0)
    trainer = Trainer(cfg, target, Path(scratch.name) / "run", device, plate=plate, window=info.window)

    def use(variant: str) -> None:
        """Read with ``variant`` (arrays: the label maps drawn once, too)."""
        target.reader = {"arrays": arrays, "memmap": memmap}.get(variant, png)
        if variant == "arrays":
            target.labels = lambda indices: drawn[np.asarray(indices, int)]  # type: ignore[method-assign]
        elif "labels" in vars(target):
            del target.labels

    def batches(variant: str, first: int):
        if variant.startswith("workers"):
            loader = DataLoader(Batches(trainer, first, args.iters), batch_size=None,
                                num_workers=int(variant[-1]), collate_fn=lambda x: x)
            return iter(loader)  # workers start here, before the timing
        use(variant)
        return (trainer.batch(first + k) for k in range(args.iters))

    variants = ("arrays", "png", "workers1", "workers2", "memmap")
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            trainer.step()  # warm
            pairs = batches(variant, trainer.iteration)
            start = time.perf_counter()
            for pair in pairs:
                trainer.model.step(pair)
            times[variant].append((time.perf_counter() - start) / args.iters)
            use("png")
    data_only = {}
    for variant in ("png", "memmap", "arrays"):
        use(variant)
        start = time.perf_counter()
        for k in range(50):
            trainer.batch(k)
        data_only[variant] = (time.perf_counter() - start) / 50
    use("png")
    print(json.dumps({
        "cpu": torch.backends.cpu.get_cpu_capability(), "set": str(args.set), "size": size,
        "iters": args.iters, "rounds": args.rounds,
        "seconds_per_iteration": {v: {"min": round(min(t), 4), "median": round(statistics.median(t), 4)}
                                  for v, t in times.items()},
        "png_over_arrays": round(min(times["png"]) / min(times["arrays"]), 3),
        "data_seconds_per_batch": {k: round(v, 5) for k, v in data_only.items()},
        "setup_seconds": {k: round(v, 2) for k, v in setup.items()},
    }, indent=2))


if __name__ == "__main__":
    main()

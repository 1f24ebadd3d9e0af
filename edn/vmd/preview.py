"""A preview that opens anywhere: one self-contained HTML file (edn/vmd/preview.html) that plays
a motion on its model in the browser, offline from file://, with the source video's frames
beside it in sync, play/pause and a frame slider.

The MMD runtime is babylon-mmd (npm, MIT) on babylon.js (npm, Apache-2.0), both inlined; they
are installed at set-up time (`make setup`, into .cache/npm) and never fetched at run time. The
model is the PMX given (with the textures found beside it) or a bones-only PMX of the standard
skeleton drawn as sticks (edn.vmd.pmx). The source frames are JPEGs at FRAME_HEIGHT pixels, at
most FRAMES_FPS a second, so a 5-minute video adds about 30 MB. The page exposes the bones'
world positions at a frame (``window.ednPreview``; a URL ending in ``#probe=0,30`` writes them
into the page) for tests.
"""
from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edn.core.errors import UserError
from edn.core.io import atomic_write
from edn.vmd.format import Motion, to_bytes
from edn.vmd.pmx import bones_only_pmx
from edn.vmd.skeleton import IK_BONES, Skeleton

# where `make setup` installs them; EDN_NODE_MODULES names another node_modules folder
NODE_MODULES = Path(os.environ.get("EDN_NODE_MODULES", Path(__file__).resolve().parents[2] / ".cache" / "npm" / "node_modules"))
BABYLON = Path("babylonjs/babylon.js")
BABYLON_MMD = Path("babylon-mmd/umd/babylon.mmd.min.js")
TEMPLATE = Path(__file__).with_name("preview.html")
FRAME_HEIGHT = 240
FRAMES_FPS = 15.0
JPEG_QUALITY = 70
TEXTURES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".bmp": "image/bmp",
            ".tga": "image/x-tga", ".spa": "image/bmp", ".sph": "image/bmp", ".dds": "image/vnd-ms.dds"}


@dataclass
class Preview:
    """What a preview holds: its size in bytes, the source frames shown, the model's files."""
    size: int
    frames: int
    textures: int

    def summary(self) -> str:
        frames = f"{self.frames} source frames" if self.frames else "no source frames"
        return f"preview {self.size / 1e6:.1f} MB ({frames}, {self.textures} textures)"


def libraries(node_modules: Path = NODE_MODULES) -> tuple[Path, Path]:
    """The files of babylon.js and babylon-mmd's UMD build, as installed by `make setup`."""
    paths = (node_modules / BABYLON, node_modules / BABYLON_MMD)
    if not all(p.is_file() for p in paths):
        raise UserError(f"the preview needs babylon.js and babylon-mmd from npm in {node_modules}: "
                        "run `make setup` (with npm installed)")
    return paths


def thumbnails(frames: Iterable[np.ndarray], fps: float) -> tuple[list[str], float]:
    """RGB frames -> base64 JPEGs at FRAME_HEIGHT pixels, every frame or fewer to keep at most
    FRAMES_FPS a second; and their rate. Reads the frames one at a time."""
    step = max(1, round(fps / FRAMES_FPS))
    out: list[str] = []
    for i, frame in enumerate(frames):
        if i % step:
            continue
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (max(1, round(w * FRAME_HEIGHT / h)), FRAME_HEIGHT), interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        assert ok, "OpenCV encodes any uint8 RGB frame as JPEG"
        out.append(base64.b64encode(jpeg.tobytes()).decode())
    return out, fps / step


def model_files(model: Path) -> tuple[bytes, list[dict]]:
    """A PMX's bytes and the textures it names that exist beside it (relative paths as the
    PMX writes them)."""
    from mmd_bone_tools.pmx import load_pmx

    files = []
    for name in load_pmx(model).textures:
        path = model.parent / name.replace("\\", "/")
        mime = TEXTURES.get(path.suffix.lower())
        if mime and path.is_file():
            files.append({"path": name, "mime": mime, "data": base64.b64encode(path.read_bytes()).decode()})
    return model.read_bytes(), files


def sticks(sk: Skeleton) -> list[list[str]]:
    """The (bone, parent) pairs drawn as sticks: every bone but the IK bones and the roots."""
    out = []
    for i, name in enumerate(sk.names):
        p = sk.parents[i]
        if p < 0 or name in IK_BONES or sk.parents[p] < 0:
            continue
        out.append([name, sk.names[p]])
    return out


def write_preview(out: Path, motion: Motion, sk: Skeleton, model: Path | None,
                  source: Iterable[np.ndarray] | None, source_fps: float, title: str) -> Preview:
    """Write the preview of ``motion`` for the model ``model`` (a PMX, whose skeleton is
    ``sk``) or, without one, the stick figure of ``sk``; beside it the ``source`` frames (RGB,
    at ``source_fps``) when given. Atomic."""
    babylon, babylon_mmd = (p.read_text(encoding="utf-8") for p in libraries())
    if model is not None:
        pmx, files = model_files(model)
    else:
        pmx, files = bones_only_pmx(sk), []
    frames, frames_fps = thumbnails(source, source_fps) if source is not None else ([], FRAMES_FPS)
    data = {"title": title, "vmd": base64.b64encode(to_bytes(motion)).decode(),
            "model": {"pmx": base64.b64encode(pmx).decode(), "files": files},
            "sticks": sticks(sk) if model is None else [], "frames": frames, "framesFps": frames_fps}
    values = {"TITLE": html.escape(title),
              "BABYLON": babylon, "BABYLON_MMD": base64.b64encode(babylon_mmd.encode()).decode(),
              "DATA": json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")}
    page = re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values[m.group(1)], TEMPLATE.read_text(encoding="utf-8"))
    def write(tmp: str) -> None:
        Path(tmp).write_text(page, encoding="utf-8")
    atomic_write(out, write)
    return Preview(len(page.encode()), len(frames), len(files))

"""data/annot_normalize.py loaded as a module, and the keypoint-only prepared sets it reads."""
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np

from edn.core.openpose_json import write_sequence


def load_cli():
    path = Path(__file__).resolve().parents[2] / "data" / "annot_normalize.py"
    spec = importlib.util.spec_from_file_location("annot_normalize", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_prepared(folder: Path, poses: np.ndarray, size: int = 512) -> None:
    (folder / "frames").mkdir(parents=True)
    for i in range(len(poses)):
        cv2.imwrite(str(folder / "frames" / f"{i:06d}.png"), np.zeros((size, size, 3), np.uint8))
    write_sequence(folder / "keypoints", poses, "clip")
    (folder / "meta.json").write_text(json.dumps({"source": "clip.mp4", "size": [size, size],
                                                  "frames": len(poses)}))

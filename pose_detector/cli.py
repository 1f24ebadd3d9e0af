"""The detector flags shared by ``python -m pose_detector`` and ``data/video2data.py``."""
from __future__ import annotations

import argparse
from pathlib import Path

from edn.core.paths import WEIGHTS_HELP
from edn.core.video import TRUNCATED_HELP
from pose_detector.base import Detector
from pose_detector.extract import DETECTORS, OPENPOSE_WEIGHTS, make_detector


def add_detector_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector", choices=DETECTORS, default="auto",
                   help="pose backend: 'openpose' = CMU's COCO body model in PyTorch with C++ "
                        f"PAF grouping, multi-person, needs {' or '.join(OPENPOSE_WEIGHTS)} in "
                        "the weights folder; 'mediapipe' = BlazePose full, bundled with "
                        "mediapipe; 'auto' = openpose when its weights are there (and no masks "
                        "are asked for), else mediapipe (default: auto)")
    p.add_argument("--scales", default="1", metavar="S,S,...",
                   help="OpenPose's scale search: input heights of S x 368 pixels, maps "
                        "averaged over the scales; 0.5,1,1.5,2 is CMU's original (4x slower "
                        "and more), default 1")
    p.add_argument("--device", default="auto",
                   help="where OpenPose runs: auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--weights-dir", type=Path, help=WEIGHTS_HELP)
    p.add_argument("--allow-truncated", action="store_true", help=TRUNCATED_HELP)


PARTS_NOTE = ("from MediaPipe Holistic (its face mesh and hand models ship in the mediapipe "
              "wheel; the OpenPose backend runs the body model only)")


def detector_from_args(args: argparse.Namespace, segmentation: bool = False,
                       parts: tuple[str, ...] = ("body",)) -> Detector:
    from pose_detector.backends.openpose import parse_scales

    return make_detector(args.detector, segmentation=segmentation, weights=args.weights_dir,
                         scales=parse_scales(args.scales), device=args.device, parts=parts)

"""Everybody Dance Now's face GAN: after the body generator is trained, a small pix2pixHD
generator sees the face crop of the label map and of the body generator's output and adds a
residual to that face crop (EDN section 3.3). Crops are ``edn.core.face_box.face_crop_box``:
fixed-size squares around the face (128 px at 512), shifted inside the frame at its borders so
every crop has the same size.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from edn.core.config import FaceConfig
from edn.core.errors import ConfigError
from edn.core.face_box import face_box_side, face_crop_box
from edn.core.window import crop, paste
from edn.models.generator import GlobalGenerator


def check_face_crop_size(size: tuple[int, int], cfg: FaceConfig) -> None:
    """The face generator needs crops whose side divides by 2**n_downsampling."""
    side, step = face_box_side(size), 2 ** cfg.n_downsampling
    if side % step:
        raise ConfigError(f"face crops at {size[1]}x{size[0]} are {side} px, not a multiple of "
                         f"{step} (2**face.n_downsampling): choose another stage size or "
                         "face.n_downsampling")


def build_face_generator(cfg: FaceConfig, label_nc: int, output_nc: int) -> GlobalGenerator:
    """The residual generator: (label crop, face crop) -> residual in [-1, 1]. Its last
    convolution starts at zero, so the stage begins from the body generator's face exactly."""
    generator = GlobalGenerator(label_nc + output_nc, output_nc, cfg.ngf, cfg.n_downsampling,
                                cfg.n_blocks)
    last = generator.model[-2]
    assert isinstance(last, nn.Conv2d)
    nn.init.zeros_(last.weight)
    if last.bias is not None:
        nn.init.zeros_(last.bias)
    return generator


def add_residual(face: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """The refined face: body generator's face + residual, kept in [-1, 1]."""
    return (face + residual.to(face.dtype)).clamp(-1, 1)


def refine_faces(residual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 frames: torch.Tensor, labels: torch.Tensor, keypoints: np.ndarray) -> torch.Tensor:
    """Frames (B, 3, H, W) with each visible face replaced by its refined crop; ``residual``
    maps (label crops, face crops) to residuals (e.g. an edn.inference.fast.FastGenerator of the face
    generator, whose two inputs are then the label and face crops), ``keypoints`` (B, 18, 3)
    locate the faces. Frames without a face in the image are returned as they are."""
    size = (frames.shape[-2], frames.shape[-1])
    found = [(i, box) for i, box in enumerate(face_crop_box(k, size) for k in keypoints) if box is not None]
    if not found:
        return frames
    index = [i for i, _ in found]
    boxes = [box for _, box in found]
    faces = crop(frames[index], boxes)
    refined = add_residual(faces, residual(crop(labels[index], boxes).to(faces.dtype), faces))
    out = frames.clone()
    out[index] = paste(frames[index], refined, boxes)
    return out

"""Everybody Dance Now's face GAN: after the body generator is trained, a small pix2pixHD
generator sees the face crop of the label map and of the body generator's output and adds a
residual to that face crop (EDN section 3.3). Crops are fixed-size squares around the face
(edn.skeleton.face_box, 128 px at 512), shifted inside the frame at its borders so every
crop has the same size.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from edn.models.generator import GlobalGenerator
from edn.skeleton import face_box, face_box_side

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive ends)


def face_crop_box(pose: np.ndarray, size: tuple[int, int]) -> Box | None:
    """The face box of ``pose`` (18, 3) in an image of ``size`` (h, w), kept square at its
    full side by shifting it inside the image instead of clipping; None without a face."""
    box = face_box(pose, size)
    if box is None:
        return None
    h, w = size
    s = face_box_side(size)
    x0, y0, x1, y1 = box
    x0 = 0 if x0 == 0 and x1 < s else (w - s if x1 == w and x1 - x0 < s else x0)
    y0 = 0 if y0 == 0 and y1 < s else (h - s if y1 == h and y1 - y0 < s else y0)
    return x0, y0, x0 + s, y0 + s


def crop(images: torch.Tensor, boxes: list[Box]) -> torch.Tensor:
    """(B, C, H, W) images, one box per image (all of one size) -> (B, C, s, s) crops."""
    return torch.stack([im[:, y0:y1, x0:x1] for im, (x0, y0, x1, y1) in zip(images, boxes)])


def paste(images: torch.Tensor, crops: torch.Tensor, boxes: list[Box]) -> torch.Tensor:
    """A copy of ``images`` with ``crops`` put back at ``boxes`` (differentiable in both)."""
    out = []
    for im, c, (x0, y0, x1, y1) in zip(images, crops, boxes):
        mask = torch.zeros_like(im[:1])
        mask[:, y0:y1, x0:x1] = 1
        placed = torch.zeros_like(im)
        placed[:, y0:y1, x0:x1] = c.to(im.dtype)
        out.append(im * (1 - mask) + placed)
    return torch.stack(out)


def build_face_generator(label_nc: int, output_nc: int, ngf: int, n_downsampling: int,
                         n_blocks: int) -> GlobalGenerator:
    """The residual generator: (label crop, face crop) -> residual in [-1, 1]. Its last
    convolution starts at zero, so the stage begins from the body generator's face exactly."""
    generator = GlobalGenerator(label_nc + output_nc, output_nc, ngf, n_downsampling, n_blocks)
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
    maps (label crops, face crops) to residuals, ``keypoints`` (B, 18, 3) locate the faces.
    Frames without a visible face are returned as they are."""
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

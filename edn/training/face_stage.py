"""The face GAN training stage of Everybody Dance Now (section 3.3 of the paper).

The body generator of the earlier stage is frozen. For each training pair it makes frame t+1
exactly as in training (from frame t when temporally smoothed); the residual generator then
sees the face crops of the label map and of that output and adds a residual to the face; a
face discriminator judges (label crop, face crop). Losses as for the body: LSGAN, feature
matching, the optional L1 and VGG terms, on the crops, and optionally 1 - SSIM. Only pairs
whose frame t+1 shows a face in the image train this stage (``trains_on``).

On its training frames the body generator's face is almost the real one; on poses it has not
seen it is a few pixels off and blurred. ``face.train_shift`` and ``face.train_blur`` make
the training input look like the latter (``degraded_faces``), so the residual learns to
correct such faces instead of copying nearly perfect ones.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torchvision.transforms.v2.functional import gaussian_blur

from edn.core.config import Config
from edn.core.errors import ConfigError
from edn.core.face_box import face_box_side, face_crop_box
from edn.core.runtime import Precision
from edn.core.window import Box, crop
from edn.models.build import build_generator, load_weights
from edn.models.discriminator import MultiscaleDiscriminator
from edn.models.face import (
    add_residual,
    build_face_generator,
    check_face_crop_size,
    refine_faces,
)
from edn.models.generator import generator_input
from edn.models.losses import VGGLoss, feature_matching_loss, lsgan_loss, ssim
from edn.training.stage import FramePair, Stage, generate_pair, run_generator, split_batch


def degraded_faces(frames: torch.Tensor, boxes: Sequence[Box], max_shift: int,
                   max_sigma: float) -> torch.Tensor:
    """Crops of ``frames`` (B, C, H, W) at ``boxes``, each box first moved by a random offset
    of up to ``max_shift`` px in x and in y (kept inside the frame), each crop then blurred
    by a Gaussian of random sigma up to ``max_sigma`` px (kernel cut at 3 sigma). Drawn from
    torch's global RNG, which a checkpoint keeps, so a resumed run draws the same."""
    h, w = frames.shape[-2:]
    moved = []
    for x0, y0, x1, y1 in boxes:
        dx, dy = torch.randint(-max_shift, max_shift + 1, (2,)).tolist() if max_shift else (0, 0)
        dx, dy = min(max(dx, -x0), w - x1), min(max(dy, -y0), h - y1)
        moved.append((x0 + dx, y0 + dy, x1 + dx, y1 + dy))
    faces = crop(frames, moved)
    if max_sigma <= 0:
        return faces
    sigmas = (max_sigma * (1 - torch.rand(len(boxes)))).tolist()  # in (0, max_sigma]
    return torch.stack([gaussian_blur(f, [2 * math.ceil(3 * s) + 1] * 2, [s, s])
                        for f, s in zip(faces, sigmas)])


class FaceStage(Stage):
    """The frozen body generator, the face residual generator and the face discriminator."""

    def __init__(self, body: nn.Module, cfg: Config, frame_size: tuple[int, int],
                 vgg: VGGLoss | None = None, distributed: bool = False) -> None:
        """``frame_size`` (h, w): the body generator's frame, which sets the face crops' side
        also when training pairs are person windows cut out of it."""
        device = next(body.parameters()).device
        self.face_side = face_box_side(frame_size)
        self.shift = round(cfg.face.train_shift * self.face_side)
        self.blur = cfg.face.train_blur * self.face_side
        self.frame_size = frame_size
        self.precision = Precision(device, cfg.train.fast)
        self.temporal = cfg.generator.temporal
        self.output_nc: int = body.output_nc  # type: ignore[assignment]
        self.generator = body.requires_grad_(False)  # "generator": the key Renderer loads
        face, g = cfg.face, cfg.generator
        self.face_generator = build_face_generator(face, g.label_nc, g.output_nc).to(device)
        self.face_discriminator = MultiscaleDiscriminator(
            g.label_nc + g.output_nc, face.ndf, face.n_layers, face.num_d).to(device)
        self._optimise(self.face_generator, self.face_discriminator, cfg.train, cfg.loss,
                       vgg.to(device) if vgg is not None else None, distributed)
        self.weights["g_mask"] = 0.0  # the body's mask is frozen with it

    @classmethod
    def from_config(cls, cfg: Config, stage: int, device: torch.device, vgg: VGGLoss | None = None,
                    plate: np.ndarray | None = None, distributed: bool = False) -> "FaceStage":
        s = cfg.train.stages[stage]
        check_face_crop_size((s.height, s.width), cfg.face)
        body = build_generator(cfg.generator, s.n_local_enhancers, plate)
        return cls(body.to(device), cfg, (s.height, s.width), vgg, distributed)

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "face_generator": self.face_generator,
                "face_discriminator": self.face_discriminator}

    def trains_on(self, keypoints_t1: np.ndarray, size: tuple[int, int]) -> bool:
        """Pairs whose frame t+1 shows a face in the image."""
        return face_crop_box(keypoints_t1, size, self.face_side) is not None

    def start_from(self, previous: dict, cfg: Config) -> None:
        """The earlier body stage's generator, frozen; it must be of this stage's size."""
        before = cfg.train.stages[previous["stage"]]
        if (before.height, before.width) != self.frame_size:
            raise ConfigError(f"the face stage must keep stage {previous['stage']}'s size "
                              f"({before.width}x{before.height}) and local enhancers")
        load_weights(self.generator, previous["model"]["generator"],
                     "the earlier stage's checkpoint")

    def _residual(self, label_crop: torch.Tensor, face_crop: torch.Tensor) -> torch.Tensor:
        return self.face_generator(torch.cat([label_crop, face_crop], 1))

    @torch.no_grad()
    def generate(self, label_map: torch.Tensor, prev_output: torch.Tensor,
                 keypoints: np.ndarray) -> torch.Tensor:
        """Body frame from the label map (and previous output), its face refined."""
        with self.precision.autocast():
            frame = self.generator(generator_input(label_map, prev_output, self.temporal))
            return refine_faces(self._residual, frame, label_map, keypoints)

    def loss_terms(self, pair: FramePair) -> dict[str, torch.Tensor]:
        assert pair.keypoints_t1 is not None, "the face stage needs frame t+1's keypoints"
        size = (pair.label_t1.shape[-2], pair.label_t1.shape[-1])
        boxes = [face_crop_box(k, size, self.face_side) for k in pair.keypoints_t1]
        assert all(box is not None for box in boxes), "pairs without a face are not trained on"
        with torch.no_grad():
            if self.temporal:
                _, body_t1, _ = generate_pair(self.generator, pair.label_t, pair.label_t1,
                                              self.output_nc, plate=pair.plate)
            else:
                body_t1, _ = run_generator(self.generator, pair.label_t1, pair.plate)
        label, real = crop(pair.label_t1, boxes), crop(pair.real_t1, boxes)
        body_face = degraded_faces(body_t1, boxes, self.shift, self.blur)
        face = add_residual(body_face, self._residual(label, body_face))
        both = torch.cat([torch.cat([label, face], 1), torch.cat([label, real], 1)], 0)
        pred_fake, pred_real = split_batch(self.face_discriminator(both))
        terms = {"g_gan": lsgan_loss(pred_fake, True)}
        if self.wants("g_feat"):
            terms["g_feat"] = feature_matching_loss(pred_fake, pred_real)
        if self.wants("g_vgg") and self.vgg is not None:
            terms["g_vgg"] = self.vgg(face, real)
        if self.wants("g_l1"):
            terms["g_l1"] = (face.float() - real.float()).abs().mean()
        if self.wants("g_ssim"):
            terms["g_ssim"] = 1 - ssim(face, real)
        terms["d_real"] = lsgan_loss(pred_real, True)
        terms["d_fake"] = lsgan_loss(pred_fake, False)
        return terms

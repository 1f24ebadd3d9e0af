"""The face GAN training stage of Everybody Dance Now (section 3.3 of the paper).

The body generator of the earlier stage is frozen. For each training pair it makes frame t+1
exactly as in training (from frame t when temporally smoothed); the residual generator then
sees the face crops of the label map and of that output and adds a residual to the face; a
face discriminator judges (label crop, face crop). Losses as for the body: LSGAN, feature
matching, the optional L1 and VGG terms, on the crops. Only pairs whose frame t+1 shows a
face in the image train this stage (edn.trainer.Trainer keeps only those pairs).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edn.config import Config
from edn.fast import Precision, keep_freed_memory
from edn.losses import VGGLoss, feature_matching_loss, lsgan_loss
from edn.models.discriminator import MultiscaleDiscriminator
from edn.models.face import (add_residual, build_face_generator, check_face_crop_size,
                             face_crop_box, refine_faces)
from edn.models.generator import generator_input
from edn.skeleton import face_box_side
from edn.train_step import (AdversarialStage, FramePair, build_generator, generate_pair, run_generator,
                            split_batch, update_pair)
from edn.window import crop


class FaceStage(AdversarialStage):
    """Owns the frozen body generator, the face residual generator, the face discriminator
    and their optimisers; the same interface as edn.train_step.TemporalPix2PixHD."""

    def __init__(self, body: nn.Module, cfg: Config, frame_size: tuple[int, int],
                 vgg: VGGLoss | None = None, distributed: bool = False) -> None:
        """``frame_size`` (h, w): the body generator's frame, which sets the face crops' side
        also when training pairs are person windows cut out of it."""
        keep_freed_memory()
        self.device = next(body.parameters()).device
        self.face_side = face_box_side(frame_size)
        self.precision = Precision(self.device, cfg.train.fast)
        self.temporal = cfg.generator.temporal
        self.output_nc: int = body.output_nc  # type: ignore[assignment]
        self.generator = body.requires_grad_(False)  # "generator": the key Renderer loads
        face, g = cfg.face, cfg.generator
        self.face_generator = build_face_generator(face, g.label_nc, g.output_nc).to(self.device)
        self.face_discriminator = MultiscaleDiscriminator(
            g.label_nc + g.output_nc, face.ndf, face.n_layers, face.num_d).to(self.device)
        self.vgg = vgg.to(self.device) if vgg is not None else None
        self.loss = cfg.loss
        self.distributed = distributed
        betas = (cfg.train.beta1, cfg.train.beta2)
        self.opt_g = torch.optim.Adam(self.face_generator.parameters(), cfg.train.lr, betas=betas, fused=True)
        self.opt_d = torch.optim.Adam(self.face_discriminator.parameters(), cfg.train.lr, betas=betas,
                                      fused=True)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision.needs_grad_scaler)

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

    def _residual(self, label_crop: torch.Tensor, face_crop: torch.Tensor) -> torch.Tensor:
        return self.face_generator(torch.cat([label_crop, face_crop], 1))

    @torch.no_grad()
    def generate(self, label_map: torch.Tensor, prev_output: torch.Tensor,
                 keypoints: np.ndarray) -> torch.Tensor:
        """Body frame from the label map (and previous output), its face refined."""
        with self.precision.autocast():
            frame = self.generator(generator_input(label_map, prev_output, self.temporal))
            return refine_faces(self._residual, frame, label_map, keypoints)

    def step(self, pair: FramePair) -> dict[str, torch.Tensor]:
        pair = pair.to(self.device, channels_last=False)
        if pair.keypoints_t1 is None:
            raise ValueError("the face stage needs frame t+1's keypoints")
        size = (pair.label_t1.shape[-2], pair.label_t1.shape[-1])
        boxes = [face_crop_box(k, size, self.face_side) for k in pair.keypoints_t1]
        if any(box is None for box in boxes):
            raise ValueError("the face stage trains only on frames that show a face")
        with self.precision.autocast():
            with torch.no_grad():
                if self.temporal:
                    _, body_t1, _ = generate_pair(self.generator, pair.label_t, pair.label_t1,
                                                  self.output_nc, plate=pair.plate)
                else:
                    body_t1, _ = run_generator(self.generator, pair.label_t1, pair.plate)
            label, real = crop(pair.label_t1, boxes), crop(pair.real_t1, boxes)
            body_face = crop(body_t1, boxes)
            face = add_residual(body_face, self._residual(label, body_face))
            both = torch.cat([torch.cat([label, face], 1), torch.cat([label, real], 1)], 0)
            pred_fake, pred_real = split_batch(self.face_discriminator(both))
            losses = {
                "g_gan": lsgan_loss(pred_fake, True),
                "g_feat": feature_matching_loss(pred_fake, pred_real, self.loss.feat_match),
            }
            if self.vgg is not None and self.loss.vgg > 0:
                losses["g_vgg"] = self.loss.vgg * self.vgg(face, real)
            if self.loss.l1 > 0:
                losses["g_l1"] = self.loss.l1 * (face.float() - real.float()).abs().mean()
            losses["d_real"] = lsgan_loss(pred_real, True)
            losses["d_fake"] = lsgan_loss(pred_fake, False)
        loss_g = sum(v for k, v in losses.items() if k.startswith("g_"))
        loss_d = 0.5 * (losses["d_real"] + losses["d_fake"])
        update_pair(loss_g, loss_d, self.face_generator, self.face_discriminator, self.opt_g,
                    self.opt_d, self.scaler, self.distributed)
        return {k: v.detach() for k, v in losses.items()}

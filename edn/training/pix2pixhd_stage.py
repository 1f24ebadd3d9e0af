"""The temporally smoothed pix2pixHD training stage of Everybody Dance Now.

G sees the current label map stacked with its own previous output. Training uses
consecutive frames (t, t+1): G makes frame t from zeros, then frame t+1 from frame t, with
gradients flowing through frame t; D judges the pair (label_t, label_t1, frame_t, frame_t1).
Without temporal smoothing it is plain frame-by-frame pix2pixHD. With a flow-warp weight
(LossConfig.warp), generated frame t moved by the real frames' flow must match generated
frame t+1 where the flow follows the pixels.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edn.core.config import Config, LossConfig, TrainConfig
from edn.core.errors import ConfigError
from edn.core.face_box import face_box_side
from edn.core.runtime import Precision, to_memory_format
from edn.models.build import build_discriminator, build_generator, load_weights
from edn.models.generator import LocalEnhancer, generator_input
from edn.models.losses import VGGLoss, face_l1, feature_matching_loss, flow_warp_loss, lsgan_loss
from edn.models.winograd import use_winograd
from edn.training.stage import FramePair, Stage, body_frames, run_generator, split_batch


def judged(labels: list[torch.Tensor], frames: list[torch.Tensor], temporal: bool) -> torch.Tensor:
    """What D sees of consecutive frames: (label_t, label_t1, ..., frame_t, frame_t1, ...)
    stacked in channels when temporally smoothed, else (label, frame) of each frame stacked
    in the batch."""
    if temporal:
        return torch.cat([*labels, *frames], 1)
    return torch.cat([torch.cat(labels, 0), torch.cat(frames, 0)], 1)


class TemporalPix2PixHD(Stage):
    """G, D and the precision policy; one step is one G and one D update on a frame pair,
    pix2pixHD's order (both losses from the same D)."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: LossConfig,
        train: TrainConfig,
        vgg: VGGLoss | None = None,
        distributed: bool = False,
        temporal: bool = True,
        face_side: int | None = None,
        frames: int = 2,
    ) -> None:
        """``face_side``: the face box's side for the face L1 term, the full frame's when
        training pairs are person windows cut out of it (None: the pair's own frame's);
        ``frames``: consecutive frames D judges (when temporally smoothed)."""
        device = next(generator.parameters()).device
        self.precision = Precision(device, train.fast)
        self.channels_last = train.channels_last
        memory_format = torch.channels_last if train.channels_last else torch.contiguous_format
        self.generator = generator.to(memory_format=memory_format)
        plan = self.precision.cpu
        if self.precision.fp32_fast and plan.train_winograd_min_channels is not None:
            # Same parameters and state_dict keys; the wide 3x3 convolutions by fp32 Winograd.
            use_winograd(self.generator, torch.float32, plan.train_winograd_min_channels, trainable=True)
        # Compiled G passes for training only; self.generator stays the plain module (its
        # state_dict keys, inference copies). Fuses norm/ReLU/pad passes: ~10% per step on the
        # cpu preset with bf16, after a ~60 s first compile (seconds once inductor's cache is warm).
        compile = train.compile and (device.type != "cpu" or plan.compile_training)
        self.run_generator = torch.compile(run_generator) if compile else run_generator
        self.discriminator = discriminator.to(memory_format=memory_format)
        if vgg is not None:
            vgg = vgg.to(device, memory_format=memory_format)
        self.output_nc: int = generator.output_nc  # type: ignore[assignment]
        self.temporal = temporal
        self.face_side = face_side
        self.frames = frames if temporal else 2
        self._optimise(self.generator, self.discriminator, train, loss, vgg, distributed)

    @classmethod
    def from_config(cls, cfg: Config, stage: int, device: torch.device, vgg: VGGLoss | None = None,
                    plate: np.ndarray | None = None, distributed: bool = False) -> "TemporalPix2PixHD":
        s = cfg.train.stages[stage]
        generator = build_generator(cfg.generator, s.n_local_enhancers, plate)
        discriminator = build_discriminator(cfg.discriminator, cfg.generator)
        return cls(generator.to(device), discriminator.to(device), cfg.loss, cfg.train, vgg, distributed,
                   cfg.generator.temporal, face_box_side((s.height, s.width)), cfg.discriminator.frames)

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    @torch.no_grad()
    def generate(self, label_map: torch.Tensor, prev_output: torch.Tensor,
                 keypoints: np.ndarray | None = None) -> torch.Tensor:
        """One frame from its label map (and the previous output when temporally smoothed),
        under the training precision."""
        with self.precision.autocast():
            x = generator_input(label_map, prev_output, self.temporal)
            return self.generator(to_memory_format(x, self.channels_last))

    def start_from(self, previous: dict, cfg: Config) -> None:
        """A local enhancer stage takes the earlier stage's trained global generator
        (pix2pixHD's schedule)."""
        earlier_stage = cfg.train.stages[previous["stage"]]
        enhancer = _core(self.generator)
        if not isinstance(enhancer, LocalEnhancer):
            raise ConfigError("only a local enhancer stage starts from an earlier body stage")
        earlier = build_generator(cfg.generator, earlier_stage.n_local_enhancers,
                                  np.zeros((earlier_stage.height, earlier_stage.width, 3), np.uint8))
        load_weights(earlier, previous["model"]["generator"], "the earlier stage's checkpoint")
        enhancer.load_global(_core(earlier))

    def uses_flow(self) -> bool:
        return self.wants("g_warp")

    def loss_terms(self, pair: FramePair) -> dict[str, torch.Tensor]:
        # One autocast region for all G passes, so G's weights are cast to bf16 once.
        labels, reals = pair.labels(), pair.reals()
        fakes, masks = body_frames(self.generator, labels, self.output_nc, self.temporal,
                                   self.run_generator, pair.plate)
        fake, real = judged(labels, fakes, self.temporal), judged(labels, reals, self.temporal)
        # Fake and real in one batch: instance norm is per sample, so this is exact.
        pred_fake, pred_real = split_batch(self.discriminator(torch.cat([fake, real], 0)))
        terms = {"g_gan": lsgan_loss(pred_fake, True)}
        if self.wants("g_feat"):
            terms["g_feat"] = feature_matching_loss(pred_fake, pred_real)
        all_fakes, all_reals = torch.cat(fakes, 0), torch.cat(reals, 0)
        if self.wants("g_vgg") and self.vgg is not None:
            terms["g_vgg"] = self.vgg(all_fakes, all_reals)
        if self.wants("g_l1"):
            terms["g_l1"] = (all_fakes.float() - all_reals.float()).abs().mean()
        if self.wants("g_face_l1") and pair.keypoints_t1 is not None:
            terms["g_face_l1"] = face_l1(fakes[1], pair.real_t1, pair.keypoints_t1, self.face_side)
        if self.wants("g_warp") and pair.flow is not None and pair.followed is not None:
            terms["g_warp"] = flow_warp_loss(fakes[0], fakes[1], pair.flow, pair.followed)
        real_masks = pair.masks()
        if self.wants("g_mask") and masks is not None and real_masks is not None:
            terms["g_mask"] = (torch.cat(masks, 0).float() - torch.cat(real_masks, 0)).abs().mean()
        terms["d_real"] = lsgan_loss(pred_real, True)
        terms["d_fake"] = lsgan_loss(pred_fake, False)
        return terms


def _core(generator: nn.Module) -> nn.Module:
    """The pix2pixHD generator inside a composite one (itself otherwise)."""
    return getattr(generator, "base", generator)

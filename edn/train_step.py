"""The temporally smoothed pix2pixHD training step of Everybody Dance Now.

G sees the current label map stacked with its own previous output. Training uses
consecutive frames (t, t+1): G makes frame t from zeros, then frame t+1 from frame t, with
gradients flowing through frame t; D judges the pair (label_t, label_t1, frame_t, frame_t1).
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from edn.config import Config, DiscriminatorConfig, GeneratorConfig, LossConfig, TrainConfig
from edn.fast import Precision, keep_freed_memory, to_memory_format
from edn.losses import VGGLoss, feature_matching_loss, lsgan_loss
from edn.models.composite import CompositeGenerator
from edn.models.discriminator import MultiscaleDiscriminator
from edn.models.generator import GlobalGenerator, LocalEnhancer, generator_input
from edn.models.winograd import use_winograd


@dataclass
class FramePair:
    """Label maps and real frames of frames t and t+1, each (B, 3, H, W) in [-1, 1], and
    optionally their person masks (B, 1, H, W) in [0, 1] for the composite's mask loss,
    frame t+1's keypoints (B, 18, 3) in pixels, numpy, for the face stage, and, when the pair
    is a person window's crop of the frames, the background plate's crop under it (B, 3, H, W)."""

    label_t: torch.Tensor
    label_t1: torch.Tensor
    real_t: torch.Tensor
    real_t1: torch.Tensor
    mask_t: torch.Tensor | None = None
    mask_t1: torch.Tensor | None = None
    keypoints_t1: np.ndarray | None = None
    plate: torch.Tensor | None = None

    def to(self, device: torch.device, channels_last: bool) -> "FramePair":
        def move(x: torch.Tensor | np.ndarray | None) -> torch.Tensor | np.ndarray | None:
            if not isinstance(x, torch.Tensor):
                return x
            return to_memory_format(x.to(device, non_blocking=True), channels_last)

        return FramePair(*(move(getattr(self, f.name)) for f in dataclasses.fields(self)))


def build_generator(
    cfg: GeneratorConfig, n_local_enhancers: int, plate: np.ndarray | None = None
) -> nn.Module:
    """The stage's generator; the global generator keeps width `cfg.ngf` in every stage.
    With `cfg.composite`, `plate` (h, w, 3) uint8 is the background the person is put over."""
    if cfg.person_window and not cfg.composite:
        raise ValueError("generator.person_window needs generator.composite: the window is "
                         "pasted into the background plate")
    if not cfg.composite:
        return _pix2pixhd_generator(cfg, n_local_enhancers, cfg.output_nc)
    if plate is None:
        raise ValueError("a composite generator needs the target's background plate")
    base = _pix2pixhd_generator(cfg, n_local_enhancers, cfg.output_nc + 1)  # + mask logit
    plate_t = torch.from_numpy(plate).permute(2, 0, 1).float().div(127.5).sub(1.0)
    return CompositeGenerator(base, plate_t)


def _pix2pixhd_generator(cfg: GeneratorConfig, n_local_enhancers: int, output_nc: int) -> nn.Module:
    if n_local_enhancers == 0:
        return GlobalGenerator(cfg.input_nc, output_nc, cfg.ngf, cfg.n_downsampling, cfg.n_blocks)
    return LocalEnhancer(
        cfg.input_nc,
        output_nc,
        cfg.ngf // 2**n_local_enhancers,
        cfg.n_downsampling,
        cfg.n_blocks,
        n_local_enhancers,
        cfg.n_blocks_local,
    )


def build_discriminator(cfg: DiscriminatorConfig, gen: GeneratorConfig) -> MultiscaleDiscriminator:
    # Temporally smoothed, D sees both label maps and both frames of the pair; else one of each.
    frames = 2 if gen.temporal else 1
    return MultiscaleDiscriminator(frames * (gen.label_nc + gen.output_nc), cfg.ndf, cfg.n_layers, cfg.num_d)


Masks = tuple[torch.Tensor, torch.Tensor] | None
Run = Callable[[nn.Module, torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor | None]]


def run_generator(generator: nn.Module, x: torch.Tensor, plate: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(frame, person mask or None); a function so that torch.compile can trace either kind.
    ``plate``: a composite's plate crops under a person window (edn.window)."""
    if isinstance(generator, CompositeGenerator):
        return generator.forward_with_mask(x, plate)
    return generator(x), None


def generate_pair(
    generator: nn.Module,
    label_t: torch.Tensor,
    label_t1: torch.Tensor,
    output_nc: int = 3,
    run: Run = run_generator,
    plate: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, Masks]:
    """Frame t from zeros, frame t+1 from frame t (not detached); plus the composite's person
    masks of both frames when G composites over a plate, else None."""
    b, _, h, w = label_t.shape
    zeros = label_t.new_zeros(b, output_nc, h, w)
    fake_t, mask_t = run(generator, torch.cat([label_t, zeros], 1), plate)
    fake_t1, mask_t1 = run(generator, torch.cat([label_t1, fake_t], 1), plate)
    masks = (mask_t, mask_t1) if mask_t is not None and mask_t1 is not None else None
    return fake_t, fake_t1, masks


def body_frames(
    generator: nn.Module,
    label_t: torch.Tensor,
    label_t1: torch.Tensor,
    output_nc: int,
    temporal: bool,
    run: Run = run_generator,
    plate: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, Masks]:
    """G's frames t and t+1 of a pair (and the composite's masks): temporally smoothed as in
    `generate_pair`, else each frame from its own label map, both in one batch."""
    if temporal:
        return generate_pair(generator, label_t, label_t1, output_nc, run, plate)
    frames, mask = run(generator, torch.cat([label_t, label_t1], 0),
                       None if plate is None else torch.cat([plate, plate], 0))
    fake_t, fake_t1 = frames.chunk(2)
    return fake_t, fake_t1, (mask.chunk(2) if mask is not None else None)  # type: ignore[return-value]


def judged(labels: tuple[torch.Tensor, torch.Tensor], frames: tuple[torch.Tensor, torch.Tensor],
           temporal: bool) -> torch.Tensor:
    """What D sees of a pair: (label_t, label_t1, frame_t, frame_t1) stacked in channels when
    temporally smoothed, else (label, frame) of each frame stacked in the batch."""
    if temporal:
        return torch.cat([*labels, *frames], 1)
    return torch.cat([torch.cat(labels, 0), torch.cat(frames, 0)], 1)


def split_batch(output: list[list[torch.Tensor]]) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """D's output on a batch of [fakes, reals] -> (fakes' output, reals' output)."""
    first = [[f.chunk(2)[0] for f in scale] for scale in output]
    second = [[f.chunk(2)[1] for f in scale] for scale in output]
    return first, second


class AdversarialStage(ABC):
    """What every training stage shares: named networks, a generator-side and a
    discriminator-side Adam optimiser and a gradient scaler; their learning rate and their
    state for checkpoints."""

    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler

    @abstractmethod
    def networks(self) -> dict[str, nn.Module]:
        """The stage's networks by checkpoint key ("generator" is the body generator)."""

    def set_lr(self, lr: float) -> None:
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr

    def state_dict(self) -> dict[str, dict]:
        return {**{k: m.state_dict() for k, m in self.networks().items()},
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, dict]) -> None:
        for key, network in self.networks().items():
            network.load_state_dict(state[key])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler.load_state_dict(state["scaler"])


class TemporalPix2PixHD(AdversarialStage):
    """Owns G, D, their Adam optimisers and the precision policy; `step` does one G and one
    D update on a frame pair, exactly pix2pixHD's order (both losses from the same D)."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: LossConfig,
        train: TrainConfig,
        vgg: VGGLoss | None = None,
        distributed: bool = False,
        temporal: bool = True,
    ) -> None:
        keep_freed_memory()
        self.device = next(generator.parameters()).device
        self.precision = Precision(self.device, train.fast)
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
        compile = train.compile and (self.device.type != "cpu" or plan.compile_training)
        self.run_generator = torch.compile(run_generator) if compile else run_generator
        self.discriminator = discriminator.to(memory_format=memory_format)
        self.vgg = vgg.to(self.device, memory_format=memory_format) if vgg is not None else None
        self.loss = loss
        self.distributed = distributed
        self.output_nc: int = generator.output_nc  # type: ignore[assignment]
        self.temporal = temporal
        betas = (train.beta1, train.beta2)
        # fused Adam: one kernel over all parameters (7x faster than the for-loop on CPU).
        self.opt_g = torch.optim.Adam(generator.parameters(), train.lr, betas=betas, fused=True)
        self.opt_d = torch.optim.Adam(discriminator.parameters(), train.lr, betas=betas, fused=True)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision.needs_grad_scaler)

    @classmethod
    def from_config(
        cls,
        cfg: Config,
        stage: int,
        device: torch.device,
        vgg: VGGLoss | None = None,
        plate: np.ndarray | None = None,
        distributed: bool = False,
    ) -> "TemporalPix2PixHD":
        generator = build_generator(cfg.generator, cfg.train.stages[stage].n_local_enhancers, plate)
        discriminator = build_discriminator(cfg.discriminator, cfg.generator)
        return cls(generator.to(device), discriminator.to(device), cfg.loss, cfg.train, vgg, distributed,
                   cfg.generator.temporal)

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    @torch.no_grad()
    def generate(self, label_map: torch.Tensor, prev_output: torch.Tensor,
                 keypoints: np.ndarray | None = None) -> torch.Tensor:
        """One frame from its label map (and the previous output when temporally smoothed),
        under the training precision; ``keypoints`` are for the face stage's same method."""
        with self.precision.autocast():
            x = generator_input(label_map, prev_output, self.temporal)
            return self.generator(to_memory_format(x, self.channels_last))

    def step(self, pair: FramePair) -> dict[str, torch.Tensor]:
        """One optimisation step; returns the detached losses (no host sync)."""
        pair = pair.to(self.device, self.channels_last)
        with self.precision.autocast():
            # One autocast region for both G passes, so G's weights are cast to bf16 once.
            fake_t, fake_t1, masks = body_frames(
                self.generator, pair.label_t, pair.label_t1, self.output_nc, self.temporal,
                self.run_generator, pair.plate,
            )
            labels = (pair.label_t, pair.label_t1)
            fake = judged(labels, (fake_t, fake_t1), self.temporal)
            real = judged(labels, (pair.real_t, pair.real_t1), self.temporal)
            # Fake and real in one batch: instance norm is per sample, so this is exact.
            pred_fake, pred_real = split_batch(self.discriminator(torch.cat([fake, real], 0)))
            losses = self._generator_losses(pred_fake, pred_real, (fake_t, fake_t1), masks, pair)
            losses["d_real"] = lsgan_loss(pred_real, True)
            losses["d_fake"] = lsgan_loss(pred_fake, False)
        loss_g = sum(v for k, v in losses.items() if k.startswith("g_"))
        loss_d = 0.5 * (losses["d_real"] + losses["d_fake"])
        self._update(loss_g, loss_d)
        return {k: v.detach() for k, v in losses.items()}

    def _generator_losses(
        self,
        pred_fake: list[list[torch.Tensor]],
        pred_real: list[list[torch.Tensor]],
        fakes: tuple[torch.Tensor, torch.Tensor],
        masks: Masks,
        pair: FramePair,
    ) -> dict[str, torch.Tensor]:
        losses = {
            "g_gan": lsgan_loss(pred_fake, True),
            "g_feat": feature_matching_loss(pred_fake, pred_real, self.loss.feat_match),
        }
        fake = torch.cat(fakes, 0)
        real = torch.cat([pair.real_t, pair.real_t1], 0)
        if self.vgg is not None and self.loss.vgg > 0:
            losses["g_vgg"] = self.loss.vgg * self.vgg(fake, real)
        if self.loss.l1 > 0:
            losses["g_l1"] = self.loss.l1 * (fake.float() - real.float()).abs().mean()
        if masks is not None and self.loss.mask > 0 and pair.mask_t is not None and pair.mask_t1 is not None:
            predicted = torch.cat(masks, 0).float()
            losses["g_mask"] = self.loss.mask * (predicted - torch.cat([pair.mask_t, pair.mask_t1], 0)).abs().mean()
        return losses

    def _update(self, loss_g: torch.Tensor, loss_d: torch.Tensor) -> None:
        update_pair(loss_g, loss_d, self.generator, self.discriminator, self.opt_g, self.opt_d,
                    self.scaler, self.distributed)


def update_pair(loss_g: torch.Tensor, loss_d: torch.Tensor, generator: nn.Module,
                discriminator: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler, distributed: bool) -> None:
    """One G and one D update. Both backward passes share the graph: G's loss reaches only
    G's parameters (D's weight gradients would be discarded anyway) and D's loss only D's."""
    g_params = list(generator.parameters())
    d_params = list(discriminator.parameters())
    opt_g.zero_grad(set_to_none=True)
    opt_d.zero_grad(set_to_none=True)
    scaler.scale(loss_g).backward(inputs=g_params, retain_graph=True)
    scaler.scale(loss_d).backward(inputs=d_params)
    if distributed:
        _average_gradients(g_params + d_params)
    scaler.step(opt_g)
    scaler.step(opt_d)
    scaler.update()


def _average_gradients(params: list[nn.Parameter]) -> None:
    """Data parallelism by hand: DDP's hooks assume one backward per forward, this step has
    two that share a graph, so the gradients are averaged explicitly after both."""
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()

"""The training-stage contract, and what both stages share.

A stage (``Stage``) is what the trainer drives. It names its networks (``networks``), says
which frame pairs it trains on (``trains_on``), starts from the finished stage before it
(``start_from``), computes its loss terms on a pair (``loss_terms``) and draws a frame for
previews (``generate``). The base class does the rest the same way for every stage: one
weighted sum of the terms for the generator side and one for the discriminator side (the
weights are the config's, ``loss_weights``), both updates, the learning rate and the state
for checkpoints. The trainer never asks which stage it runs.

Also here: a frame pair and the functions both stages use to run the body generator on it.
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

from edn.core.config import Config, LossConfig, TrainConfig
from edn.core.errors import CheckpointError
from edn.core.runtime import Precision, keep_freed_memory, to_memory_format
from edn.models.build import load_weights
from edn.models.composite import CompositeGenerator
from edn.models.losses import VGGLoss


@dataclass
class FramePair:
    """Label maps and real frames of frames t and t+1, each (B, 3, H, W) in [-1, 1], and
    optionally their person masks (B, 1, H, W) in [0, 1] for the composite's mask loss,
    frame t+1's keypoints (B, 18, 3) in pixels, numpy, for the face stage, when the pair
    is a person window's crop of the frames, the background plate's crop under it (B, 3, H, W),
    and for the flow-warp loss the real frames' flow from t+1 back to t (edn.core.flow):
    ``flow`` (B, H, W, 2), each pixel of frame t+1's place (x, y) in frame t, and ``followed``
    (B, 1, H, W), 1 where the flow follows the pixel. A stage whose D judges three frames
    also gets frame t+2's label map, real frame and mask (``label_t2``, ``real_t2``,
    ``mask_t2``)."""

    label_t: torch.Tensor
    label_t1: torch.Tensor
    real_t: torch.Tensor
    real_t1: torch.Tensor
    mask_t: torch.Tensor | None = None
    mask_t1: torch.Tensor | None = None
    keypoints_t1: np.ndarray | None = None
    plate: torch.Tensor | None = None
    flow: torch.Tensor | None = None
    followed: torch.Tensor | None = None
    label_t2: torch.Tensor | None = None
    real_t2: torch.Tensor | None = None
    mask_t2: torch.Tensor | None = None

    def labels(self) -> list[torch.Tensor]:
        """The label maps of frames t, t+1 (and t+2)."""
        return [x for x in (self.label_t, self.label_t1, self.label_t2) if x is not None]

    def reals(self) -> list[torch.Tensor]:
        """The real frames t, t+1 (and t+2)."""
        return [x for x in (self.real_t, self.real_t1, self.real_t2) if x is not None]

    def masks(self) -> list[torch.Tensor] | None:
        """The person masks of frames t, t+1 (and t+2), None without them."""
        masks = [x for x in (self.mask_t, self.mask_t1, self.mask_t2) if x is not None]
        return masks if len(masks) == len(self.labels()) else None

    def to(self, device: torch.device, channels_last: bool) -> "FramePair":
        def move(x: torch.Tensor | np.ndarray | None) -> torch.Tensor | np.ndarray | None:
            if not isinstance(x, torch.Tensor):
                return x
            return to_memory_format(x.to(device, non_blocking=True), channels_last)

        return FramePair(*(move(getattr(self, f.name)) for f in dataclasses.fields(self)))


Masks = tuple[torch.Tensor, torch.Tensor] | None
Run = Callable[[nn.Module, torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor | None]]


def run_generator(generator: nn.Module, x: torch.Tensor, plate: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(frame, person mask or None); a function so that torch.compile can trace either kind.
    ``plate``: a composite's plate crops under a person window (edn.core.window)."""
    if isinstance(generator, CompositeGenerator):
        return generator.forward_with_mask(x, plate)
    return generator(x), None


def generate_sequence(
    generator: nn.Module,
    labels: list[torch.Tensor],
    output_nc: int = 3,
    run: Run = run_generator,
    plate: torch.Tensor | None = None,
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """Consecutive frames, the first from zeros, each next one from the one before (not
    detached); plus the composite's person masks when G composites over a plate, else None."""
    b, _, h, w = labels[0].shape
    previous = labels[0].new_zeros(b, output_nc, h, w)
    frames, masks = [], []
    for label in labels:
        previous, mask = run(generator, torch.cat([label, previous], 1), plate)
        frames.append(previous)
        masks.append(mask)
    return frames, (masks if all(m is not None for m in masks) else None)  # type: ignore[return-value]


def generate_pair(
    generator: nn.Module,
    label_t: torch.Tensor,
    label_t1: torch.Tensor,
    output_nc: int = 3,
    run: Run = run_generator,
    plate: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, Masks]:
    """Frame t from zeros, frame t+1 from frame t (``generate_sequence`` of two frames)."""
    (fake_t, fake_t1), masks = generate_sequence(generator, [label_t, label_t1], output_nc, run, plate)
    return fake_t, fake_t1, (masks[0], masks[1]) if masks is not None else None


def body_frames(
    generator: nn.Module,
    labels: list[torch.Tensor],
    output_nc: int,
    temporal: bool,
    run: Run = run_generator,
    plate: torch.Tensor | None = None,
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """G's frames of consecutive label maps (and the composite's masks): temporally smoothed
    as in `generate_sequence`, else each frame from its own label map, all in one batch."""
    if temporal:
        return generate_sequence(generator, labels, output_nc, run, plate)
    frames, mask = run(generator, torch.cat(labels, 0),
                       None if plate is None else torch.cat([plate] * len(labels), 0))
    return list(frames.chunk(len(labels))), (list(mask.chunk(len(labels))) if mask is not None else None)


def split_batch(output: list[list[torch.Tensor]]) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """D's output on a batch of [fakes, reals] -> (fakes' output, reals' output)."""
    first = [[f.chunk(2)[0] for f in scale] for scale in output]
    second = [[f.chunk(2)[1] for f in scale] for scale in output]
    return first, second


def loss_weights(loss: LossConfig) -> dict[str, float]:
    """The weight of every loss term: generator terms start with "g_", discriminator terms
    with "d_" (pix2pixHD halves D's real and fake terms). A term of weight 0 is not computed."""
    return {"g_gan": 1.0, "g_feat": loss.feat_match, "g_vgg": loss.vgg, "g_l1": loss.l1,
            "g_mask": loss.mask, "g_face_l1": loss.face_l1, "g_ssim": loss.ssim, "g_warp": loss.warp,
            "d_real": 0.5, "d_fake": 0.5}


class Stage(ABC):
    """One training stage; see the module. Subclasses set, in their constructor, the
    networks and call ``_optimise(trained_g, trained_d, ...)``."""

    generator: nn.Module  # the body generator: the checkpoint key "generator" inference loads
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    precision: Precision
    channels_last: bool = False
    frames: int = 2  # consecutive frames a training sample holds (FramePair)

    def _optimise(self, trained_g: nn.Module, trained_d: nn.Module, train: TrainConfig,
                  loss: LossConfig, vgg: VGGLoss | None, distributed: bool) -> None:
        """The optimisers of the networks this stage trains, its loss weights and scaler."""
        keep_freed_memory()
        self.trained = (trained_g, trained_d)
        self.weights = loss_weights(loss)
        if vgg is None:
            self.weights["g_vgg"] = 0.0
        self.warp_weight, self.warp_ramp = self.weights["g_warp"], loss.warp_ramp
        self.vgg = vgg
        self.distributed = distributed
        betas = (train.beta1, train.beta2)
        # fused Adam: one kernel over all parameters (7x faster than the for-loop on CPU).
        self.opt_g = torch.optim.Adam(trained_g.parameters(), train.lr, betas=betas, fused=True)
        self.opt_d = torch.optim.Adam(trained_d.parameters(), train.lr, betas=betas, fused=True)
        self.scaler = torch.amp.GradScaler(self.precision.device.type,
                                           enabled=self.precision.needs_grad_scaler)

    # -- what a stage defines --------------------------------------------------------------
    @abstractmethod
    def networks(self) -> dict[str, nn.Module]:
        """The stage's networks by checkpoint key ("generator" is the body generator)."""

    @abstractmethod
    def loss_terms(self, pair: FramePair) -> dict[str, torch.Tensor]:
        """The unweighted loss terms of one pair (already on the device), under autocast;
        only terms whose weight is not 0."""

    @abstractmethod
    def generate(self, label_map: torch.Tensor, prev_output: torch.Tensor,
                 keypoints: np.ndarray) -> torch.Tensor:
        """One frame from its label map and the previous output, for previews."""

    @abstractmethod
    def start_from(self, previous: dict, cfg: Config) -> None:
        """Begin from the checkpoint ``previous`` of the finished stage before this one."""

    def uses_flow(self) -> bool:
        """Whether this stage's pairs need the real frames' flow (``FramePair.flow``)."""
        return False

    def trains_on(self, keypoints_t1: np.ndarray, size: tuple[int, int]) -> bool:
        """Whether a pair whose frame t+1 has ``keypoints_t1`` (in the pair's (h, w) ``size``)
        is one this stage trains on. Every pair, unless a stage says otherwise."""
        return True

    # -- the same for every stage ----------------------------------------------------------
    def step(self, pair: FramePair) -> dict[str, torch.Tensor]:
        """One G and one D update on ``pair``; returns the weighted terms, detached (no host
        sync)."""
        pair = pair.to(self.precision.device, self.channels_last)
        with self.precision.autocast():
            terms = self.loss_terms(pair)
        weighted = {k: self.weights[k] * v for k, v in terms.items()}
        loss_g = sum(v for k, v in weighted.items() if k.startswith("g_"))
        loss_d = sum(v for k, v in weighted.items() if k.startswith("d_"))
        self._update(loss_g, loss_d)  # type: ignore[arg-type]
        return {k: v.detach() for k, v in weighted.items()}

    def wants(self, term: str) -> bool:
        return self.weights[term] > 0

    def set_progress(self, progress: float) -> None:
        """The temporal term's schedule at ``progress`` (iteration / planned iterations): the
        flow-warp weight grows from 0 over the first ``LossConfig.warp_ramp`` of the run."""
        if self.warp_ramp > 0:
            self.weights["g_warp"] = self.warp_weight * min(1.0, progress / self.warp_ramp)

    def set_lr(self, lr: float) -> None:
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr

    def state_dict(self) -> dict[str, dict]:
        return {**{k: m.state_dict() for k, m in self.networks().items()},
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, dict], source: str = "the checkpoint") -> None:
        missing = [k for k in (*self.networks(), "opt_g", "opt_d", "scaler") if k not in state]
        if missing:
            raise CheckpointError(f"{source} lacks {', '.join(missing)}: it is not a checkpoint "
                                  f"of this stage (it holds {', '.join(map(str, state)) or 'nothing'})")
        for key, network in self.networks().items():
            load_weights(network, state[key], f"{source} ({key})")
        try:
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.scaler.load_state_dict(state["scaler"])
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{source}: its optimiser state does not fit this config's "
                                  f"networks ({str(e)[:120]})") from None

    def _update(self, loss_g: torch.Tensor, loss_d: torch.Tensor) -> None:
        """One G and one D update. Both backward passes share the graph: G's loss reaches
        only G's parameters (D's weight gradients would be discarded anyway) and D's loss
        only D's."""
        g_params = list(self.trained[0].parameters())
        d_params = list(self.trained[1].parameters())
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward(inputs=g_params, retain_graph=True)
        self.scaler.scale(loss_d).backward(inputs=d_params)
        if self.distributed:
            _average_gradients(g_params + d_params)
        self.scaler.step(self.opt_g)
        self.scaler.step(self.opt_d)
        self.scaler.update()


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

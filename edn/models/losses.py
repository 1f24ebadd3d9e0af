"""pix2pixHD losses: LSGAN, discriminator feature matching and the VGG19 perceptual loss; SSIM
as a loss (the face stage's structure term), the L1 over the face box (the body stage's face
term) and vid2vid's flow-warp loss (the body stage's temporal term)."""
from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edn.core.errors import CheckpointError
from edn.core.face_box import face_crop_box
from edn.core.window import crop

log = logging.getLogger(__name__)

VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet VGG19, brought by the user
# relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 end at these indices of vgg19.features.
_VGG_SLICE_ENDS = (2, 7, 12, 21, 30)
_VGG_LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

DiscriminatorOutput = list[list[torch.Tensor]]  # per scale, per layer; patch scores last


def lsgan_loss(output: DiscriminatorOutput, target_is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss: mean squared distance of each scale's patch scores to 1 (real)
    or 0 (fake), summed over scales. Computed in fp32 whatever the autocast dtype."""
    target = 1.0 if target_is_real else 0.0
    return sum(
        ((features[-1].float() - target) ** 2).mean() for features in output
    )  # type: ignore[return-value]


def feature_matching_loss(fake: DiscriminatorOutput, real: DiscriminatorOutput) -> torch.Tensor:
    """pix2pixHD's discriminator feature matching: L1 between the fake's and the (detached)
    real's intermediate features over every layer but the scores, each layer weighted
    4 / (n_layers + 1) and each scale 1 / num_D (the term's weight is the caller's)."""
    num_d = len(fake)
    loss = fake[0][0].new_zeros((), dtype=torch.float32)
    for fake_scale, real_scale in zip(fake, real):
        layer_weight = 4.0 / (len(fake_scale) - 1)  # a scale yields n_layers + 2 outputs
        for f, r in zip(fake_scale[:-1], real_scale[:-1]):
            loss = loss + layer_weight / num_d * F.l1_loss(f.float(), r.detach().float())
    return loss


def ssim(x: torch.Tensor, y: torch.Tensor, win_size: int = 7) -> torch.Tensor:
    """Mean SSIM of images (B, C, H, W) in [-1, 1], differentiable, over each image and
    channel, then over the batch: scikit-image's ``structural_similarity`` with its defaults
    (a ``win_size`` uniform window, sample covariances, K1 0.01, K2 0.03, the mean over the
    pixels whose window lies inside the image), which edn.evaluation scores faces with.
    Computed in fp32."""
    # In [0, 1] (data range 1): the luminance term is not shift invariant.
    x, y = (x.float() + 1) / 2, (y.float() + 1) / 2
    c1, c2 = 0.01**2, 0.03**2
    n = win_size * win_size
    both = torch.cat([x, y, x * x, y * y, x * y], 1)
    mx, my, xx, yy, xy = F.avg_pool2d(both, win_size, stride=1).chunk(5, 1)
    unbiased = n / (n - 1)
    vx, vy, cov = unbiased * (xx - mx * mx), unbiased * (yy - my * my), unbiased * (xy - mx * my)
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3)).mean()


def flow_warp_loss(previous: torch.Tensor, current: torch.Tensor, flow: torch.Tensor,
                   followed: torch.Tensor) -> torch.Tensor:
    """vid2vid's flow-warp loss: mean L1 between ``current`` (B, C, H, W) and ``previous``
    moved onto it by the real frames' ``flow`` (B, H, W, 2), each pixel's place (x, y) in
    the previous frame, over the pixels ``followed`` (B, 1, H, W) marks; computed in fp32."""
    h, w = previous.shape[-2:]
    grid = torch.stack([flow[..., 0] * (2 / (w - 1)) - 1, flow[..., 1] * (2 / (h - 1)) - 1], -1)
    warped = F.grid_sample(previous.float(), grid.float(), mode="bilinear", padding_mode="border",
                           align_corners=True)
    weight = followed.float()
    error = ((current.float() - warped).abs() * weight).sum()
    return error / (weight.sum() * current.shape[1]).clamp(min=1)


def face_l1(fake: torch.Tensor, real: torch.Tensor, keypoints: np.ndarray,
            side: int | None = None) -> torch.Tensor:
    """Mean L1 between ``fake`` and ``real`` (B, C, H, W) over each frame's face box (the face
    stage's crop of ``keypoints`` (B, K, 3), side ``side``); frames without a face in the image
    do not count, and a batch without any face gives 0."""
    size = (fake.shape[-2], fake.shape[-1])
    boxes = [face_crop_box(k, size, side) for k in keypoints]
    kept = [i for i, box in enumerate(boxes) if box is not None]
    if not kept:
        return fake.new_zeros((), dtype=torch.float32)
    faces = [boxes[i] for i in kept]
    return (crop(fake[kept].float(), faces) - crop(real[kept].float(), faces)).abs().mean()


class VGG19Features(nn.Module):
    """Frozen VGG19 returning relu1_1 .. relu5_1 for images in [-1, 1]."""

    def __init__(self, state_dict: dict[str, torch.Tensor]) -> None:
        super().__init__()
        from torchvision.models import vgg19

        features = vgg19(weights=None).features[: _VGG_SLICE_ENDS[-1]]
        features.load_state_dict(
            {k.removeprefix("features."): v for k, v in state_dict.items()
             if k.startswith("features.") and int(k.split(".")[1]) < _VGG_SLICE_ENDS[-1]}
        )
        starts = (0,) + _VGG_SLICE_ENDS[:-1]
        self.slices = nn.ModuleList(features[a:b] for a, b in zip(starts, _VGG_SLICE_ENDS))
        self.requires_grad_(False)
        self.eval()
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = ((image + 1) / 2 - self.mean) / self.std
        out = []
        for block in self.slices:
            x = block(x)
            out.append(x)
        return out


class VGGLoss(nn.Module):
    """Perceptual loss: sum over VGG19 layers of weight_l * L1(phi_l(fake), phi_l(real))."""

    def __init__(self, features: VGG19Features) -> None:
        super().__init__()
        self.features = features

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        # One batched pass for both images halves the per-call overhead.
        both = self.features(torch.cat([fake, real.detach()]))
        loss = fake.new_zeros((), dtype=torch.float32)
        for w, f in zip(_VGG_LAYER_WEIGHTS, both):
            f_fake, f_real = f.float().chunk(2)
            loss = loss + w * F.l1_loss(f_fake, f_real.detach())
        return loss

    @classmethod
    def from_weights_dir(cls, weights_dir: Path) -> "VGGLoss | None":
        """The loss if `weights_dir/vgg19-dcbb9e9d.pth` exists, else None (and a log line
        saying the perceptual loss is off). Never downloads anything; a file that is not
        torchvision's VGG19 is a CheckpointError."""
        path = Path(weights_dir) / VGG19_FILE
        if not path.is_file():
            log.warning("VGG perceptual loss OFF: %s not found (nothing is downloaded)", path)
            return None
        log.info("VGG perceptual loss ON: weights from %s", path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            return cls(VGG19Features(state))
        except (RuntimeError, KeyError, EOFError, ValueError, pickle.UnpicklingError) as e:
            raise CheckpointError(f"{path} is not torchvision's VGG19 weights "
                                  f"({str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__})") from None

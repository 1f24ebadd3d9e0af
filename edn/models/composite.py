"""Person-over-background compositing around a pix2pixHD generator.

The wrapped generator outputs four channels: a person image and a mask logit. The frame is
``mask * person + (1 - mask) * plate`` where the plate is the target video's background
(per-pixel median of person-free pixels, ``edn.preparation.target_set.background_plate``). With a static
camera the background is then exact instead of re-synthesised every frame, and the
generator spends its capacity on the person; the mask is supervised with the person
segmentation of the training frames.

Given a ``plate`` of its own size, the generator composites over that instead: the plate's
crop under a window that follows the person (edn.core.window), so only the window is generated.
"""
from __future__ import annotations

import torch
from torch import nn


class CompositeGenerator(nn.Module):
    def __init__(self, base: nn.Module, plate: torch.Tensor) -> None:
        """base: a generator with output_nc = 4; plate: (3, H, W) in [-1, 1]."""
        super().__init__()
        if getattr(base, "output_nc", 4) != 4:
            raise ValueError("the composited generator needs 4 output channels (RGB + mask)")
        self.base = base
        self.register_buffer("plate", plate.detach().clone().float())
        self.output_nc = 3

    def forward_with_mask(self, x: torch.Tensor, plate: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """(frame (B, 3, H, W) in [-1, 1], person mask (B, 1, H, W) in [0, 1]) over the
        whole plate, or over ``plate`` (B, 3, H, W), the plate's crops under x's windows."""
        out = self.base(x)
        # The base ends in tanh: the mask is its 4th channel mapped from [-1, 1] to [0, 1].
        person, mask = out[:, :3], out[:, 3:4].add(1).mul(0.5)
        if plate is None:
            plate = self.plate.expand(out.shape[0], -1, -1, -1)
        plate = plate.to(out.dtype)
        return mask * person + (1 - mask) * plate, mask

    def forward(self, x: torch.Tensor, plate: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_with_mask(x, plate)[0]

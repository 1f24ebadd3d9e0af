"""LPIPS (Zhang et al. 2018) for the evaluation, only with an AlexNet the user brings.

The lpips package ships its learned linear heads (v0.1, a few KB). Its AlexNet trunk would
come from torchvision's download, which this project never does: the trunk is loaded from
``weights/alexnet-owt-7be5be79.pth`` (torchvision's ImageNet AlexNet file) when present, and
the evaluation reports LPIPS as skipped otherwise.
"""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import lpips
import numpy as np
import torch

from edn.core.errors import CheckpointError
from edn.core.tensors import to_tensor

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


class LPIPS:
    """LPIPS distance (lower is closer) with the given torchvision AlexNet state dict."""

    def __init__(self, alexnet_state: dict[str, torch.Tensor], device: torch.device) -> None:
        with warnings.catch_warnings():  # torchvision's notice about lpips' `pretrained=False`
            warnings.simplefilter("ignore")
            # pnet_rand: a random trunk (no download), replaced below; pretrained: the
            # package's own linear heads.
            self.model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
        trunk = {}
        for slice_name, block in self.model.net.named_children():
            for index, _ in block.named_children():  # lpips keeps AlexNet's feature indices
                for p in ("weight", "bias"):
                    if f"features.{index}.{p}" in alexnet_state:
                        trunk[f"{slice_name}.{index}.{p}"] = alexnet_state[f"features.{index}.{p}"]
        try:
            self.model.net.load_state_dict(trunk)
        except RuntimeError as e:
            raise CheckpointError(f"not torchvision's AlexNet weights: {e}") from None
        self.model.eval().to(device)
        self.device = device

    @classmethod
    def from_weights_dir(cls, weights_dir: Path, device: torch.device) -> tuple["LPIPS | None", str]:
        """(the metric, a line for the report) if ``weights_dir/alexnet-owt-7be5be79.pth``
        exists, else (None, why it is skipped). Never downloads anything."""
        path = Path(weights_dir) / ALEXNET_FILE
        if not path.is_file():
            return None, f"skipped: no {path} (torchvision's AlexNet; nothing is downloaded)"
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, pickle.UnpicklingError, EOFError) as e:
            raise CheckpointError(f"{path} is not a PyTorch weights file: {e}") from None
        if not isinstance(state, dict):
            raise CheckpointError(f"{path} is not a state dict")
        return cls(state, device), f"LPIPS v0.1, AlexNet trunk from {path}"

    @torch.no_grad()
    def __call__(self, preds: np.ndarray, reals: np.ndarray, batch: int = 16) -> float:
        """Mean LPIPS over frames of two uint8 (N, h, w, 3) arrays."""
        total = 0.0
        for i in range(0, len(preds), batch):
            a = to_tensor(preds[i:i + batch]).to(self.device)
            b = to_tensor(reals[i:i + batch]).to(self.device)
            total += float(self.model(a, b).sum())
        return total / len(preds)

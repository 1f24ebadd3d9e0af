"""The CMU OpenPose COCO body network (Cao et al., 2017) as a PyTorch module, and one loader
for the two converted weight files users have.

Architecture: VGG19's first ten 3x3 convolutions with three 2x2 max-pools (stride 8), then
conv4_3_CPM (512 -> 256) and conv4_4_CPM (256 -> 128): the 128-channel features F. Stage 1
has two branches, L1 (38 part-affinity-field channels) and L2 (19 heatmap channels: 18
parts and the background): three 3x3 128-channel convolutions, a 1x1 to 512, a 1x1 to the
branch's output. Stages 2-6 each take concat(L1, L2, F) = 185 channels through five 7x7
128-channel convolutions, a 1x1 and a final 1x1 per branch. A ReLU follows every
convolution except the last of each branch (Hzzone's port lists Mconv7_stage6_L1 twice
among its no-ReLU layers, so a ReLU follows the final heatmap head there; not here).

The module's parameters carry CMU's Caffe layer names (``conv1_1.weight``,
``Mconv7_stage6_L2.bias``), which is the key format of ``body_pose_model.pth``;
``pose_model.pth`` (tensorboy) numbers the same layers inside Sequentials (``model0.0.weight``,
``model1_1.8.bias``, ``model2_1.12.weight``) and is renamed on loading.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from edn.core.errors import CheckpointError

NUM_HEATMAPS = 19  # 18 COCO parts + background
NUM_PAFS = 38      # 19 limbs x (x, y)
FEATURES = 128
STRIDE = 8
PARAMETERS = 52_311_446
TENSORS = 184

# The backbone, in order: a conv name (in, out channels, kernel 3) or "pool".
_BACKBONE: tuple[tuple[str, int, int] | str, ...] = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64), "pool",
    ("conv2_1", 64, 128), ("conv2_2", 128, 128), "pool",
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256), "pool",
    ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3_CPM", 512, 256), ("conv4_4_CPM", 256, 128),
)
_BRANCH_OUT = {1: NUM_PAFS, 2: NUM_HEATMAPS}


def _stage_layers(stage: int, branch: int) -> list[tuple[str, int, int, int]]:
    """(name, in, out, kernel) of one branch of one stage, in order."""
    out = _BRANCH_OUT[branch]
    if stage == 1:
        names = [f"conv5_{k}_CPM_L{branch}" for k in range(1, 6)]
        shapes = [(FEATURES, 128, 3), (128, 128, 3), (128, 128, 3), (128, 512, 1), (512, out, 1)]
    else:
        names = [f"Mconv{k}_stage{stage}_L{branch}" for k in range(1, 8)]
        first = NUM_PAFS + NUM_HEATMAPS + FEATURES
        shapes = [(first, 128, 7)] + [(128, 128, 7)] * 4 + [(128, 128, 1), (128, out, 1)]
    return [(n, *s) for n, s in zip(names, shapes)]


def layer_shapes() -> dict[str, tuple[int, ...]]:
    """Every tensor of the network, by Caffe name, with its shape (184 tensors)."""
    shapes: dict[str, tuple[int, ...]] = {}
    convs = [c for c in _BACKBONE if c != "pool"]
    convs = [(n, i, o, 3) for n, i, o in convs]  # type: ignore[misc]
    for stage in range(1, 7):
        for branch in (1, 2):
            convs += _stage_layers(stage, branch)
    for name, cin, cout, k in convs:
        shapes[f"{name}.weight"] = (cout, cin, k, k)
        shapes[f"{name}.bias"] = (cout,)
    return shapes


class OpenPoseBody(nn.Module):
    """Input: (N, 3, H, W) BGR in [-0.5, 0.5) (``preprocess``), H and W multiples of 8.
    Output: (PAFs (N, 38, H/8, W/8), heatmaps (N, 19, H/8, W/8)) of the last stage."""

    def __init__(self) -> None:
        super().__init__()
        self._backbone: list[str] = []
        for item in _BACKBONE:
            if item == "pool":
                self._backbone.append("pool")
            else:
                name, cin, cout = item  # type: ignore[misc]
                self.add_module(name, nn.Conv2d(cin, cout, 3, padding=1))
                self._backbone.append(name)
        self._branches: dict[tuple[int, int], list[str]] = {}
        for stage in range(1, 7):
            for branch in (1, 2):
                names = []
                for name, cin, cout, k in _stage_layers(stage, branch):
                    self.add_module(name, nn.Conv2d(cin, cout, k, padding=k // 2))
                    names.append(name)
                self._branches[stage, branch] = names

    def _branch(self, x: torch.Tensor, stage: int, branch: int) -> torch.Tensor:
        names = self._branches[stage, branch]
        for name in names[:-1]:
            x = F.relu(getattr(self, name)(x), inplace=True)
        return getattr(self, names[-1])(x)  # no ReLU after a branch's last convolution

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for name in self._backbone:
            x = F.max_pool2d(x, 2, 2) if name == "pool" else F.relu(getattr(self, name)(x), inplace=True)
        features = x
        paf, heat = self._branch(features, 1, 1), self._branch(features, 1, 2)
        for stage in range(2, 7):
            x = torch.cat([paf, heat, features], 1)
            paf, heat = self._branch(x, stage, 1), self._branch(x, stage, 2)
        return paf, heat


def preprocess(image_bgr: torch.Tensor) -> torch.Tensor:
    """uint8 or float BGR values 0-255 -> the network's input scale x / 256 - 0.5."""
    return image_bgr.float() / 256.0 - 0.5


def _tensorboy_names() -> dict[str, str]:
    """tensorboy's Sequential keys (without .weight/.bias) -> Caffe layer names. Each
    Sequential holds conv, ReLU, conv, ReLU, ... (and pools in model0), so a conv's index
    counts every module before it; a branch's last conv has no ReLU after it."""
    names: dict[str, str] = {}
    index = 0
    for item in _BACKBONE:
        if item == "pool":
            index += 1
        else:
            names[f"model0.{index}"] = item[0]  # type: ignore[index]
            index += 2
    for stage in range(1, 7):
        for branch in (1, 2):
            for k, (name, *_shape) in enumerate(_stage_layers(stage, branch)):
                names[f"model{stage}_{branch}.{2 * k}"] = name
    return names


_TENSORBOY = _tensorboy_names()
_TENSORBOY_KEY = re.compile(r"^(model\d(?:_\d)?\.\d+)\.(weight|bias)$")


def canonical_state_dict(raw: Mapping[str, object], source: str = "the weights file") -> dict[str, torch.Tensor]:
    """Either key format (with or without a ``module.`` prefix) -> Caffe-named tensors, every
    one of the 184 checked for presence and shape. Raises CheckpointError naming what is
    missing, misshapen or foreign."""
    out: dict[str, torch.Tensor] = {}
    foreign: list[str] = []
    for key, value in raw.items():
        name = key[len("module."):] if key.startswith("module.") else key
        m = _TENSORBOY_KEY.match(name)
        if m and m.group(1) in _TENSORBOY:
            name = f"{_TENSORBOY[m.group(1)]}.{m.group(2)}"
        if not isinstance(value, torch.Tensor):
            foreign.append(key)
            continue
        out[name] = value
    expected = layer_shapes()
    missing = [k for k in expected if k not in out]
    unknown = [k for k in out if k not in expected] + foreign
    if missing and len(missing) == len(expected):
        raise CheckpointError(f"{source} is not an OpenPose COCO body model: none of its "
                              f"{len(raw)} entries is one of the network's {len(expected)} "
                              f"tensors (first key: {next(iter(raw), 'none')!r})")
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CheckpointError(f"{source} lacks {len(missing)} of the network's "
                              f"{len(expected)} tensors: {', '.join(missing[:3])}{more}")
    if unknown:
        raise CheckpointError(f"{source} has {len(unknown)} entries that are not part of the "
                              f"OpenPose COCO body network, e.g. {unknown[0]!r}")
    for name, shape in expected.items():
        if tuple(out[name].shape) != shape:
            raise CheckpointError(f"{source}: {name} has shape {tuple(out[name].shape)}, "
                                  f"the network's is {shape}")
    return {k: out[k].float() for k in expected}


def load_openpose(path: str | Path) -> OpenPoseBody:
    """The network with the weights of ``path`` (either converted format), in eval mode."""
    path = Path(path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no OpenPose weights file at {path}") from None
    except Exception as e:  # a truncated or non-torch file
        raise CheckpointError(f"{path} is not a readable PyTorch weights file "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    if isinstance(raw, Mapping) and isinstance(raw.get("state_dict"), Mapping):
        raw = raw["state_dict"]
    if not isinstance(raw, Mapping):
        raise CheckpointError(f"{path} holds a {type(raw).__name__}, not a state dict of tensors")
    net = OpenPoseBody()
    net.load_state_dict(canonical_state_dict(raw, str(path)))
    return net.eval()

"""Configs as data: dataclasses saved as JSON beside every checkpoint (config.json), read back
with every key and type checked. The named presets are in edn.training.presets."""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

from edn.core.errors import ConfigError
from edn.core.io import atomic_write_text


@dataclass
class GeneratorConfig:
    """pix2pixHD generator hyper-parameters. `ngf` is the global generator's width in every
    stage; a local enhancer n levels up runs at ngf / 2**n (paper: 64 global, 32 local)."""

    label_nc: int = 3  # the drawn skeleton is an RGB image
    output_nc: int = 3
    ngf: int = 64
    n_downsampling: int = 4
    n_blocks: int = 9
    n_blocks_local: int = 3
    # Person over the target's background plate: G outputs RGB + a mask, the frame is
    # mask * person + (1 - mask) * plate (edn.models.composite).
    composite: bool = False
    # With composite: G draws only a fixed-size window that follows the person, pasted into
    # the plate; the window's size is set from the training skeletons (edn.core.window).
    person_window: bool = False
    # EDN's temporal smoothing: G sees its previous output beside the label map and D judges
    # consecutive pairs. Off: plain frame-by-frame pix2pixHD (the ablation's first row).
    temporal: bool = True

    @property
    def input_nc(self) -> int:
        # Temporal smoothing: the label map is stacked with the previous output frame.
        return self.label_nc + (self.output_nc if self.temporal else 0)


@dataclass
class DiscriminatorConfig:
    ndf: int = 64
    n_layers: int = 3
    num_d: int = 2
    # Consecutive frames D judges at once when temporally smoothed: EDN's 2, or 3 (G then
    # makes three frames in a row each training step).
    frames: int = 2


@dataclass
class FaceConfig:
    """EDN's face GAN (edn.training.face_stage): a small global generator adding a residual to the
    face crop, and a single-scale PatchGAN on (label crop, face crop)."""

    ngf: int = 32
    n_downsampling: int = 2
    n_blocks: int = 3
    ndf: int = 32
    n_layers: int = 3
    num_d: int = 1
    # Training only (edn.training.face_stage.degraded_faces): the body's face crop moved by up
    # to this fraction of the face box's side in x and y, and blurred by a Gaussian of sigma up
    # to this fraction of it, before the residual generator sees it.
    train_shift: float = 0.0
    train_blur: float = 0.0


@dataclass
class LossConfig:
    feat_match: float = 10.0  # discriminator feature matching, pix2pixHD's lambda_feat
    vgg: float = 10.0  # used only when weights/vgg19-dcbb9e9d.pth exists
    l1: float = 0.0  # optional pixel L1 to the real frame
    mask: float = 0.0  # L1 of the composite's mask to the person segmentation
    # Pixel L1 to the real frame over frame t+1's face box (the face stage's crop), in the body
    # stage. The face box is 1/16 of a 256-px frame and the face less, so the frame-wide L1
    # all but ignores it.
    face_l1: float = 0.0
    # 1 - SSIM (edn.models.losses.ssim, the measure faces are scored with) of the face stage's
    # refined crop to the real one; the face stage only.
    ssim: float = 0.0
    # vid2vid's flow-warp loss in the body stage: L1 between generated frame t+1 and generated
    # frame t moved by the real frames' optical flow, over the pixels the flow follows
    # (edn.models.losses.flow_warp_loss).
    warp: float = 0.0
    # Its schedule: the weight grows linearly from 0 to ``warp`` over this fraction of the
    # run's planned iterations (0: the full weight from the start).
    warp_ramp: float = 0.0


@dataclass
class DataConfig:
    prepared_size: int = 512  # side of the square prepared set (docs/formats.md)
    plate_frames: int | None = None  # background plate from the last N frames (None: all;
    # at most 512 of them, spread: edn.preparation.target_set.plate_sample)
    # The keypoint parts drawn in the label maps (edn.core.keypoints.PARTS). A new run takes
    # those of its target set (main/train.py --body-only: the body alone); runs saved before
    # faces and hands were drawn have no such key and draw the body.
    parts: list[str] = field(default_factory=lambda: ["body"])


@dataclass
class StageConfig:
    """One training stage: the resolution and whether a local enhancer is added."""

    width: int
    height: int
    n_local_enhancers: int  # 0: global generator only
    iterations: int  # optimiser steps on frame pairs
    decay_iterations: int  # the last ones decay the learning rate linearly to zero
    # The face GAN stage: the body generator of the stage before (same resolution and
    # enhancers) is frozen and a face residual generator is trained (edn.training.face_stage).
    face: bool = False


@dataclass
class TrainConfig:
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 1
    fast: bool = True  # bf16 autocast on CPU (when it has native bf16), AMP on CUDA
    # Off: measured slower here with bf16 (global G ngf 64 at 256x256, 2 threads: inference
    # 480 vs 398 ms, forward+backward on par); oneDNN's blocked NCHW path already vectorises.
    channels_last: bool = False
    compile: bool = False  # torch.compile G's training passes (edn.training.pix2pixhd_stage)
    # Pair sampling: the quarter of the pairs whose skeleton moves the most (edn.core.keypoints
    # .joint_speed) comes this many times an epoch, the others once.
    fast_pairs: int = 1
    stages: list[StageConfig] = field(default_factory=list)


@dataclass
class Config:
    name: str
    generator: GeneratorConfig
    discriminator: DiscriminatorConfig
    loss: LossConfig
    train: TrainConfig
    data: DataConfig = field(default_factory=DataConfig)
    face: FaceConfig = field(default_factory=FaceConfig)

    def to_json(self) -> str:
        return json.dumps({"format_version": CONFIG_VERSION, **dataclasses.asdict(self)},
                          indent=2) + "\n"

    def save(self, path: str | Path) -> None:
        """Written atomically: a reader (a resumed run, beside a checkpoint) never sees half."""
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        """A config JSON as ``save`` writes it, checked: an unknown key, a value of the wrong
        type or a newer format is a ConfigError naming it. Files from before the format
        version (no "format_version") load; keys they lack take their defaults."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"no config file {path}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{path} is not a config JSON: {e}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path} is not a config JSON object")
        version = raw.pop("format_version", 0)
        if not isinstance(version, int) or version > CONFIG_VERSION:
            raise ConfigError(f"{path} has config format {version!r}; this edn reads up to "
                              f"{CONFIG_VERSION}")
        try:
            return _build(cls, raw, "")
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None


CONFIG_VERSION = 1


def _build(kind: type, raw: object, where: str):
    """An instance of the dataclass ``kind`` from JSON ``raw``, every key and type checked."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'the config'} must be an object, not {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key {_join(where, unknown[0])!r} (known: {', '.join(fields)})")
    hints = typing.get_type_hints(kind)
    values = {}
    for name, f in fields.items():
        if name in raw:
            values[name] = _value(hints[name], raw[name], _join(where, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key {_join(where, name)!r}")
    return kind(**values)


def _value(hint: object, value: object, where: str):
    """``value`` checked against the type ``hint`` (a dataclass, list[...], X | None, bool,
    int, float, str); ints are accepted for floats."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)  # type: ignore[arg-type]
    args = typing.get_args(hint)
    if typing.get_origin(hint) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, not {type(value).__name__}")
        return [_value(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if type(None) in args:  # X | None
        if value is None:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _value(hint, value, where)
    ok = (isinstance(value, bool) if hint is bool
          else isinstance(value, (int, float)) and not isinstance(value, bool) if hint is float
          else isinstance(value, hint) and not isinstance(value, bool) if hint is int
          else isinstance(value, hint))  # type: ignore[arg-type]
    if not ok:
        raise ConfigError(f"{where} must be {getattr(hint, '__name__', hint)}, not "
                          f"{type(value).__name__} {value!r}")
    return float(value) if hint is float else value  # type: ignore[arg-type]


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name

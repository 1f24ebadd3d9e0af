"""Configs as data: dataclasses saved as JSON beside every checkpoint, plus named presets."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path


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

    @property
    def input_nc(self) -> int:
        # Temporal smoothing: the label map is stacked with the previous output frame.
        return self.label_nc + self.output_nc


@dataclass
class DiscriminatorConfig:
    ndf: int = 64
    n_layers: int = 3
    num_d: int = 2


@dataclass
class LossConfig:
    feat_match: float = 10.0  # discriminator feature matching, pix2pixHD's lambda_feat
    vgg: float = 10.0  # used only when weights/vgg19-dcbb9e9d.pth exists
    l1: float = 0.0  # optional pixel L1 to the real frame


@dataclass
class StageConfig:
    """One training stage: the resolution and whether a local enhancer is added."""

    width: int
    height: int
    n_local_enhancers: int  # 0: global generator only
    iterations: int  # optimiser steps on frame pairs
    decay_iterations: int  # the last ones decay the learning rate linearly to zero


@dataclass
class TrainConfig:
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 1
    fast: bool = True  # bf16 autocast on CPU, AMP on CUDA
    channels_last: bool = False
    stages: list[StageConfig] = field(default_factory=list)


@dataclass
class Config:
    name: str
    generator: GeneratorConfig
    discriminator: DiscriminatorConfig
    loss: LossConfig
    train: TrainConfig

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        raw = json.loads(Path(path).read_text())
        train = dict(raw["train"])
        train["stages"] = [StageConfig(**s) for s in train["stages"]]
        return cls(
            name=raw["name"],
            generator=GeneratorConfig(**raw["generator"]),
            discriminator=DiscriminatorConfig(**raw["discriminator"]),
            loss=LossConfig(**raw["loss"]),
            train=TrainConfig(**train),
        )


def paper() -> Config:
    """Everybody Dance Now as published: pix2pixHD global generator at 512x256, then a local
    enhancer at 1024x512 (global ngf 64, enhancer 32). The iteration counts are pix2pixHD's
    100 + 100 epochs over a 10,000-frame target video; scale them to your video."""
    return Config(
        name="paper",
        generator=GeneratorConfig(ngf=64, n_downsampling=4, n_blocks=9, n_blocks_local=3),
        discriminator=DiscriminatorConfig(ndf=64, n_layers=3, num_d=2),
        loss=LossConfig(feat_match=10.0, vgg=10.0, l1=0.0),
        train=TrainConfig(
            stages=[
                StageConfig(512, 256, 0, iterations=2_000_000, decay_iterations=1_000_000),
                StageConfig(1024, 512, 1, iterations=2_000_000, decay_iterations=1_000_000),
            ]
        ),
    )


PRESETS = {"paper": paper}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name]()

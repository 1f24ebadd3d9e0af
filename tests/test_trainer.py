import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edn.core.errors import ConfigError
from edn.core.paths import CHECKPOINT
from edn.core.tensors import to_tensor
from edn.core.window import window_box
from edn.models.losses import flow_warp_loss
from edn.training.data import batch_indices
from edn.training.trainer import Trainer, lr_at
from tests.helpers.tiny_training import make_trainer, tiny_config, tiny_target

ROOT = Path(__file__).resolve().parents[1]


def weights(trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.model.state_dict()["generator"].items()}


def test_lr_schedule_is_constant_then_linear_to_zero():
    assert [lr_at(i, 10, 4, 1.0) for i in (0, 5, 6, 8, 10)] == [1.0, 1.0, 1.0, 0.5, 0.0]


def test_interrupted_and_resumed_run_ends_with_identical_weights(tmp_path):
    straight = make_trainer(tmp_path / "a")
    straight.train(progress=False, save_every=100)
    assert straight.iteration == 6

    first = make_trainer(tmp_path / "b")
    for _ in range(3):
        first.step()
    first.save()
    torch.manual_seed(1234)  # a new process would start with other RNG state
    resumed = make_trainer(tmp_path / "b")
    assert resumed.resume() and resumed.iteration == 3
    resumed.train(progress=False, save_every=100)

    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ"
    assert (tmp_path / "b" / CHECKPOINT).is_file() and (tmp_path / "b" / "config.json").is_file()


def test_training_lowers_the_reconstruction_error(tmp_path):
    trainer = make_trainer(tmp_path / "r")
    batch = trainer.batch(0)
    before = trainer.model.step(batch)["g_l1"].item()
    trainer.planned = 40
    trainer.train(progress=False, save_every=100)
    after = trainer.model.step(batch)["g_l1"].item()
    assert after < 0.85 * before  # measured: 3.67 -> 2.76


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_matches_one_process_with_the_same_global_batch(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                        "--master_port", str(free_port()), "-m", "tests.helpers.tiny_training",
                        str(tmp_path), "2"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rank0 = torch.load(tmp_path / "rank0.pt")
    rank1 = torch.load(tmp_path / "rank1.pt")
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), "ranks diverged"

    single = make_trainer(tmp_path / "single", tiny_config(fast=False, batch_size=2))
    for _ in range(2):
        single.step()
    ref = single.model.generator.state_dict()
    worst = max((rank0[k].float() - ref[k].float()).abs().max().item() for k in ref)
    assert worst < 1e-4, worst


def test_local_enhancer_stage_starts_from_the_trained_global_stage(tmp_path):
    first = make_trainer(tmp_path / "s")
    for _ in range(2):
        first.step()
    second = make_trainer(tmp_path / "s", stage=1)
    second.start_from_stage(first.state())
    trained = first.model.generator.base.state_dict()
    trunk = second.model.generator.base.global_trunk.state_dict()
    assert trunk and all(torch.equal(v, trained[f"model.{k}"]) for k, v in trunk.items())
    losses = second.step()  # the enhancer trains at twice the resolution
    assert second.model.generate(second.batch(0).label_t, second.batch(0).real_t).shape[-1] == 64
    assert all(torch.isfinite(v) for v in losses.values())


def test_time_plan_ignores_the_first_steps_compile_time(tmp_path):
    import time

    trainer = make_trainer(tmp_path / "p")
    calls = []

    def fake_step():
        time.sleep(0.5 if not calls else 0.01)  # the first step compiles
        calls.append(1)
        trainer.iteration += 1
        return {}

    trainer.step = fake_step
    trainer.plan_minutes(3 / 60)  # 3 s: ~2.4 s left after the probe at 10 ms a step
    assert trainer.planned > 150, trainer.planned  # counting the compile would plan ~27


def test_without_temporal_smoothing_g_sees_only_the_label_map(tmp_path):
    trainer = make_trainer(tmp_path / "n", tiny_config(temporal=False))
    g, d = trainer.model.generator.base, trainer.model.discriminator
    first_conv = next(m for m in g.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.in_channels == 3  # the label map alone
    assert d.scales[0].layers[0][0].in_channels == 6  # one (label, frame), not the pair
    losses = trainer.step()
    assert all(torch.isfinite(v) for v in losses.values())
    batch = trainer.batch(0)
    a = trainer.model.generate(batch.label_t, torch.zeros_like(batch.real_t))
    b = trainer.model.generate(batch.label_t, batch.real_t)
    assert torch.equal(a, b)  # the previous frame is not an input


def test_flow_warp_pairs_carry_the_real_frames_flow(tmp_path):
    """With a flow-warp weight each pair holds the flow from frame t+1 back to frame t: frame
    t moved by it is frame t+1 where the flow follows, and the term is trained."""
    cfg = tiny_config()
    cfg.loss.warp = 10.0
    trainer = make_trainer(tmp_path / "run", cfg)
    pair = trainer.batch(0)
    assert pair.flow is not None and pair.followed is not None
    assert pair.flow.shape == (1, 32, 32, 2) and pair.followed.shape == (1, 1, 32, 32)
    assert pair.followed.mean() > 0.5
    moved = flow_warp_loss(pair.real_t, pair.real_t1, pair.flow, pair.followed)
    grid = torch.stack(torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="xy"), -1)[None]
    unmoved = flow_warp_loss(pair.real_t, pair.real_t1, grid, pair.followed)
    # The square walks 2 px a frame; the flow follows it (what is left is the sensor noise).
    assert moved < unmoved / 2
    assert "g_warp" in trainer.step()
    assert make_trainer(tmp_path / "plain").batch(0).flow is None  # weight 0: no flow computed


def test_fast_pairs_come_more_often_an_epoch(tmp_path):
    cfg = tiny_config()
    cfg.train.fast_pairs = 3
    target = tiny_target()
    target.keypoints[5:, :, 0] += 6  # the skeleton jumps between frames 4 and 5
    trainer = Trainer(cfg, target, tmp_path / "run", torch.device("cpu"), plate=target.plate())
    # 7 pairs; the fastest quarter is pair 4 alone, there 3 times an epoch.
    assert sorted(trainer.pairs.tolist()) == [0, 1, 2, 3, 4, 4, 4, 5, 6]
    assert sorted(make_trainer(tmp_path / "plain").pairs.tolist()) == list(range(7))


def test_the_flow_warp_weight_ramps_up_over_its_share_of_the_run(tmp_path):
    cfg = tiny_config()
    cfg.loss.warp, cfg.loss.warp_ramp = 10.0, 0.5
    trainer = make_trainer(tmp_path / "run", cfg)
    trainer.planned = 8
    weights = []
    for _ in range(6):
        trainer.step()
        weights.append(trainer.model.weights["g_warp"])
    # Iteration i of 8 is progress i / 8: the weight reaches 10 at half the run.
    assert weights == [0.0, 2.5, 5.0, 7.5, 10.0, 10.0]


def test_a_three_frame_discriminator_trains_on_three_frames_in_a_row(tmp_path):
    cfg = tiny_config()
    cfg.discriminator.frames = 3
    trainer = make_trainer(tmp_path / "run", cfg, window=(16, 24))
    assert trainer.model.discriminator.scales[0].layers[0][0].in_channels == 18  # 3 labels, 3 frames
    assert sorted(trainer.pairs.tolist()) == list(range(6))  # 8 frames: 6 runs of three
    pair = trainer.batch(0)
    assert pair.label_t2 is not None and pair.real_t2 is not None and pair.mask_t2 is not None
    assert pair.real_t2.shape == pair.real_t.shape == (1, 3, 24, 16)
    # Frame t+2 cut with the same window as frames t and t+1.
    i = int(trainer.pairs[batch_indices(0, 1, len(trainer.pairs), trainer.seed)[0]])
    x0, y0, x1, y1 = window_box(trainer.origins[i], (16, 24))
    expected = to_tensor(trainer.target.frames([i + 2])[:, y0:y1, x0:x1])
    assert torch.equal(pair.real_t2, expected)
    losses = trainer.step()
    assert all(torch.isfinite(v) for v in losses.values())
    cfg.discriminator.frames = 4
    with pytest.raises(ConfigError, match="2 or 3"):
        make_trainer(tmp_path / "bad", cfg)

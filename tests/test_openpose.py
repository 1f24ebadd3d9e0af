"""The OpenPose network, its weight loader and its backend, all without the real weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edn.core.errors import CheckpointError
from pose_detector.backends.openpose import (BF16_TOLERANCE, OpenPoseDetector, OpenPoseNet,
                                             parse_scales, pick_precision)
from pose_detector.openpose.maps import render_ideal_maps, synthetic_people
from pose_detector.openpose.network import (PARAMETERS, STRIDE, TENSORS, OpenPoseBody,
                                            layer_shapes, load_openpose)
from pose_detector.openpose.paf import find_peaks, PafParams


@pytest.fixture(scope="module")
def net() -> OpenPoseBody:
    torch.manual_seed(0)
    return OpenPoseBody().eval()


def test_parameter_count_and_every_layer_shape(net):
    assert sum(p.numel() for p in net.parameters()) == PARAMETERS == 52_311_446
    state = net.state_dict()
    assert len(state) == TENSORS == 184
    assert {k: tuple(v.shape) for k, v in state.items()} == layer_shapes()
    shapes = layer_shapes()
    assert shapes["conv1_1.weight"] == (64, 3, 3, 3)
    assert shapes["conv4_2.weight"] == (512, 512, 3, 3)
    assert shapes["conv4_3_CPM.weight"] == (256, 512, 3, 3)
    assert shapes["conv4_4_CPM.weight"] == (128, 256, 3, 3)
    assert shapes["conv5_4_CPM_L1.weight"] == (512, 128, 1, 1)
    assert shapes["conv5_5_CPM_L1.weight"] == (38, 512, 1, 1)
    assert shapes["conv5_5_CPM_L2.weight"] == (19, 512, 1, 1)
    assert shapes["Mconv1_stage2_L1.weight"] == (128, 185, 7, 7)
    assert shapes["Mconv5_stage4_L2.weight"] == (128, 128, 7, 7)
    assert shapes["Mconv6_stage6_L1.weight"] == (128, 128, 1, 1)
    assert shapes["Mconv7_stage6_L2.weight"] == (19, 128, 1, 1)


def test_outputs_have_the_stride_and_no_relu_after_the_heads(net):
    """Hzzone's port puts a ReLU after the final heatmap head; the heads here stay linear."""
    probe = OpenPoseBody().eval()
    probe.load_state_dict(net.state_dict())
    with torch.no_grad():
        for name in ("Mconv7_stage6_L1", "Mconv7_stage6_L2"):
            getattr(probe, name).weight.zero_()
            getattr(probe, name).bias.fill_(-0.25)
        paf, heat = probe(torch.zeros(1, 3, 40, 64))
    assert paf.shape == (1, 38, 5, 8) and heat.shape == (1, 19, 5, 8)
    assert torch.all(paf == -0.25) and torch.all(heat == -0.25)


def _tensorboy_keys() -> list[str]:
    """tensorboy's rtpose_vgg Sequential keys in layer order, written out from its layout:
    model0 = VGG block (conv + ReLU pairs, three pools) then the two CPM convs; model{s}_{b}
    = conv + ReLU pairs ending in a bare conv (5 convs in stage 1, 7 after)."""
    keys, index = [], 0
    for item in ["c", "c", "p", "c", "c", "p", "c", "c", "c", "c", "p", "c", "c", "c", "c"]:
        if item == "p":
            index += 1
        else:
            keys.append(f"model0.{index}")
            index += 2
    for stage in range(1, 7):
        for branch in (1, 2):
            keys += [f"model{stage}_{branch}.{2 * k}" for k in range(5 if stage == 1 else 7)]
    return keys


def _caffe_order() -> list[str]:
    names = []
    for key in layer_shapes():
        name = key.rsplit(".", 1)[0]
        if name not in names:
            names.append(name)
    return names


@pytest.mark.parametrize("fmt", ["caffe", "caffe-module", "tensorboy", "tensorboy-module"])
def test_both_key_formats_load_the_same_network(net, tmp_path, fmt):
    state = net.state_dict()
    if fmt.startswith("caffe"):
        raw = dict(state)
    else:
        rename = dict(zip(_caffe_order(), _tensorboy_keys()))
        raw = {f"{rename[k.rsplit('.', 1)[0]]}.{k.rsplit('.', 1)[1]}": v for k, v in state.items()}
        assert "model1_1.8.bias" in raw and "model2_1.12.weight" in raw and "model0.25.weight" in raw
    if fmt.endswith("module"):
        raw = {f"module.{k}": v for k, v in raw.items()}
    torch.save(raw, tmp_path / "w.pth")
    loaded = load_openpose(tmp_path / "w.pth")
    x = torch.randn(1, 3, 32, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for a, b in zip(net(x), loaded(x)):
            assert torch.equal(a, b)


def _save(tmp_path, raw) -> str:
    path = tmp_path / "bad.pth"
    torch.save(raw, path)
    return str(path)


def test_a_missing_tensor_is_named(net, tmp_path):
    raw = dict(net.state_dict())
    del raw["Mconv3_stage4_L2.weight"]
    with pytest.raises(CheckpointError, match=r"lacks 1 .*Mconv3_stage4_L2\.weight"):
        load_openpose(_save(tmp_path, raw))


def test_a_misshapen_tensor_is_named(net, tmp_path):
    raw = dict(net.state_dict())
    raw["conv5_5_CPM_L2.weight"] = torch.zeros(18, 512, 1, 1)
    with pytest.raises(CheckpointError, match=r"conv5_5_CPM_L2\.weight has shape \(18, 512, 1, 1\)"):
        load_openpose(_save(tmp_path, raw))


def test_foreign_truncated_and_extra_files_are_refused(net, tmp_path):
    with pytest.raises(CheckpointError, match="not an OpenPose COCO body model"):
        load_openpose(_save(tmp_path, nn.Linear(3, 4).state_dict()))
    raw = dict(net.state_dict())
    raw["stage7.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="not part of the OpenPose COCO body network.*stage7"):
        load_openpose(_save(tmp_path, raw))
    good = _save(tmp_path, dict(net.state_dict()))
    cut = tmp_path / "cut.pth"
    cut.write_bytes(open(good, "rb").read()[:100_000])
    with pytest.raises(CheckpointError, match="not a readable PyTorch weights file"):
        load_openpose(cut)
    with pytest.raises(CheckpointError, match="no OpenPose weights file"):
        load_openpose(tmp_path / "none.pth")


def test_precision_follows_the_cpu_path(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setenv("EDN_CPU_PATH", "bf16")
    assert pick_precision(cpu) == "bf16"
    monkeypatch.setenv("EDN_CPU_PATH", "fp32")
    assert pick_precision(cpu) == "fp32"
    assert pick_precision(cpu, "bf16") == "bf16"
    assert pick_precision(torch.device("cuda")) == "fp16"
    assert pick_precision(torch.device("cuda"), "fp32") == "fp32"


def test_bf16_maps_stay_within_the_stated_tolerance_of_fp32(net):
    """Small input: on a CPU without native bf16 this runs emulated (slow)."""
    image = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    fp32 = OpenPoseNet(net, "cpu", "fp32", box_size=48).maps(image)
    bf16 = OpenPoseNet(net, "cpu", "bf16", box_size=48).maps(image)
    assert fp32[2] == bf16[2] == STRIDE
    for a, b in zip(fp32[:2], bf16[:2]):
        scale = np.abs(a).max()
        assert scale > 0
        assert np.abs(a - b).max() <= BF16_TOLERANCE * scale


class IdealNet(nn.Module):
    """Stands in for trained weights: returns the ideal maps of known people (given in the
    original image's pixels) for the resized, padded input of each scale."""

    def __init__(self, people, height, width, scales):
        super().__init__()
        self.people = people
        # padded input shape -> the resize factors (the image's resized size over its size)
        self.factors = {}
        for scale in scales:
            sh, sw = round(height * scale * 368 / height), round(width * scale * 368 / height)
            self.factors[(sh + -sh % 8, sw + -sw % 8)] = (sw / width, sh / height)
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        fx, fy = self.factors[tuple(x.shape[2:])]
        scaled = [np.concatenate([(p[:, :2] + 0.5) * [fx, fy] - 0.5, p[:, 2:]], 1) for p in self.people]
        heat, paf = render_ideal_maps(scaled, *x.shape[2:])
        return torch.from_numpy(paf)[None], torch.from_numpy(heat)[None]


@pytest.mark.parametrize("scales", [(1.0,), (0.5, 1.0, 1.5, 2.0)])
def test_detector_gives_back_known_people_at_every_scale_search(scales):
    """The grid, padding, resampling and averaging across scales keep the people where they
    are in the image: each joint back within a quarter of a scale-1 cell."""
    height, width = 480, 640
    people = synthetic_people(3, height, width, seed=4)
    detector = OpenPoseDetector.__new__(OpenPoseDetector)
    detector.network = OpenPoseNet(IdealNet(people, height, width, scales), "cpu", "fp32", scales)
    detector.params = PafParams()
    found = detector.detect(np.zeros((height, width, 3), np.uint8))
    assert len(found) == 3
    cell = STRIDE * height / 368
    for truth in people:
        best = min(found, key=lambda p: np.abs(p.keypoints[:, :2] - truth[:, :2]).mean())
        assert (best.keypoints[:, 2] > 0).all()
        assert np.abs(best.keypoints[:, :2] - truth[:, :2]).max() < cell / 4
        assert best.score is not None and best.score > 1


def test_parse_scales():
    assert parse_scales("0.5,1,1.5,2") == (0.5, 1.0, 1.5, 2.0)
    for bad in ("", "1,x", "0", "-1"):
        with pytest.raises(Exception, match="--scales"):
            parse_scales(bad)


def test_command_line_tracks_the_dancer_with_openpose(tmp_path, monkeypatch, caplog):
    """`python -m pose_detector --detector auto` with OpenPose weights in the weights folder:
    OpenPose is picked and says so, the tallest of two people is followed, and the JSON holds
    that person. The network is a stand-in giving the ideal maps of the two."""
    import logging

    from edn.core.openpose_json import read_sequence
    from edn.core.video import Mp4Writer
    from pose_detector import __main__ as cli
    from pose_detector.backends import openpose as backend

    height, width = 240, 320
    people = synthetic_people(2, height, width, seed=2)
    people[1][:, 1] = (people[1][:, 1] - people[1][:, 1].mean()) * 0.6 + people[1][:, 1].mean()
    video = tmp_path / "two.mp4"
    with Mp4Writer(video, fps=10) as w:
        for _ in range(4):
            w.write(np.zeros((height, width, 3), np.uint8))
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "pose_model.pth").write_bytes(b"")  # only its presence matters here
    monkeypatch.setattr(backend, "load_openpose", lambda path: IdealNet(people, height, width, (1.0,)))
    with caplog.at_level(logging.INFO):
        code = cli.main([str(video), "--write-json", str(tmp_path / "json"), "--weights-dir",
                         str(weights), "--quiet", "--no-smooth"])
    assert code == 0
    assert any("OpenPose COCO body model" in r.getMessage() for r in caplog.records)
    track = read_sequence(tmp_path / "json")
    assert track.shape == (4, 18, 3)
    assert np.abs(track[:, :, :2] - people[0][None, :, :2]).max() < 2.0


def test_openpose_without_weights_or_with_masks_is_a_clear_error(tmp_path):
    from edn.core.errors import UserError
    from pose_detector.extract import make_detector

    with pytest.raises(UserError, match="needs body_pose_model.pth or pose_model.pth in"):
        make_detector("openpose", weights=tmp_path)
    (tmp_path / "body_pose_model.pth").write_bytes(b"")
    with pytest.raises(UserError, match="no segmentation masks"):
        make_detector("openpose", segmentation=True, weights=tmp_path)

import json

import numpy as np
import pytest

from edn.core.keypoints import J
from edn.core.openpose_json import read_sequence
from edn.preparation.normalize import (
    AnkleStats,
    FrameTransforms,
    TooFewFramesError,
    ankle_stats,
    apply_transforms,
    end_height,
    far_position,
    frame_measures,
    frame_transforms,
    normalize_sequence,
    target_range,
)
from tests.helpers.normalize_cli import load_cli, write_prepared
from tests.helpers.poses import figure, source_walk, transform_like_target


def test_synthetic_depth_dependent_scale_and_shift_are_recovered_within_1_percent():
    source = source_walk()
    target, c_true, b_true = transform_like_target(source, 300, 400, 350, 410, 0.6, 0.8)
    normalized, transforms, s, t = normalize_sequence(source, target)
    assert (s.far, s.median, s.close) == pytest.approx((300, 330, 400), abs=1e-3)
    assert (t.far, t.median, t.close) == pytest.approx((350, 368, 410), abs=1e-3)
    assert s.height_far == pytest.approx(180, rel=1e-4)
    assert t.height_close == pytest.approx(0.8 * 270, rel=1e-4)
    assert transforms.measured.all()
    np.testing.assert_allclose(transforms.scale, c_true, rtol=0.01)
    np.testing.assert_allclose(transforms.shift, b_true, rtol=0.01)
    # In fact exact up to float32 keypoints, and the whole figure lands on the target.
    np.testing.assert_allclose(transforms.scale, c_true, rtol=1e-5)
    np.testing.assert_allclose(normalized, target, atol=0.02)


def test_far_position_ignores_frames_beyond_the_band_above_the_median():
    f = np.array([100.0, 290, 295, 300, 300, 300, 310, 320])  # 100: a stray detection
    # median 300, close 320, band 0.5 * 20 = 10: 295 qualifies (d = 5), 290 does not (d = 10)
    assert far_position(f, 300.0, 320.0, alpha=0.5) == 295.0
    assert far_position(f, 300.0, 320.0, alpha=0.6) == 290.0
    assert far_position(np.array([300.0, 300, 310]), 300.0, 310.0) == 300.0  # none above


def test_end_height_takes_largest_height_near_the_end_only():
    f = np.array([300.0, 302, 310, 400, 398])
    h = np.array([150.0, 160, 999, 200, 210])
    assert end_height(f, h, 300.0, band=5.0) == 160
    assert end_height(f, h, 400.0, band=5.0) == 210
    assert end_height(f, h, 305.0, band=0.0) == 160  # nothing within: the nearest frame


def test_lower_ankle_and_ear_fallback_in_frame_measures():
    pose = figure(200, 400, 200, lift=0.1)  # left ankle 20 px up: f is the right ankle's y
    pose_no_nose = pose.copy()
    pose_no_nose[J["nose"]] = 0
    no_head = pose_no_nose.copy()
    no_head[J["r_ear"]] = 0
    f, h, usable = frame_measures(np.stack([pose, pose_no_nose, no_head]))
    assert f[0] == pytest.approx(400) and f[1] == pytest.approx(400)
    ankle_mid_y = 400 - 10
    assert h[0] == pytest.approx(np.hypot(0, ankle_mid_y - 200), abs=1e-3)
    assert h[1] == pytest.approx(ankle_mid_y - 200, abs=1e-3)  # ears at the nose's height
    assert usable.tolist() == [True, True, False]


def test_narrower_source_range_is_centred_in_the_target_range():
    def stats(far: float, close: float) -> AnkleStats:
        return AnkleStats(frames=50, usable=50, median=(far + close) / 2, close=close, far=far,
                          height_close=200, height_far=100, median_height=150)

    assert target_range(stats(300, 320), stats(350, 410)) == (370, 390)
    assert target_range(stats(300, 400), stats(350, 410)) == (350, 410)
    poses = np.stack([figure(100, 300, 100), figure(100, 320, 200)])
    tr = frame_transforms(poses, stats(300, 320), stats(350, 410))
    np.testing.assert_allclose(tr.shift, [70, 70])  # same width: a pure shift
    np.testing.assert_allclose(tr.scale, [1.0, 1.0])


def test_frames_without_ankles_reuse_the_last_good_transform_and_keep_missing_joints():
    source = source_walk()
    target, _, _ = transform_like_target(source, 300, 400, 350, 410, 0.6, 0.8)
    s, t = ankle_stats(source), ankle_stats(target)
    broken = source.copy()
    broken[0, J["l_ankle"]] = 0  # no good frame before: takes the first good one
    broken[5, J["r_ankle"]] = 0
    broken[5, J["l_wrist"]] = 0
    tr = frame_transforms(broken, s, t)
    assert tr.measured[[0, 5]].tolist() == [False, False] and tr.measured[1:5].all()
    for i, j in ((0, 1), (5, 4)):
        assert (tr.scale[i], tr.shift[i]) == (tr.scale[j], tr.shift[j])
        np.testing.assert_array_equal(tr.anchor[i], tr.anchor[j])
    out = apply_transforms(broken, tr)
    np.testing.assert_array_equal(out[5, J["l_wrist"]], [0, 0, 0])
    np.testing.assert_array_equal(out[5, J["r_ankle"]], [0, 0, 0])
    np.testing.assert_array_equal(out[:, :, 2], broken[:, :, 2])


def test_apply_transform_scales_about_the_anchor_then_shifts():
    pose = figure(100, 300, 100)[None]
    tr = FrameTransforms(anchor=np.array([[100.0, 300.0]]), scale=np.array([0.5]),
                         shift=np.array([20.0]), measured=np.array([True]))
    out = apply_transforms(pose, tr)
    assert out[0, J["nose"], :2] == pytest.approx((100, 270))  # 100 above -> 50 above 320
    assert out[0, J["r_ankle"], :2] == pytest.approx((100 - 4.5, 320))


def test_too_few_usable_frames_says_how_many():
    poses = np.stack([figure(100, 300, 100) for _ in range(12)])
    poses[3:, J["r_ankle"]] = 0
    with pytest.raises(TooFewFramesError, match="only 3 of 12 frames") as err:
        ankle_stats(poses, min_frames=10)
    assert err.value.usable == 3
    assert ankle_stats(poses, min_frames=3).usable == 3

def test_cli_writes_keypoints_params_and_sheet_and_fails_cleanly(tmp_path, capsys):
    cli = load_cli()
    source = source_walk()
    target, c_true, _ = transform_like_target(source, 300, 400, 350, 410, 0.6, 0.8)
    write_prepared(tmp_path / "src", source)
    write_prepared(tmp_path / "tgt", target)
    out = tmp_path / "out"

    def args(source: str = "src", output: str = "out") -> list[str]:
        return ["--source", str(tmp_path / source), "--target", str(tmp_path / "tgt"),
                "-o", str(tmp_path / output)]

    assert cli.main(args()) == 0
    params = json.loads((out / "norm_params.json").read_text())
    np.testing.assert_allclose(params["frames"]["c"], c_true, rtol=0.01)
    assert params["source_stats"]["usable"] == len(source)
    np.testing.assert_allclose(read_sequence(out / "keypoints"), target, atol=0.01)
    assert (out / "contact_sheet.png").stat().st_size > 0

    assert cli.main(args()) == 1  # exists
    assert "pass --overwrite" in capsys.readouterr().err
    assert cli.main(args(source="nope", output="o1")) == 1
    assert "nope: no such file or folder" in capsys.readouterr().err
    (tmp_path / "plain").mkdir()
    assert cli.main(args(source="plain", output="o1")) == 1
    assert "not a prepared set" in capsys.readouterr().err

    few = source[:12].copy()
    few[4:, J["l_ankle"]] = 0
    write_prepared(tmp_path / "few", few)
    assert cli.main(args(source="few", output="o2")) == 1
    err = capsys.readouterr().err
    assert "only 4 of 12 frames" in err and "Traceback" not in err
    assert not (tmp_path / "o2").exists()

"""Normalization that cannot blow up: the plausibility check of the EDN fit, the robust
fallback, the choice recorded by the CLI, and warnings where the tracked person changes."""
import json
from pathlib import Path

import numpy as np
import pytest

from edn.core.errors import UserError
from edn.core.openpose_json import read_sequence
from edn.preparation.normalize import (
    HEIGHT_RATIO_RANGE,
    ankle_stats,
    fit_normalization,
    fit_problems,
    frame_measures,
    identity_jumps,
)
from tests.helpers.normalize_cli import load_cli, write_prepared
from tests.helpers.poses import figure, source_walk, transform_like_target

DATA = Path(__file__).resolve().parents[2] / "shared/data"
SPORTS2D = DATA / "sports2d_pypi/Sports2D/Demo/demo.mp4"
CAM01_OPENPOSE = (DATA / "pose2sim/Pose2Sim/S00_Demo_BatchSession/S00_P00_SingleParticipant/"
                  "S00_P00_T01_BalancingTrial/pose/cam01_json")


def elevated_source() -> np.ndarray:
    """A man 150 px tall on a raised platform (ankles at y 230-250, high in the image),
    standing at y 230 in most frames and stepping closer in some; in 8 frames (40-47) a
    21 px bystander the tracker grabbed, at y 226: the EDN fit takes the bystander for the
    man at his far end (c_far ~ 9)."""
    rng = np.random.default_rng(1)
    fs = np.concatenate([np.full(52, 230.0), rng.uniform(231, 250, 20)])
    rng.shuffle(fs)
    man = [figure(200 + i, f, 150.0) for i, f in enumerate(fs)]
    bystander = [figure(420, 226.0, 21.0) for _ in range(8)]
    return np.stack(man[:40] + bystander + man[40:])


def median_height(poses: np.ndarray) -> float:
    _, h, usable = frame_measures(poses)
    return float(np.median(h[usable]))


def test_elevated_source_falls_back_to_the_robust_fit():
    source, target = elevated_source(), source_walk()
    s, t = ankle_stats(source), ankle_stats(target)
    assert t.height_far / s.height_far > 5  # the blow-up this guards against
    fit = fit_normalization(source, s, t)
    assert fit.fit == "robust" and fit.requested == "auto"
    assert any("median height" in p or "floor band" in p for p in fit.problems)
    assert "using the robust fit" in fit.summary()
    assert fit_problems(fit.normalized, t) == []
    ratio = median_height(fit.normalized) / t.median_height
    assert 0.95 < ratio < 1.05  # the man's median height onto the target's
    f = np.maximum(fit.normalized[:, 10, 1], fit.normalized[:, 13, 1])
    assert abs(np.median(f) - t.median) < 1.0  # his median ankle position onto the target's


def test_forced_fits_are_kept_and_say_what_is_wrong():
    source, target = elevated_source(), source_walk()
    s, t = ankle_stats(source), ankle_stats(target)
    edn = fit_normalization(source, s, t, "edn")
    assert edn.fit == "edn" and edn.problems
    ratio = median_height(edn.normalized) / t.median_height
    assert not HEIGHT_RATIO_RANGE[0] <= ratio <= HEIGHT_RATIO_RANGE[1]
    assert "although" in edn.summary()
    robust = fit_normalization(source, s, t, "robust")
    assert robust.fit == "robust" and robust.problems == ()
    with pytest.raises(UserError, match="unknown normalization fit"):
        fit_normalization(source, s, t, "affine")


def test_plausible_edn_fit_is_kept():
    source = source_walk()
    target, _, _ = transform_like_target(source, 300, 400, 350, 410, 0.6, 0.8)
    fit = fit_normalization(source, ankle_stats(source), ankle_stats(target))
    assert fit.fit == "edn" and fit.problems == ()
    np.testing.assert_allclose(fit.normalized, target, atol=0.01)


def test_identity_jumps_name_the_frames_where_the_person_changes():
    poses = np.stack([figure(200 + i, 330, 200) for i in range(30)]
                     + [figure(520, 250, 40) for _ in range(5)]
                     + [figure(235 + i, 330, 200) for i in range(10)])
    poses[12] = 0  # a missed frame is not a jump
    assert identity_jumps(poses) == [30, 35]
    assert identity_jumps(np.stack([figure(200 + i, 330, 200) for i in range(30)])) == []


def test_cli_records_the_fit_it_used(tmp_path, capsys):
    write_prepared(tmp_path / "src", elevated_source())
    write_prepared(tmp_path / "tgt", source_walk())
    args = ["--source", str(tmp_path / "src"), "--target", str(tmp_path / "tgt")]
    cli = load_cli()
    assert cli.main([*args, "-o", str(tmp_path / "auto")]) == 0
    out = capsys.readouterr().out
    assert "using the robust fit" in out and "may change at frames 40, 48" in out
    params = json.loads((tmp_path / "auto/norm_params.json").read_text())
    assert params["fit"] == "robust" and params["requested_fit"] == "auto"
    assert params["edn_fit_problems"] and params["identity_jumps"] == [40, 48]
    assert cli.main([*args, "-o", str(tmp_path / "edn"), "--normalize", "edn"]) == 0
    assert json.loads((tmp_path / "edn/norm_params.json").read_text())["fit"] == "edn"


@pytest.mark.skipif(not (SPORTS2D.is_file() and CAM01_OPENPOSE.is_dir()),
                    reason="../shared/data (Sports2D clip, Pose2Sim OpenPose JSON) not present")
def test_sports2d_source_onto_the_beam_man_stays_plausible():
    """The demo's pair: the Sports2D clip (its man jumps off a box, a woman walks by) onto
    the Pose2Sim man (real CMU OpenPose keypoints of cam01)."""
    from edn.core.video import open_frames
    from pose_detector.extract import extract_track, make_detector

    source = extract_track(open_frames(SPORTS2D), make_detector("mediapipe"), progress=False).keypoints
    target = read_sequence(CAM01_OPENPOSE)
    s, t = ankle_stats(source), ankle_stats(target)
    fit = fit_normalization(source, s, t)
    ratio = median_height(fit.normalized) / t.median_height
    assert HEIGHT_RATIO_RANGE[0] <= ratio <= HEIGHT_RATIO_RANGE[1]
    assert fit_problems(fit.normalized, t) == []
    print(fit.summary(), "height ratio", round(ratio, 3), "jumps", identity_jumps(source))

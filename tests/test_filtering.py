import numpy as np

from edn.core.keypoints import J, flip_left_right
from pose_detector.filtering import fix_side_swaps, median_filter, side_swap_path
from tests.helpers.poses import coco18_person


def walking_track(n: int = 40) -> np.ndarray:
    """A person walking right 3 px a frame with their arms swinging."""
    track = []
    for t in range(n):
        p = coco18_person(dx=3 * t)
        swing = 8 * np.sin(t / 3)
        p[J["r_wrist"], 0] += swing
        p[J["l_wrist"], 0] -= swing
        track.append(p)
    return np.stack(track)


def test_swapped_stretch_is_found_exactly():
    truth = walking_track()
    detected = truth.copy()
    detected[12:25] = flip_left_right(truth[12:25])
    path = side_swap_path(detected)
    assert np.flatnonzero(path).tolist() == list(range(12, 25))
    fixed, _ = fix_side_swaps(detected)
    np.testing.assert_array_equal(fixed, truth)


def test_clean_track_is_left_alone_and_gaps_carry_state():
    truth = walking_track()
    assert not side_swap_path(truth).any()
    detected = truth.copy()
    detected[18:22] = 0  # nobody for 4 frames, then the labels come back swapped
    detected[22:30] = flip_left_right(truth[22:30])
    path = side_swap_path(detected)
    assert path[22:30].all() and not path[:18].any() and not path[30:].any()


def test_a_track_swapped_from_the_start_keeps_the_detectors_majority():
    truth = walking_track()
    detected = truth.copy()
    detected[:5] = flip_left_right(truth[:5])
    assert np.flatnonzero(side_swap_path(detected)).tolist() == [0, 1, 2, 3, 4]


def test_median_removes_a_spike_and_fills_only_short_gaps():
    n = 30
    poses = np.zeros((n, 18, 3), np.float32)
    poses[:, J["nose"]] = [100, 50, 0.9]
    poses[10, J["nose"], 0] = 400                 # one-frame glitch
    poses[15:18, J["nose"], 2] = 0                # 3-frame gap: filled
    poses[15:18, J["nose"], :2] = 0
    poses[:, J["r_wrist"]] = [10, 10, 0.8]
    poses[5:10, J["r_wrist"]] = 0                 # 5-frame gap: stays missing
    poses[25:, J["r_wrist"]] = 0                  # gap at the end: stays missing
    out = median_filter(poses, window=7, max_gap=3)
    assert out[10, J["nose"], 0] == 100
    np.testing.assert_allclose(out[15:18, J["nose"]], [[100, 50, 0.9]] * 3, rtol=1e-6)
    assert (out[5:10, J["r_wrist"]] == 0).all() and (out[25:, J["r_wrist"]] == 0).all()
    np.testing.assert_allclose(out[:5, J["r_wrist"]], [[10, 10, 0.8]] * 5, rtol=1e-6)
    assert (out[:, J["l_ankle"]] == 0).all()      # never seen: never invented


def test_median_keeps_a_real_motion():
    poses = walking_track()
    out = median_filter(poses)
    # a steady 3 px/frame walk is linear: the median of a centred window is the frame itself
    np.testing.assert_allclose(out[5:-5, J["neck"], :2], poses[5:-5, J["neck"], :2])

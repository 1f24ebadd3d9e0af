import numpy as np
import pytest

from edn.core.errors import UserError
from edn.core.io import staged_dir
from edn.core.video import Mp4Writer, open_frames
from edn.preparation.prepare import (
    choose_crop_box,
    crop_resize,
    keypoints_to_crop,
    keypoints_to_original,
    parse_size,
)


def track_in_box(x0, y0, x1, y1, frames=5):
    kp = np.zeros((frames, 18, 3), np.float32)
    kp[:, 0] = (x0, y0, 1)
    kp[:, 1] = (x1, y1, 1)
    return kp


def test_crop_box_is_square_with_margin_and_inside_the_frame():
    box = choose_crop_box(track_in_box(600, 200, 700, 400), (1280, 720), margin=0.3)
    x0, y0, x1, y1 = box
    assert (x1 - x0, y1 - y0) == pytest.approx((260, 260))   # 200 * 1.3
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((650, 300))
    # near the frame's edge it moves inside rather than cut the person off
    x0, y0, x1, y1 = choose_crop_box(track_in_box(10, 300, 110, 500), (1280, 720))
    assert x0 == 0 and x1 == pytest.approx(260)


def test_crop_box_shrinks_to_the_frame_and_keeps_the_aspect():
    # motion 600 tall in a 720 tall frame: 780 with margin, shrunk to 720 (motion still fits)
    x0, y0, x1, y1 = choose_crop_box(track_in_box(500, 60, 700, 660), (1280, 720))
    assert (x1 - x0, y1 - y0, y0) == pytest.approx((720, 720, 0))
    x0, y0, x1, y1 = choose_crop_box(track_in_box(500, 100, 700, 300), (1280, 720), aspect=2.0)
    assert (x1 - x0) / (y1 - y0) == pytest.approx(2.0)


def test_motion_larger_than_the_frame_keeps_its_margin():
    # a portrait video whose motion (900 tall) is wider than the frame (692): the square
    # crop must extend past the frame and keep the margin below the feet
    x0, y0, x1, y1 = choose_crop_box(track_in_box(100, 100, 600, 1000), (692, 1108))
    assert y1 - y0 == pytest.approx(1170) and y1 == pytest.approx(1135)


def test_keypoint_mapping_round_trip_keeps_missing_joints_at_zero():
    kp = np.array([[[110, 60, 0.9], [0, 0, 0], [300, 260, 0.5]]], np.float32)
    box, size = (100, 50, 500, 450), (256, 256)
    crop = keypoints_to_crop(kp, box, size)
    np.testing.assert_allclose(crop[0, 0], [6.4, 6.4, 0.9], rtol=1e-5)
    np.testing.assert_array_equal(crop[0, 1], [0, 0, 0])
    np.testing.assert_allclose(keypoints_to_original(crop, box, size), kp, rtol=1e-5)


def test_crop_resize_pads_outside_with_black():
    image = np.full((100, 100, 3), 200, np.uint8)
    out = crop_resize(image, (-50, 0, 50, 100), (10, 10))
    assert out.shape == (10, 10, 3)
    assert (out[:, :5] == 0).all() and (out[:, 5:] == 200).all()


def test_parse_size():
    assert parse_size("512") == (512, 512) and parse_size("1024x512") == (1024, 512)
    for bad in ("abc", "8", "1x2x3"):
        with pytest.raises(UserError, match="size must be N or WxH"):
            parse_size(bad)


def test_staged_dir_leaves_nothing_when_interrupted(tmp_path):
    with pytest.raises(RuntimeError):
        with staged_dir(tmp_path / "out") as tmp:
            (tmp / "half.json").write_text("{}")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with staged_dir(tmp_path / "out") as tmp:
        (tmp / "done.json").write_text("{}")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["done.json"]


def test_mp4_round_trip_and_abort(tmp_path):
    frames = [np.full((33, 47, 3), v, np.uint8) for v in (0, 120, 240)]  # odd sides
    with Mp4Writer(tmp_path / "a.mp4", fps=12) as w:
        for f in frames:
            w.write(f)
    src = open_frames(tmp_path / "a.mp4")
    got = list(src)
    assert (src.width, src.height, src.fps, len(got)) == (48, 34, 12.0, 3)
    assert [int(np.median(g)) for g in got] == pytest.approx([0, 120, 240], abs=3)
    with pytest.raises(ValueError):
        with Mp4Writer(tmp_path / "b.mp4", fps=12) as w:
            w.write(frames[0])
            raise ValueError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]

import numpy as np
import pytest

from pose_detector.tracking import (
    Crop,
    MainPersonTracker,
    box_iou,
    crop_around,
    enumerate_people,
    same_person,
)
from tests.helpers.detectors import RectangleDetector, frame_with


def test_crop_maps_back_to_image_coordinates():
    crop = Crop(cx=300, cy=200, side=150, size=300)
    image = frame_with((290, 190, 310, 210))
    cut = crop.cut(image)
    ys, xs = np.nonzero(cut[..., 0] > 128)
    # pixels 290..309 at the crop's centre land on 130..168 (scale 2, pixel centres 2x - 450)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (130, 168, 130, 168)
    back = crop.to_image(np.array([[130, 130, 1.0], [170, 170, 1.0], [0, 0, 0.0]], np.float32))
    np.testing.assert_allclose(back, [[290, 190, 1], [310, 210, 1], [0, 0, 0]])


def test_crop_around_and_box_tests():
    c = crop_around((100, 100, 140, 200), size=256, context=1.5)
    assert (c.cx, c.cy, c.side) == (120, 150, 150)
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert same_person((0, 0, 10, 10), (2, 0, 12, 10))
    assert not same_person((0, 0, 10, 10), (100, 0, 110, 10))


def test_enumerate_people_finds_each_once():
    image = frame_with((20, 20, 80, 200), (300, 50, 340, 150), (500, 300, 520, 330))
    boxes = [tuple(round(v) for v in p.box()) for p in enumerate_people(RectangleDetector(), image)]
    assert boxes == [(20, 20, 80, 200), (300, 50, 340, 150), (500, 300, 520, 330)]


def test_tracker_keeps_the_dancer_when_a_larger_bystander_appears():
    tracker = MainPersonTracker(RectangleDetector(), crop_size=256)
    xs = []
    for t in range(20):
        dancer = (100 + 4 * t, 100, 160 + 4 * t, 300)
        boxes = [dancer] if t < 5 else [dancer, (450, 40, 560, 400)]  # bigger, enters at t=5
        pose = tracker.update(frame_with(*boxes))
        xs.append(pose.box()[0])
    np.testing.assert_allclose(xs, [100 + 4 * t for t in range(20)], atol=1.5)


def test_tracker_reacquires_the_dancer_after_a_gap():
    tracker = MainPersonTracker(RectangleDetector(), crop_size=256, max_misses=3)
    results = []
    for t in range(12):
        dancer = (100 + 5 * t, 100, 160 + 5 * t, 300)
        bystander = (500, 200, 530, 260)  # small, always there
        visible = [bystander] if 4 <= t < 7 else [dancer, bystander]
        pose = tracker.update(frame_with(*visible))
        results.append(None if pose is None else round(pose.box()[0]))
    # while the dancer is gone the bystander (far away) is not taken for them
    assert results[4:7] == [None, None, None]
    assert results[7:] == [135, 140, 145, 150, 155]

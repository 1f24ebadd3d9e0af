import cv2
import numpy as np
import pytest

from pose_detector.base import PersonPose
from pose_detector.tracking import (
    Crop,
    MainPersonTracker,
    box_iou,
    crop_around,
    enumerate_people,
    same_person,
)
from tests.test_keypoints import coco18_person


def person_in_box(x0: float, y0: float, x1: float, y1: float, conf: float = 0.9) -> np.ndarray:
    """coco18_person (a 100 x 100 figure in a 34..66 x 8..100 box) fitted to a box."""
    p = coco18_person()
    p[:, 0] = x0 + (p[:, 0] - 33) / 34 * (x1 - x0)
    p[:, 1] = y0 + (p[:, 1] - 8) / 92 * (y1 - y0)
    p[:, 2] = conf
    return p


class RectangleDetector:
    """Finds 'people' drawn as filled white rectangles; in one image it reports the largest,
    like a single-person detector that reports its most confident detection."""
    name = "rectangles"

    def __init__(self):
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        mask = (image[..., 0] > 128).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [stats[i] for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] > 20]
        if not boxes:
            return []
        x, y, w, h, _ = max(boxes, key=lambda s: s[cv2.CC_STAT_AREA])
        return [PersonPose(person_in_box(x, y, x + w, y + h))]

    def track(self, image):
        found = self.detect(image)
        return found[0] if found else None

    def reset(self):
        pass

    def close(self):
        pass


def frame_with(*boxes, size=(480, 640)):
    image = np.zeros((*size, 3), np.uint8)
    for x0, y0, x1, y1 in boxes:
        image[y0:y1, x0:x1] = 255
    return image


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

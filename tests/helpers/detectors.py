"""A stand-in detector for tests: people drawn as white rectangles."""
import cv2
import numpy as np

from pose_detector.base import PersonPose
from tests.helpers.poses import coco18_person


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

"""Follow one person (the dancer) through a video.

With a multi-person detector (OpenPose) every frame is searched whole and the dancer is the
person nearest to where they were (the tallest at first). With a single-person detector the
detector runs on a square crop that follows the tracked person, so bystanders outside
the crop cannot take over. When the person is lost the whole frame is searched again: people
are enumerated by detecting, masking the one found and detecting again; the first time the
largest person is chosen, afterwards the one nearest to where the dancer was last seen.
Left/right label swaps are corrected afterwards, over the whole track
(``pose_detector.filtering.fix_side_swaps``).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pose_detector.base import Detector, PersonPose

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Crop:
    """A square window of side ``side`` centred at (cx, cy), resampled to ``size`` pixels."""
    cx: float
    cy: float
    side: float
    size: int

    @property
    def scale(self) -> float:
        return self.size / self.side

    def matrix(self) -> np.ndarray:
        s = self.scale
        return np.array([[s, 0, self.size / 2 - s * self.cx],
                         [0, s, self.size / 2 - s * self.cy]], np.float32)

    def cut(self, image: np.ndarray) -> np.ndarray:
        """The crop as an image; outside the frame is black."""
        return cv2.warpAffine(image, self.matrix(), (self.size, self.size),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    def to_image(self, keypoints: np.ndarray) -> np.ndarray:
        """Crop pixel coordinates -> image pixel coordinates (confidence kept)."""
        out = keypoints.copy()
        out[:, 0] = self.cx + (keypoints[:, 0] - self.size / 2) / self.scale
        out[:, 1] = self.cy + (keypoints[:, 1] - self.size / 2) / self.scale
        out[out[:, 2] <= 0, :2] = 0
        return out


def crop_around(box: Box, size: int, context: float = 1.6, min_side: float = 64.0) -> Crop:
    """A square crop centred on ``box`` whose side is ``context`` times its longer edge."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * context
    return Crop((x0 + x1) / 2, (y0 + y1) / 2, max(side, min_side), size)


def box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_center_distance(a: Box, b: Box) -> float:
    """Distance between centres, in units of ``b``'s longer edge."""
    d = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
    return float(d / max(b[2] - b[0], b[3] - b[1], 1e-6))


def same_person(box: Box, previous: Box, min_iou: float = 0.2, max_shift: float = 0.5) -> bool:
    """Whether a detection is plausibly the person tracked in the previous frame."""
    return box_iou(box, previous) >= min_iou or box_center_distance(box, previous) <= max_shift


def enumerate_people(detector: Detector, image: np.ndarray, max_people: int = 4,
                     pad: float = 0.15) -> list[PersonPose]:
    """Several people from a single-person detector: detect, black out that person's box
    (padded), detect again."""
    work = image.copy()
    h, w = image.shape[:2]
    people: list[PersonPose] = []
    for _ in range(max_people):
        found = detector.detect(work)
        box = found[0].box() if found else None
        if box is None:
            break
        people.append(found[0])
        x0, y0, x1, y1 = box
        px, py = (x1 - x0) * pad + 8, (y1 - y0) * pad + 8
        work[max(0, int(y0 - 2 * py)):min(h, int(y1 + py)),
             max(0, int(x0 - px)):min(w, int(x1 + px))] = 0
    return people


def _height(p: PersonPose) -> float:
    b = p.box()
    return -1.0 if b is None else b[3] - b[1]


class MainPersonTracker:
    """Per-frame main-person poses for a video, fed frame by frame to ``update``."""

    def __init__(self, detector: Detector, crop_size: int | None = None, context: float = 1.6,
                 max_misses: int = 3):
        self.detector = detector
        # The detector's own crop size when it has one (a face and hands want more pixels).
        self.crop_size = crop_size or getattr(detector, "crop_size", 448)
        self.context = context
        self.max_misses = max_misses
        self.box: Box | None = None          # the tracked person's last box
        self.misses = 0

    def _in_crop(self, frame: np.ndarray, crop: Crop, pose: PersonPose | None) -> PersonPose | None:
        if pose is None:
            return None
        seg = pose.segmentation
        if seg is not None:
            inverse = cv2.invertAffineTransform(crop.matrix())
            seg = cv2.warpAffine(seg, inverse, (frame.shape[1], frame.shape[0]),
                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        return PersonPose(crop.to_image(pose.keypoints), pose.world_landmarks, seg, pose.score)

    def _acquire(self, frame: np.ndarray) -> PersonPose | None:
        people = [p for p in enumerate_people(self.detector, frame) if p.box() is not None]
        if not people:
            return None
        if self.box is None:
            chosen = max(people, key=_height)
        else:
            chosen = min(people, key=lambda p: box_center_distance(p.box(), self.box))
        # Start the video-mode state on a crop around the chosen person.
        self.detector.reset()
        crop = crop_around(chosen.box(), self.crop_size, self.context)
        tracked = self._in_crop(frame, crop, self.detector.track(crop.cut(frame)))
        if tracked is not None and same_person(tracked.box() or (0, 0, 0, 0), chosen.box()):
            return tracked
        return chosen

    def _choose(self, people: list[PersonPose]) -> PersonPose | None:
        """Of a multi-person detector's people in the whole frame: the tallest at first,
        then the one nearest to where the dancer was, if plausibly the same person."""
        people = [p for p in people if p.box() is not None]
        if not people:
            return None
        if self.box is None:
            return max(people, key=_height)
        previous = self.box
        chosen = min(people, key=lambda p: box_center_distance(p.box(), previous))  # type: ignore[arg-type]
        if same_person(chosen.box(), previous, max_shift=0.5 * (1 + self.misses)):  # type: ignore[arg-type]
            return chosen
        return None

    def update(self, frame_rgb: np.ndarray) -> PersonPose | None:
        """The main person in this frame, or None when not found."""
        if getattr(self.detector, "multi_person", False):
            return self._settle(self._choose(self.detector.detect(frame_rgb)))
        pose = None
        if self.box is not None:
            crop = crop_around(self.box, self.crop_size, self.context)
            pose = self._in_crop(frame_rgb, crop, self.detector.track(crop.cut(frame_rgb)))
            box = pose.box() if pose is not None else None
            if box is None or not same_person(box, self.box):
                pose = None
        if pose is None:
            pose = self._acquire(frame_rgb)
            if pose is not None and self.box is not None and not same_person(
                    pose.box(), self.box, max_shift=0.5 * (1 + self.misses)):
                pose = None
        return self._settle(pose)

    def _settle(self, pose: PersonPose | None) -> PersonPose | None:
        """Remember where the dancer is (or count a miss) and return ``pose``."""
        if pose is None:
            self.misses += 1
            if self.misses > self.max_misses:  # give up on the old position entirely
                self.box = None
                self.misses = 0
            return None
        self.misses = 0
        self.box = pose.box()
        return pose

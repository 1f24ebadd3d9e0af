"""The detector interface every backend implements."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edn.core.keypoints import NUM_JOINTS

# Left/right partner of each of MediaPipe's 33 landmarks.
MP33_FLIP = (0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21,
             24, 23, 26, 25, 28, 27, 30, 29, 32, 31)


def swap_world_sides(world: np.ndarray) -> np.ndarray:
    """World landmarks (..., 33, 4) of a person whose left/right labels were swapped.
    A detector that swapped them took the person to face the other way, so the body is
    also mirrored in depth: z is negated about the hips' centre (the world frame's origin)."""
    out = world[..., list(MP33_FLIP), :].copy()
    out[..., 2] = -out[..., 2]
    return out


@dataclass
class PersonPose:
    """One person in one image.

    keypoints: (18, 3) x, y, confidence, OpenPose COCO-18 order, pixels of the image given;
        (130, 3) with the face and hands after the body (``edn.core.keypoints.FACE`` ...)
        from a detector asked for them.
    world_landmarks: (33, 4) MediaPipe world landmarks (metres, hip-centred, x right,
        y down, z away from the camera; 4th column = visibility) or None. Kept for the VMD branch.
    segmentation: (H, W) float32 in [0, 1], person probability, or None. Kept for synthesis.
    score: how sure the detector is of the person, in its own scale (OpenPose: the grouping's
        mean score per part; MediaPipe: the mean landmark visibility), or None.
    """
    keypoints: np.ndarray
    world_landmarks: np.ndarray | None = None
    segmentation: np.ndarray | None = field(default=None, repr=False)
    score: float | None = None

    def box(self, min_conf: float = 0.2) -> tuple[float, float, float, float] | None:
        """(x0, y0, x1, y1) around the confident body joints, or None with fewer than 2."""
        body = self.keypoints[:NUM_JOINTS]
        seen = body[:, 2] > min_conf
        if seen.sum() < 2:
            return None
        xy = body[seen, :2]
        return (float(xy[:, 0].min()), float(xy[:, 1].min()),
                float(xy[:, 0].max()), float(xy[:, 1].max()))


class Detector(Protocol):
    """Finds people in RGB uint8 images (H, W, 3).

    ``multi_person``: ``detect`` returns everybody in one pass (OpenPose), so the tracker
    follows the dancer among the people of each whole frame; otherwise (MediaPipe) it finds
    one person per call and the tracker works on a crop around the dancer."""

    name: str
    multi_person: bool

    def detect(self, image_rgb: np.ndarray) -> list[PersonPose]:
        """People in an independent image (no temporal state)."""
        ...

    def track(self, image_rgb: np.ndarray) -> PersonPose | None:
        """The person of the previous call's image in this image (video mode: may use
        temporal state). ``reset()`` forgets that state."""
        ...

    def reset(self) -> None:
        ...

    def close(self) -> None:
        ...

    # Optional: ``parallel_factory() -> Callable[[], Detector]``, a picklable maker of an
    # equal detector, offered by single-threaded backends so that worker processes can track
    # chunks of a video at once (pose_detector.extract.extract_track).

"""MediaPipe Holistic's face mesh and hands -> OpenPose's 70-point face and 21-point hands.

**Face** (OpenPose ``face_keypoints_2d``): the 68 iBUG 300-W / dlib points, then the right
and left pupils (68, 69). "Right" is the person's right, the image's left on a face seen
from the front, as in iBUG and OpenPose. From MediaPipe's 478-point refined mesh:

| OpenPose | what | mesh |
|---|---|---|
| 0-16 | jaw, from the right temple down to the chin (8) and up to the left temple | the face-oval contour 127 ... 152 (right) and 356 ... 152 (left), each side resampled to 9 points at equal arc length, as iBUG spaces them |
| 17-21 | right brow, outer to inner | 70, 63, 105, 66, 107 |
| 22-26 | left brow, inner to outer | 336, 296, 334, 293, 300 |
| 27-30 | nose bridge, top to tip | 168, 197, 5, 4 |
| 31-35 | nostril base, right to left | 75, 97, 2, 326, 305 |
| 36-41 | right eye: outer corner, upper lid (2), inner corner, lower lid (2) | 33, 160, 158, 133, 153, 144 |
| 42-47 | left eye: inner corner, upper lid (2), outer corner, lower lid (2) | 362, 385, 387, 263, 373, 380 |
| 48-59 | outer lips from the right corner, over the upper lip | 61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91 |
| 60-67 | inner lips from the right corner, over the upper lip | 78, 81, 13, 311, 308, 402, 14, 178 |
| 68, 69 | right, left pupil | the iris centres 468, 473 (the eye's six points' mean with the 468-point mesh) |

Checked against real iBUG annotation (COCO-WholeBody faces) in tests/test_whole_body.py.

**Hands** (``hand_left_keypoints_2d``, ``hand_right_keypoints_2d``): MediaPipe's 21 hand
landmarks are in OpenPose's order already (wrist; thumb CMC, MCP, IP, tip; then MCP, PIP, DIP,
tip of the index, middle, ring and little fingers). Holistic's left hand is the person's left
(it is found from BlazePose's left wrist).

Neither model gives a per-point confidence; a part's points take the mean visibility of
BlazePose's landmarks on that part (face: 0-10; hand: that side's wrist and hand points), so a
face turned away or a hand hidden behind the body scores low; a part not found is all 0.
"""
from __future__ import annotations

import numpy as np

from edn.core.keypoints import FACE, FACE_POINTS, HAND_POINTS, LEFT_HAND, RIGHT_HAND, WHOLE_JOINTS

JAW_RIGHT = (127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152)
JAW_LEFT = (356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152)
JAW_SIDE_POINTS = 9  # temple to chin, the chin included
FACE_FIXED: tuple[int, ...] = (
    70, 63, 105, 66, 107,                       # 17-21 right brow
    336, 296, 334, 293, 300,                    # 22-26 left brow
    168, 197, 5, 4,                             # 27-30 nose bridge
    75, 97, 2, 326, 305,                        # 31-35 nostrils
    33, 160, 158, 133, 153, 144,                # 36-41 right eye
    362, 385, 387, 263, 373, 380,               # 42-47 left eye
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,  # 48-59 outer lips
    78, 81, 13, 311, 308, 402, 14, 178,         # 60-67 inner lips
)
RIGHT_IRIS, LEFT_IRIS = 468, 473
REFINED_MESH_POINTS = 478  # the 468-point mesh and the 2 x 5 iris points
# BlazePose landmarks that say how visible each part is.
POSE_FACE = tuple(range(11))
POSE_LEFT_HAND = (15, 17, 19, 21)
POSE_RIGHT_HAND = (16, 18, 20, 22)


def resample_polyline(points: np.ndarray, n: int) -> np.ndarray:
    """``n`` points at equal arc length along the polyline ``points`` (k, 2), both ends kept."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return np.repeat(points[:1], n, 0)
    at = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(at, s, points[:, 0]), np.interp(at, s, points[:, 1])], 1)


def face_mesh_to_openpose(mesh: np.ndarray, confidence: float) -> np.ndarray:
    """MediaPipe face mesh (468 or 478, >= 2) in pixels -> OpenPose's face (70, 3), every
    point with ``confidence``."""
    mesh = np.asarray(mesh, np.float64)[:, :2]
    out = np.zeros((FACE_POINTS, 3), np.float32)
    right = resample_polyline(mesh[list(JAW_RIGHT)], JAW_SIDE_POINTS)
    left = resample_polyline(mesh[list(JAW_LEFT)], JAW_SIDE_POINTS)
    out[:9, :2] = right
    out[8:17, :2] = left[::-1]
    out[17:68, :2] = mesh[list(FACE_FIXED)]
    if len(mesh) >= REFINED_MESH_POINTS:
        out[68, :2], out[69, :2] = mesh[RIGHT_IRIS], mesh[LEFT_IRIS]
    else:
        out[68, :2] = mesh[list(FACE_FIXED[19:25])].mean(0)
        out[69, :2] = mesh[list(FACE_FIXED[25:31])].mean(0)
    out[:, 2] = confidence
    return out


def hand_to_openpose(hand: np.ndarray, confidence: float) -> np.ndarray:
    """MediaPipe's 21 hand landmarks in pixels -> OpenPose's hand (21, 3)."""
    out = np.zeros((HAND_POINTS, 3), np.float32)
    out[:, :2] = np.asarray(hand, np.float32)[:HAND_POINTS, :2]
    out[:, 2] = confidence
    return out


def part_confidence(pose_landmarks: np.ndarray, indices: tuple[int, ...]) -> float:
    """Mean visibility of BlazePose's ``indices`` (33, 3 = x, y, visibility), at least 0.05
    so that a part the models found is never taken for one not found."""
    return max(0.05, float(np.mean(pose_landmarks[list(indices), 2])))


def whole_body_parts(body: np.ndarray, pose_landmarks: np.ndarray, face: np.ndarray | None,
                     left_hand: np.ndarray | None, right_hand: np.ndarray | None,
                     parts: tuple[str, ...]) -> np.ndarray:
    """COCO-18 ``body`` (18, 3) + Holistic's face mesh and hands (pixels, None when not
    found) -> whole-body keypoints (130, 3), the parts not in ``parts`` left at 0."""
    out = np.zeros((WHOLE_JOINTS, 3), np.float32)
    out[:len(body)] = body
    if "face" in parts and face is not None:
        out[FACE] = face_mesh_to_openpose(face, part_confidence(pose_landmarks, POSE_FACE))
    if "hands" in parts:
        for hand, points, pose_points in ((left_hand, LEFT_HAND, POSE_LEFT_HAND),
                                          (right_hand, RIGHT_HAND, POSE_RIGHT_HAND)):
            if hand is not None:
                out[points] = hand_to_openpose(hand, part_confidence(pose_landmarks, pose_points))
    return out

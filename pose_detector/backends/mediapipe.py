"""MediaPipe BlazePose backend: the embedded default (its model ships in the mediapipe wheel).

Only ``model_complexity=1`` (BlazePose full) is bundled with mediapipe 0.10.14; the lite and
heavy models would be downloaded at run time, which this project never does. With the face
or hands asked for, MediaPipe Holistic runs instead: the same BlazePose, then the refined
face mesh (with irises) and the hand landmark models on the regions the pose gives, all
bundled too; ``pose_detector.whole_body`` maps them to OpenPose's face and hands.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import numpy as np

from edn.core.errors import UserError
from edn.core.keypoints import check_parts, with_neck
from pose_detector.base import PersonPose
from pose_detector.whole_body import whole_body_parts

# MediaPipe's 33 landmarks -> COCO-18 (the neck is the shoulders' midpoint).
MP33_TO_COCO18 = (0, None, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7)


def landmarks_to_coco18(landmarks: np.ndarray) -> np.ndarray:
    """(33, 3) MediaPipe x, y (pixels), visibility -> (18, 3) COCO-18."""
    out = np.zeros((18, 3), np.float32)
    for dst, src in enumerate(MP33_TO_COCO18):
        if src is not None:
            out[dst] = landmarks[src]
    return with_neck(out)


def _points(landmarks, width: int, height: int) -> np.ndarray | None:
    if landmarks is None:
        return None
    return np.array([[p.x * width, p.y * height] for p in landmarks.landmark], np.float32)


class MediaPipeDetector:
    """BlazePose full (Holistic with ``parts`` beyond the body). One person per image: the
    most confident one in the image given."""

    name = "mediapipe"
    multi_person = False

    def __init__(self, segmentation: bool = False, min_confidence: float = 0.5,
                 parts: tuple[str, ...] = ("body",)):
        # mediapipe 0.10.14 calls a protobuf API that newer protobuf deprecates, on every frame
        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
        try:
            import mediapipe as mp
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise UserError("the mediapipe backend needs `pip install mediapipe==0.10.14`") from e
        self._mp = mp
        self.parts = check_parts(parts)
        self.segmentation = segmentation
        self.min_confidence = min_confidence
        self._video = self._new(static=False)
        self._static = self._new(static=True)

    @property
    def crop_size(self) -> int:
        """Side of the crop the tracker hands over: with a face or hands, about the pixels a
        dancer spans in a 720p video, so that their small models see every pixel there is."""
        return 448 if self.parts == ("body",) else 896

    def _new(self, static: bool):
        if self.parts != ("body",):
            return self._mp.solutions.holistic.Holistic(
                static_image_mode=static, model_complexity=1, smooth_landmarks=not static,
                enable_segmentation=self.segmentation, smooth_segmentation=not static,
                refine_face_landmarks="face" in self.parts,
                min_detection_confidence=self.min_confidence,
                min_tracking_confidence=self.min_confidence)
        return self._mp.solutions.pose.Pose(
            static_image_mode=static, model_complexity=1, smooth_landmarks=not static,
            enable_segmentation=self.segmentation, smooth_segmentation=not static,
            min_detection_confidence=self.min_confidence,
            min_tracking_confidence=self.min_confidence)

    def _to_pose(self, result, width: int, height: int) -> PersonPose | None:
        if result.pose_landmarks is None:
            return None
        lm = np.array([[p.x * width, p.y * height, p.visibility]
                       for p in result.pose_landmarks.landmark], np.float32)
        keypoints = landmarks_to_coco18(lm)
        if self.parts != ("body",):
            keypoints = whole_body_parts(
                keypoints, lm, _points(result.face_landmarks, width, height),
                _points(result.left_hand_landmarks, width, height),
                _points(result.right_hand_landmarks, width, height), self.parts)
        world = None
        if result.pose_world_landmarks is not None:
            world = np.array([[p.x, p.y, p.z, p.visibility]
                              for p in result.pose_world_landmarks.landmark], np.float32)
        mask = result.segmentation_mask
        return PersonPose(keypoints, world,
                          None if mask is None else np.asarray(mask, np.float32),
                          score=float(lm[:, 2].mean()))

    def _run(self, solution, image_rgb: np.ndarray) -> PersonPose | None:
        image_rgb = np.ascontiguousarray(image_rgb)
        h, w = image_rgb.shape[:2]
        result = solution.process(image_rgb)
        return self._to_pose(result, w, h)

    def parallel_factory(self) -> Callable[[], MediaPipeDetector]:
        """A picklable maker of an equal detector without masks, for a worker process: the
        graph runs on one thread, so each further core can track a chunk of a video."""
        return functools.partial(MediaPipeDetector, min_confidence=self.min_confidence,
                                 parts=self.parts)

    def detect(self, image_rgb: np.ndarray) -> list[PersonPose]:
        pose = self._run(self._static, image_rgb)
        return [] if pose is None else [pose]

    def track(self, image_rgb: np.ndarray) -> PersonPose | None:
        return self._run(self._video, image_rgb)

    def reset(self) -> None:
        self._video.close()
        self._video = self._new(static=False)

    def close(self) -> None:
        self._video.close()
        self._static.close()

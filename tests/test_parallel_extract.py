"""extract_track splitting a video between processes: chunk sizes, equality with a single
pass, the re-track where a chunk's fresh tracker picks another person, worker failures."""
import cv2
import numpy as np
import pytest

from edn.core.video import open_frames
from pose_detector.extract import (
    MIN_CHUNK,
    SKIP_COST,
    WORKER_START_FRAMES,
    chunk_starts,
    extract_track,
)
from tests.helpers.detectors import RectangleDetector, frame_with


class ParallelRectangleDetector(RectangleDetector):
    def parallel_factory(self):
        return ParallelRectangleDetector


class FailingDetector(RectangleDetector):
    def __init__(self):
        raise OSError("no model here")


class FailingInWorker(RectangleDetector):
    def parallel_factory(self):
        return FailingDetector


@pytest.mark.parametrize("count,workers", [(412, 2), (412, 8), (9000, 2), (9000, 8), (5000, 3)])
def test_chunks_end_together(count, workers):
    starts = chunk_starts(count, workers)
    assert starts[0] == 0 and len(starts) > 1 and starts == sorted(set(starts))
    lengths = np.diff(starts + [count])
    assert lengths.min() >= MIN_CHUNK
    first = lengths[0]
    for start, length in zip(starts[1:-1], lengths[1:-1]):  # the last takes the rounding
        assert abs(WORKER_START_FRAMES + SKIP_COST * start + length - first) <= 1.5
    assert abs(WORKER_START_FRAMES + SKIP_COST * starts[-1] + lengths[-1] - first) <= len(starts)


@pytest.mark.parametrize("count,workers", [(100, 2), (130, 2), (412, 1), (0, 4)])
def test_short_videos_and_one_worker_stay_one_chunk(count, workers):
    assert chunk_starts(count, workers) == [0]


def write_frames(folder, boxes_per_frame):
    folder.mkdir()
    for i, boxes in enumerate(boxes_per_frame):
        cv2.imwrite(str(folder / f"{i:04d}.png"), frame_with(*boxes))
    return open_frames(folder)


def test_parallel_track_equals_a_single_pass(tmp_path):
    n = 240
    frames = write_frames(tmp_path / "f", [[(100 + i, 100, 160 + i, 300)] for i in range(n)])
    assert len(chunk_starts(n, 2)) == 2
    single = extract_track(frames, ParallelRectangleDetector(), progress=False, workers=1)
    split = extract_track(frames, ParallelRectangleDetector(), progress=False, workers=2)
    assert split.found.all() and len(split.keypoints) == n
    # A fresh tracker's first crop is placed differently: within a crop pixel (~0.6 px).
    np.testing.assert_allclose(split.keypoints, single.keypoints, atol=1.0)


def test_chunk_that_picks_another_person_is_tracked_again(tmp_path):
    # The dancer (left) is the largest at the start; a bystander (right) grows and is the
    # largest from frame 120 on, so a fresh tracker at the second chunk would pick him.
    n = 240
    boxes = [[(100, 100, 160, 300), (400, 200, 430, 200 + min(2 * i, 270))] for i in range(n)]
    frames = write_frames(tmp_path / "f", boxes)
    assert chunk_starts(n, 2)[1] > 135
    single = extract_track(frames, ParallelRectangleDetector(), progress=False, workers=1)
    split = extract_track(frames, ParallelRectangleDetector(), progress=False, workers=2)
    x = split.keypoints[..., 0][split.keypoints[..., 2] > 0]
    assert x.max() < 200  # the dancer throughout, never the bystander at x >= 400
    np.testing.assert_allclose(split.keypoints, single.keypoints, atol=1.0)


def test_worker_failure_is_an_error_naming_the_chunk(tmp_path):
    frames = write_frames(tmp_path / "f", [[(100, 100, 160, 300)]] * 240)
    with pytest.raises(RuntimeError, match=r"frames from \d+ failed: OSError: no model here"):
        extract_track(frames, FailingInWorker(), progress=False, workers=2)

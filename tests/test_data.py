import subprocess
import sys
from pathlib import Path

import numpy as np

from edn.data import (background_plate, batch_indices, pair_order, scale_keypoints, to_tensor,
                      to_uint8)
from edn.video import assemble_video, open_frames, write_image_rgb

ROOT = Path(__file__).resolve().parents[1]


def test_pair_order_is_a_reproducible_permutation():
    a, b = pair_order(50, epoch=3, seed=7), pair_order(50, epoch=3, seed=7)
    np.testing.assert_array_equal(a, b)
    assert sorted(a) == list(range(50))
    assert not np.array_equal(a, pair_order(50, epoch=4, seed=7))


def test_batches_cover_every_pair_once_per_epoch_across_processes():
    n, batch, world = 12, 2, 2
    seen = [batch_indices(it, batch, n, seed=1, rank=r, world_size=world)
            for it in range(3) for r in range(world)]
    assert sorted(np.concatenate(seen)) == list(range(n))
    # a resumed run asks for the same batch as an uninterrupted one
    np.testing.assert_array_equal(batch_indices(5, 3, n, 1), batch_indices(5, 3, n, 1))


def test_plate_is_the_background_behind_a_moving_person():
    frames = np.full((5, 8, 8, 3), 100, np.uint8)
    masks = np.zeros((5, 8, 8), np.float32)
    for t in range(5):  # the person (255) covers column t
        frames[t, :, t] = 255
        masks[t, :, t] = 1
    frames[:, 0, 7] = 255  # a pixel the person always covers gets the plain median
    masks[:, 0, 7] = 1
    plate = background_plate(frames, masks)
    assert (plate[1:] == 100).all() and (plate[0, :7] == 100).all() and (plate[0, 7] == 255).all()


def test_recent_plate_follows_a_drifting_background_and_fills_from_older_frames():
    frames = np.zeros((6, 4, 4, 3), np.uint8)
    frames[:3], frames[3:] = 40, 90  # the background changed half-way
    masks = np.zeros((6, 4, 4), np.float32)
    masks[3:, 0, 0] = 1              # the person stood on (0, 0) in every recent frame
    frames[3:, 0, 0] = 250
    plate = background_plate(frames, masks, recent=3)
    assert (plate[1:] == 90).all() and (plate[0, 1:] == 90).all()
    assert (plate[0, 0] == 40).all()  # from the older person-free frames, not the person


def test_tensor_round_trip_and_keypoint_scaling():
    images = np.random.default_rng(0).integers(0, 256, (2, 4, 5, 3), dtype=np.uint8)
    t = to_tensor(images)
    assert t.shape == (2, 3, 4, 5) and t.min() >= -1 and t.max() <= 1
    np.testing.assert_array_equal(to_uint8(t), images)
    kp = np.array([[[100, 50, 0.9], [0, 0, 0]]], np.float32)
    np.testing.assert_allclose(scale_keypoints(kp, (512, 512), (256, 128)),
                               [[[50, 12.5, 0.9], [0, 0, 0]]])


def test_img2video_side_by_side(tmp_path):
    for folder, value in (("src", 50), ("res", 200)):
        for i in range(4):
            write_image_rgb(tmp_path / folder / f"{i:06d}.png",
                            np.full((32, 16 if folder == "src" else 32, 3), value, np.uint8))
    (tmp_path / "meta.json").write_text('{"fps": 8}')
    r = subprocess.run([sys.executable, "output/img2video.py", str(tmp_path / "res"), "-o",
                        str(tmp_path / "v.mp4"), "--side-by-side", str(tmp_path / "src"),
                        "--quiet"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    video = open_frames(tmp_path / "v.mp4")
    frames = list(video)
    assert (video.width, video.height, video.fps, len(frames)) == (48, 32, 8.0, 4)
    assert abs(int(frames[0][:, :16].mean()) - 50) <= 3 and abs(int(frames[0][:, 16:].mean()) - 200) <= 3
    r = subprocess.run([sys.executable, "output/img2video.py", str(tmp_path / "none"), "-o",
                        str(tmp_path / "w.mp4")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and "no such folder" in r.stderr and "Traceback" not in r.stderr


def test_assemble_uses_only_names_in_every_folder(tmp_path):
    write_image_rgb(tmp_path / "a" / "000000.png", np.zeros((8, 8, 3), np.uint8))
    write_image_rgb(tmp_path / "a" / "000001.png", np.zeros((8, 8, 3), np.uint8))
    write_image_rgb(tmp_path / "b" / "000001.png", np.zeros((8, 8, 3), np.uint8))
    _, n = assemble_video([tmp_path / "a", tmp_path / "b"], tmp_path / "v.mp4", 10, progress=False)
    assert n == 1

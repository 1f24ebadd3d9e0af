import subprocess
import sys
from pathlib import Path

import numpy as np

from edn.core.keypoints import scale_keypoints
from edn.core.tensors import to_tensor, to_uint8
from edn.core.video import assemble_video, open_frames, read_image_rgb, write_image_rgb
from edn.preparation.target_set import background_plate, person_cover
from edn.training.data import batch_indices, pair_order

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
    frames[:, 0, 7] = 255  # a pixel the person always covers: inpainted from around it
    masks[:, 0, 7] = 1
    plate = background_plate(frames, masks > 0.5)
    assert np.abs(plate.astype(int) - 100).max() <= 3


def test_recent_plate_follows_a_drifting_background_and_fills_from_older_frames():
    frames = np.zeros((6, 4, 4, 3), np.uint8)
    frames[:3], frames[3:] = 40, 90  # the background changed half-way
    masks = np.zeros((6, 4, 4), np.float32)
    masks[3:, 0, 0] = 1              # the person stood on (0, 0) in every recent frame
    frames[3:, 0, 0] = 250
    plate = background_plate(frames, masks > 0.5, recent=3)
    assert (plate[1:] == 90).all() and (plate[0, 1:] == 90).all()
    assert (plate[0, 0] == 40).all()  # from the older person-free frames, not the person


def test_person_cover_keeps_what_segmentation_missed_out_of_the_plate():
    """A foot that stood still while segmentation missed it: without the skeleton and the
    growth it would be the plate's background there."""
    frames = np.full((4, 40, 40, 3), 100, np.uint8)
    masks = np.zeros((4, 40, 40), np.float32)
    labels = np.zeros((4, 40, 40, 3), np.uint8)
    frames[:, 30:34, 10:14] = 200      # the foot, in every frame
    labels[:, 30:33, 11:13] = 255      # the lower leg's bone ends there
    masks[:, 10:30, 8:16] = 1          # segmentation found the leg above it only
    cover = person_cover(masks, labels, grow=0.05)  # 2 px at 40 px
    assert cover[:, 30:34, 10:14].all() and not cover[:, :8].any()
    assert not cover[:, 35:].any()     # grown by 2 px, not more
    assert (background_plate(frames, masks > 0.3)[30:34, 10:14] == 200).all()  # the ghost
    plate = background_plate(frames, cover)  # never seen: inpainted from the floor around
    assert np.abs(plate[30:34, 10:14].astype(int) - 100).max() <= 3
    frames[2:, 30:34, 10:14] = 50      # the foot leaves half-way and shows the floor there
    labels[2:] = 0
    masks[2:] = 0
    plate = background_plate(frames, person_cover(masks, labels, grow=0.05))
    assert (plate[30:34, 10:14] == 50).all()


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


def test_sheet_rows_of_source_skeleton_result(tmp_path):
    # frame i of each folder is one grey level: source 10 + 5i, labels 100 + 5i, frames 200 + 5i
    for folder, base in (("source", 10), ("labels", 100), ("frames", 200)):
        for i in range(7):
            write_image_rgb(tmp_path / "t" / folder / f"{i:06d}.png",
                            np.full((16, 16, 3), base + 5 * i, np.uint8))
    r = subprocess.run([sys.executable, "output/sheet.py", str(tmp_path / "t"), "-o",
                        str(tmp_path / "s.png"), "--rows", "3"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    sheet = read_image_rgb(tmp_path / "s.png")
    assert sheet.shape == (48, 48, 3)
    # rows are frames 0, 3 and 6; columns source | skeleton | result
    for row, i in enumerate((0, 3, 6)):
        assert [int(sheet[16 * row + 8, 16 * col + 8, 0]) for col in range(3)] == \
            [10 + 5 * i, 100 + 5 * i, 200 + 5 * i]
    # --quality is the JPEG's: on noise, 10 gives a much smaller file than 100
    noise = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for i in range(7):
        write_image_rgb(tmp_path / "t" / "frames" / f"{i:06d}.png", noise)
    sizes = {}
    for quality in (10, 100):
        out = tmp_path / f"q{quality}.jpg"
        r = subprocess.run([sys.executable, "output/sheet.py", str(tmp_path / "t"), "-o", str(out),
                            "--quality", str(quality)], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        sizes[quality] = out.stat().st_size
    assert sizes[10] < 0.6 * sizes[100], sizes
    write_image_rgb(tmp_path / "t" / "frames" / "000003.png", np.zeros((8, 16, 3), np.uint8))
    r = subprocess.run([sys.executable, "output/sheet.py", str(tmp_path / "t"), "-o",
                        str(tmp_path / "v.jpg")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and "differ in size" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "t" / "labels").rename(tmp_path / "t" / "other")
    r = subprocess.run([sys.executable, "output/sheet.py", str(tmp_path / "t"), "-o",
                        str(tmp_path / "u.jpg")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and "labels/" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "u.jpg").exists()


def test_assemble_uses_only_names_in_every_folder(tmp_path):
    write_image_rgb(tmp_path / "a" / "000000.png", np.zeros((8, 8, 3), np.uint8))
    write_image_rgb(tmp_path / "a" / "000001.png", np.zeros((8, 8, 3), np.uint8))
    write_image_rgb(tmp_path / "b" / "000001.png", np.zeros((8, 8, 3), np.uint8))
    _, n = assemble_video([tmp_path / "a", tmp_path / "b"], tmp_path / "v.mp4", 10, progress=False)
    assert n == 1

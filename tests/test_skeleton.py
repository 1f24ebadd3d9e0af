import numpy as np

from edn.core.face_box import face_box
from edn.core.keypoints import LIMBS, J
from edn.core.skeleton import COLORS, draw_skeleton, render_label_map


def standing_pose() -> np.ndarray:
    """A front-facing figure in a 512 x 512 frame, every joint seen."""
    xy = {
        "nose": (256, 100), "neck": (256, 150),
        "r_shoulder": (216, 150), "r_elbow": (196, 220), "r_wrist": (186, 290),
        "l_shoulder": (296, 150), "l_elbow": (316, 220), "l_wrist": (326, 290),
        "r_hip": (236, 280), "r_knee": (231, 370), "r_ankle": (226, 460),
        "l_hip": (276, 280), "l_knee": (281, 370), "l_ankle": (286, 460),
        "r_eye": (248, 92), "l_eye": (264, 92), "r_ear": (238, 98), "l_ear": (274, 98),
    }
    pose = np.zeros((18, 3), np.float32)
    for name, (x, y) in xy.items():
        pose[J[name]] = (x, y, 0.9)
    return pose


def limb_colour_at_middle(label: np.ndarray, pose: np.ndarray, a: int, b: int) -> tuple:
    mid = (pose[a, :2] + pose[b, :2]) / 2
    return tuple(int(v) for v in label[round(mid[1]), round(mid[0])])


def test_label_map_is_rgb_openpose_colours_at_limb_midpoints():
    pose = standing_pose()
    label = render_label_map(pose, size=(512, 512))
    assert label.shape == (512, 512, 3) and label.dtype == np.uint8
    for i, (a, b) in enumerate(LIMBS):
        assert limb_colour_at_middle(label, pose, a, b) == COLORS[i], (i, a, b)
    # RGB, not BGR: the first limb (neck -> right shoulder) is pure red in channel 0.
    assert COLORS[0] == (255, 0, 0)
    assert tuple(label[0, 0]) == (0, 0, 0)


def test_missing_joint_leaves_a_gap_not_a_line_to_origin():
    pose = standing_pose()
    pose[J["r_knee"]] = 0  # not found: conf 0 at (0, 0)
    label = render_label_map(pose)
    full = render_label_map(standing_pose())
    assert limb_colour_at_middle(full, standing_pose(), 8, 9) == COLORS[LIMBS.index((8, 9))]
    assert limb_colour_at_middle(label, standing_pose(), 8, 9) == (0, 0, 0)
    assert limb_colour_at_middle(label, standing_pose(), 9, 10) == (0, 0, 0)
    assert tuple(label[460, 226]) == COLORS[J["r_ankle"]]  # the ankle itself is still drawn
    # No limb runs towards the image origin: everything above-left of the head is empty.
    assert not label[:80, :200].any()


def test_low_confidence_joints_are_not_drawn():
    pose = standing_pose()
    pose[J["l_wrist"], 2] = 0.05
    label = render_label_map(pose, conf_threshold=0.1)
    assert limb_colour_at_middle(label, pose, J["l_elbow"], J["l_wrist"]) == (0, 0, 0)
    label = render_label_map(pose, conf_threshold=0.01)
    elbow_wrist = LIMBS.index((6, 7))
    assert limb_colour_at_middle(label, pose, 6, 7) == COLORS[elbow_wrist]


def test_limb_width_scales_with_image_size():
    pose = standing_pose()
    small = render_label_map(pose, size=(512, 512))
    big = render_label_map(pose * np.array([2, 2, 1], np.float32), size=(1024, 1024))
    # Width of the right shin across the row through its middle.
    width_small = int((small[415, 200:260].any(axis=1)).sum())
    width_big = int((big[830, 400:520].any(axis=1)).sum())
    assert 6 <= width_small <= 10
    assert abs(width_big - 2 * width_small) <= 2


def test_draw_skeleton_onto_frame_keeps_background_and_blends():
    frame = np.full((512, 512, 3), 40, np.uint8)
    pose = standing_pose()
    out = draw_skeleton(frame, pose)
    assert tuple(out[5, 5]) == (40, 40, 40)
    assert limb_colour_at_middle(out, pose, 1, 2) == COLORS[0]
    half = draw_skeleton(frame, pose, alpha=0.5)
    assert limb_colour_at_middle(half, pose, 1, 2) == (148, 20, 20)
    assert frame.max() == 40  # input untouched


def test_face_box_centred_on_nose_and_scaled():
    pose = standing_pose()
    assert face_box(pose, size=(512, 512)) == (192, 36, 320, 164)
    big = pose * np.array([2, 2, 1], np.float32)
    assert face_box(big, size=(1024, 1024)) == (384, 72, 640, 328)
    assert face_box(pose, size=(512, 512), scale=0.5) == (224, 68, 288, 132)  # same centre


def test_face_box_falls_back_to_ear_midpoint_and_clips():
    pose = standing_pose()
    pose[J["nose"]] = 0
    assert face_box(pose) == (192, 34, 320, 162)  # ears' midpoint (256, 98)
    pose[J["r_ear"]] = (10, 20, 0.9)
    pose[J["l_ear"]] = (30, 20, 0.9)
    assert face_box(pose) == (0, 0, 84, 84)  # centre (20, 20): clipped at the top-left
    pose[J["l_ear"]] = 0
    assert face_box(pose) is None

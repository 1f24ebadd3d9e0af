"""IK legs (edn.vmd.ground): feet held in place while they stand, a jump that leaves the
ground, no foot under the floor, soles flat; travel in depth (edn.vmd.pose3d.travel); Bézier
keys (edn.vmd.curves); fingers (edn.vmd.fingers)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edn.core.keypoints import J
from edn.vmd import rotations as rot
from edn.vmd.fk import sample
from edn.vmd.ground import flat
from edn.vmd.motion import Options, build_motion
from edn.vmd.pose3d import UNITS_PER_METRE, Joints3D, travel
from edn.vmd.skeleton import Skeleton

STANDING = {"pelvis": (0, 10.5, 0), "neck": (0, 15.6, 0), "head": (0, 17.6, 0), "nose": (0, 17.4, -1.2),
            "l_ear": (0.8, 17.6, 0), "r_ear": (-0.8, 17.6, 0), "l_sh": (1.6, 15.6, 0), "r_sh": (-1.6, 15.6, 0),
            "l_el": (3.5, 13.3, 0), "r_el": (-3.5, 13.3, 0), "l_wr": (5.3, 11.4, -0.3), "r_wr": (-5.3, 11.4, -0.3),
            "l_hip": (1.0, 10.5, 0), "r_hip": (-1.0, 10.5, 0), "l_knee": (1.0, 5.6, -0.2),
            "r_knee": (-1.0, 5.6, -0.2), "l_ank": (1.0, 0.9, 0.2), "r_ank": (-1.0, 0.9, 0.2)}
GENE = Path(__file__).resolve().parents[2] / "shared" / "data" / "mmd" / "Gene.pmx"
JUMP = (60, 76)  # frames in the air
PEAK = 4.0       # units


def standing_then_jumping(frames: int = 120, noise: float = 0.05) -> Joints3D:
    """A person standing still (joints with measurement noise, the feet's as well), who jumps
    PEAK units high over the JUMP frames (a parabola of the body's travel) and lands."""
    rng = np.random.default_rng(0)
    joints = {k: np.array(v, float) + rng.normal(0, noise, (frames, 3)) for k, v in STANDING.items()}
    up = np.zeros((frames, 3))
    t = np.arange(*JUMP)
    s = (t - JUMP[0]) / (JUMP[1] - JUMP[0])
    up[JUMP[0]:JUMP[1], 1] = 4 * PEAK * s * (1 - s)
    return Joints3D(joints, up, 30.0, "synthetic")


def ik_targets(motion, frames: int, sk: Skeleton) -> dict[str, np.ndarray]:
    _, translations, _ = sample(motion, frames)
    return {side: translations[side + "足ＩＫ"] + sk.position(side + "足ＩＫ") for side in ("左", "右")}


def test_standing_feet_stay_put_and_a_jump_leaves_the_ground():
    sk = Skeleton.standard()
    motion, report = build_motion(standing_then_jumping(), sk)
    standing = report.standing
    middle = slice(JUMP[0] + 3, JUMP[1] - 3)
    assert not standing[middle].any()                      # in the air
    assert standing[:50].all() and standing[90:].all()     # on the ground, both feet
    targets = ik_targets(motion, report.frames, sk)
    _, translations, _ = sample(motion, report.frames)
    centre = translations["センター"][:, 1]
    for side, target in targets.items():
        for part in (slice(0, 50), slice(90, None)):       # held in place: no sliding
            assert np.abs(target[part] - target[part][0]).max() < 1e-3, side
        assert target[:, 1].min() >= sk.position(side + "足首")[1] - 1e-6  # never under the floor
        assert target[middle, 1].max() > sk.position(side + "足首")[1] + 0.7 * PEAK  # the feet leave it
    assert 0.8 * PEAK < centre.max() - np.median(centre) < 1.2 * PEAK
    assert np.ptp(centre[:50]) < 0.05                       # and standing does not bob


def test_a_swaying_body_bends_its_knees_so_the_held_feet_stay_in_reach():
    """Standing straight-legged and swaying sideways (1.5 units either way, slowly enough to
    stand): the feet are held at their median place, and センター dips where a straight leg
    could not reach them."""
    from edn.vmd.fk import pose

    joints = standing_then_jumping(frames=90)
    joints.translation[:] = 0.0
    joints.translation[:, 0] = 1.5 * np.sin(2 * np.pi * np.arange(90) / 90)
    sk = Skeleton.standard()
    motion, report = build_motion(joints, sk)
    assert report.standing.all()
    rotations, translations, _ = sample(motion, report.frames)
    positions, _ = pose(sk, rotations, translations, report.frames)
    for side, target in ik_targets(motion, report.frames, sk).items():
        leg = sk.leg_length(side)
        reach = np.linalg.norm(target - positions[:, sk.index(side + "足")], axis=1)
        assert reach.max() <= leg + 0.06, side  # the keys' 0.05 units
    dip = translations["センター"][:, 1]
    assert 0.02 < dip.max() - dip.min() < 1.0  # it dips, by centimetres


def test_fk_legs_keep_the_lowest_foot_on_the_floor_and_write_no_ik_bone():
    sk = Skeleton.standard()
    motion, report = build_motion(standing_then_jumping(), sk, Options(fk_legs=True))
    assert report.standing is None and not {k.name for k in motion.bones} & {"左足ＩＫ", "右足ＩＫ"}
    _, translations, _ = sample(motion, report.frames)
    assert translations["センター"][:, 1].max() < 0.5       # the jump is lost, as before


def test_a_flat_sole_keeps_only_the_turn_about_the_vertical():
    forward = np.array([0.0, 0.0, -1.0])
    yaw = rot.normalize(np.array([[0.0, np.sin(0.3), 0.0, np.cos(0.3)]]))       # 34 degrees about y
    pitch = rot.normalize(np.array([[np.sin(0.2), 0.0, 0.0, np.cos(0.2)]]))     # toes down
    got = flat(rot.mul(yaw, pitch), forward)
    assert np.degrees(rot.angle(got, yaw))[0] < 1e-6


def test_travel_in_depth_follows_the_apparent_size():
    """Hips in the frame's centre, a person standing, then walking towards the camera over two
    seconds, growing from 200 to 400 px a metre (half the distance), then standing. With a
    field of view of 90 degrees across 1000 px the focal length is 500 px, so the depth goes
    from 2.5 m to 1.25 m, towards the camera (-Z)."""
    scale = np.concatenate([np.full(45, 200.0), np.linspace(200.0, 400.0, 60), np.full(45, 400.0)])
    frames = len(scale)
    keypoints = np.zeros((frames, 18, 3))
    keypoints[:, [J["l_hip"], J["r_hip"]]] = (500.0, 300.0, 1.0)
    out = travel(keypoints, scale, 30.0, (1000, 600), fov=90.0)
    assert abs(out[-1, 2] - (1.25 - 2.5) * UNITS_PER_METRE) < 0.01 * UNITS_PER_METRE
    assert np.all(np.diff(out[:, 2]) <= 1e-9) and np.abs(out[:, 0]).max() < 1e-9
    assert abs(out[-1, 1] - 0.0) < 1e-9  # the hips at the centre row: no rise
    # an outlier frame (a tracker's first frame) is dropped, not followed
    spiky = scale.copy()
    spiky[0] = 120.0
    assert abs(travel(keypoints, spiky, 30.0, (1000, 600), fov=90.0)[-1, 2] - out[-1, 2]) < 0.5
    # without the frame size: no depth
    assert np.all(travel(keypoints, scale, 30.0, None)[:, 2] == 0)


def test_in_place_keeps_depth_at_zero():
    joints = standing_then_jumping()
    joints.translation[:, 2] = np.linspace(0, 10, len(joints))
    sk = Skeleton.standard()
    for options, expected in ((Options(), 10.0), (Options(in_place=True), 0.0)):
        motion, report = build_motion(joints, sk, options)
        _, translations, _ = sample(motion, report.frames)
        assert abs(np.ptp(translations["センター"][:, 2]) - expected) < 0.3


def test_curves_keep_fewer_keys_than_lines_within_the_same_limits():
    """An eased turn (slow, fast, slow: 90 degrees about y over 60 frames) and an eased
    slide: straight lines need many keys, one Bézier curve per channel nearly none; read
    back through the curves, every frame is within the limits."""
    from edn.vmd.curves import block, curves_of, evaluate, fit
    from edn.vmd.motion import keys

    frames = 61
    s = np.linspace(0, 1, frames)
    ease = 3 * s ** 2 - 2 * s ** 3
    q = np.stack([np.zeros(frames), np.sin(ease * np.pi / 4), np.zeros(frames), np.cos(ease * np.pi / 4)], 1)
    p = np.stack([ease * 5.0, np.zeros(frames), np.zeros(frames)], 1)
    lines = keys("センター", q, p, Options(curves=False))
    curved = keys("センター", q, p, Options())
    assert len(curved) <= 3 and len(lines) >= 8
    from edn.vmd.format import Motion
    rotations, translations, _ = sample(Motion("m", curved), frames)
    assert np.degrees(rot.angle(rotations["センター"], q)).max() <= 1.0
    assert np.linalg.norm(translations["センター"] - p, axis=1).max() <= 0.05
    # the block: four curves, each read back from its own row; a straight line is y = x
    curves = ((42, 0, 85, 127), (20, 20, 107, 107), (42, 10, 85, 100), (42, 127, 85, 0))
    assert curves_of(block(curves)) == curves
    np.testing.assert_allclose(evaluate((20, 20, 107, 107), s), s, atol=1e-6)
    assert fit(s, ease)[1] < 20 and fit(s, ease)[3] > 107  # an ease: flat at both ends


def _hand(bend_deg: float, frames: int, palm: float = 30.0) -> np.ndarray:
    """One hand (T, 21, 3) seen from the side, every finger straight but for a bend of
    ``bend_deg`` at its middle joint (PIP; the thumb's IP)."""
    hand = np.zeros((frames, 21, 3))
    hand[:, :, 2] = 0.9
    bend = np.deg2rad(bend_deg)
    for base in (1, 5, 9, 13, 17):
        for k in range(4):
            # along x from the wrist; after the second joint the segments turn by the bend
            if k < 2:
                hand[:, base + k, :2] = (palm + 10 * k, 0.0)
            else:
                hand[:, base + k, :2] = (palm + 10 + 10 * (k - 1) * np.cos(bend), 10 * (k - 1) * np.sin(bend))
    return hand


def test_finger_bends_come_from_seen_hands_only_within_their_range():
    from edn.vmd.fingers import bends

    frames = 30
    seen = _hand(40.0, frames)
    hidden = _hand(40.0, frames)
    hidden[:, :, 2] = 0.2                                          # not seen: at rest
    got = bends(np.stack([seen, hidden], 1))
    assert abs(np.degrees(got["左人指２"]).mean() - 40.0) < 0.5
    assert abs(np.degrees(got["左人指１"]).mean()) < 0.5          # straight at the base
    assert np.abs(got["右人指２"]).max() == 0.0
    spiky = _hand(10.0, frames)
    spiky[15, 7, :2] = (40.0, -200.0)                              # one bad frame, a 170-degree kink
    flailing = np.degrees(bends(np.stack([spiky, spiky], 1))["左人指２"])
    assert flailing.max() < 50.0                                   # clipped and smoothed away
    small = _hand(40.0, frames, palm=8.0)                          # too small to read: at rest
    assert np.abs(bends(np.stack([small, small], 1))["左人指２"]).max() == 0.0


@pytest.mark.skipif(not GENE.is_file(), reason="../shared/data not present")
def test_a_bent_finger_curls_towards_the_palm_on_gene():
    from edn.vmd.fingers import finger_rotations
    from edn.vmd.fk import pose

    gene = Skeleton.from_pmx(GENE)
    rotations = finger_rotations({"左人指１": np.full(1, np.deg2rad(60.0)),
                                  "右人指１": np.full(1, np.deg2rad(60.0))}, gene)
    positions, _ = pose(gene, rotations, {}, 1)
    for side in ("左", "右"):
        rest, bent = gene.position(side + "人指先"), positions[0, gene.index(side + "人指先")]
        assert bent[1] < rest[1] - 0.2                             # palms down in MMD's rest pose
        base = gene.position(side + "人指１")
        before, after = rest - base, bent - base
        turned = np.degrees(np.arccos(before @ after / np.linalg.norm(before) / np.linalg.norm(after)))
        assert abs(turned - 60.0) < 1.0

"""VMD export: the file format (with independent readers), the conventions (on a real MMD
motion), forward kinematics of our motion on a real model, ground contact, lifting."""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edn.core.errors import InputError, UserError
from edn.vmd import rotations as rot
from edn.vmd.export import joints_of, load_skeletons
from edn.vmd.fk import direction_errors, pose, sample
from edn.vmd.format import (LINEAR_INTERPOLATION, BoneKey, IKKey, Motion, from_bytes, read_vmd,
                            to_bytes, write_vmd)
from edn.vmd.motion import Options, build_motion, reduce_rotations, resample
from edn.vmd.pose3d import UNITS_PER_METRE, Joints3D, lift
from edn.vmd.skeleton import Skeleton

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
GENE = SHARED / "mmd" / "Gene.pmx"
WAVE = SHARED / "mmd" / "mmdagent_onehandwave.vmd"
DANCE = SHARED / "unianimate" / "data" / "videos" / "source_video.mp4"
OPENMMD_JSON = SHARED / "openmmd" / "examples" / "media" / "motion_sample_1" / "_json"
NODE_MODULES = ROOT / ".cache" / "npm" / "node_modules"
needs = pytest.mark.skipif


def test_the_bytes_of_a_small_motion():
    motion = Motion("テスト", [BoneKey("センター", 3, (1.0, 2.0, 3.0), (0.0, 0.0, 0.0, 1.0)),
                             BoneKey("左ひじ", 7, (0.0, 0.0, 0.0), (0.1, 0.2, 0.3, 0.927))],
                    [IKKey(0, True, {"左足ＩＫ": False, "右つま先ＩＫ": False})])
    data = to_bytes(motion)
    assert data[:30] == b"Vocaloid Motion Data 0002" + bytes(5)
    assert data[30:50] == "テスト".encode("cp932").ljust(20, b"\0")
    assert struct.unpack_from("<I", data, 50) == (2,)
    record = data[54:54 + 111]
    assert record[:15] == "センター".encode("cp932").ljust(15, b"\0")
    assert struct.unpack_from("<I3f4f", record, 15) == (3, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0)
    assert record[47:] == LINEAR_INTERPOLATION
    after = 54 + 2 * 111
    assert struct.unpack_from("<4I", data, after) == (0, 0, 0, 0)
    assert struct.unpack_from("<IIBI", data, after + 16) == (1, 0, 1, 2)
    assert len(data) == after + 16 + 4 + 9 + 2 * 21
    back = from_bytes(data)
    assert back.model_name == "テスト" and back.ik == motion.ik
    assert [(k.name, k.frame) for k in back.bones] == [("センター", 3), ("左ひじ", 7)]
    np.testing.assert_allclose(back.bones[1].rotation, (0.1, 0.2, 0.3, 0.927), atol=1e-7)


def test_a_name_that_does_not_fit_is_an_error_not_a_cut():
    long = Motion("m", [BoneKey("右人差指先先先先", 0, (0, 0, 0), (0, 0, 0, 1))])  # 16 bytes
    with pytest.raises(UserError, match="16 bytes in Shift-JIS; a VMD field holds 15"):
        to_bytes(long)
    with pytest.raises(InputError, match="not a VMD file"):
        from_bytes(b"Vocaloid Motion Data file\0\0\0\0\0" + bytes(30))
    with pytest.raises(InputError, match="cut short"):
        from_bytes(to_bytes(Motion("m", [BoneKey("頭", 0, (0, 0, 0), (0, 0, 0, 1))]))[:80])


@pytest.fixture(scope="module")
def lifted_motion(tmp_path_factory):
    """A real 2D dance (OpenMMD's sample, COCO-18 JSON) lifted and exported for Gene."""
    if not (OPENMMD_JSON.is_dir() and GENE.is_file()):
        pytest.skip("../shared/data not present")
    skeletons = load_skeletons(OPENMMD_JSON, fps=30.0)
    joints = joints_of(skeletons)
    assert joints.source.startswith("lifted from 2D")
    motion, report = build_motion(joints, Skeleton.from_pmx(GENE))
    path = tmp_path_factory.mktemp("vmd") / "lifted.vmd"
    write_vmd(path, motion)
    return path, motion, report


def test_our_reader_and_mmd_bone_tools_read_back_what_we_wrote(lifted_motion):
    from mmd_bone_tools.vmd import load_vmd

    path, motion, report = lifted_motion
    assert report.keys_after == len([k for k in motion.bones]) < report.keys_before
    ours, theirs = read_vmd(path), load_vmd(path)
    assert theirs.model_name == ours.model_name == motion.model_name
    assert [(b.name, b.frame) for b in theirs.bones] == [(b.name, b.frame) for b in motion.bones]
    np.testing.assert_allclose([b.rotation for b in theirs.bones], [b.rotation for b in motion.bones], atol=1e-6)
    np.testing.assert_allclose([b.position for b in theirs.bones], [b.position for b in motion.bones], atol=1e-6)
    # Bézier curves between keys (the default), byte for byte
    assert [bytes(b.interpolation) for b in theirs.bones] == [b.interpolation for b in motion.bones]
    assert sum(b.interpolation != LINEAR_INTERPOLATION for b in motion.bones) > len(motion.bones) / 4
    # IK legs (the default): the foot IK bones' keys, IK left on
    assert {"左足ＩＫ", "右足ＩＫ"} <= {b.name for b in theirs.bones} and theirs.ik == [] and ours.ik == []
    # FK legs: one IK-off frame at frame 0 for Gene's leg and toe IK bones, read by both
    fk_motion, _ = build_motion(joints_of(load_skeletons(OPENMMD_JSON, fps=30.0)), Skeleton.from_pmx(GENE),
                                Options(fk_legs=True))
    write_vmd(path.with_name("fk.vmd"), fk_motion)
    ours, theirs = read_vmd(path.with_name("fk.vmd")), load_vmd(path.with_name("fk.vmd"))
    expected = {"左足ＩＫ": False, "左つま先ＩＫ": False, "右足ＩＫ": False, "右つま先ＩＫ": False}
    assert [(f.frame, f.visible, {s.name: s.enabled for s in f.states}) for f in theirs.ik] == [(0, True, expected)]
    assert ours.ik == [IKKey(0, True, expected)]
    assert not {"左足ＩＫ", "右足ＩＫ"} & {b.name for b in theirs.bones}


@needs(shutil.which("node") is None or not (NODE_MODULES / "mmd-parser").is_dir(),
       reason="node or npm mmd-parser (make test installs it) not present")
def test_threejs_mmd_parser_reads_back_what_we_wrote(lifted_motion, tmp_path):
    path, motion, _ = lifted_motion
    script = tmp_path / "read.js"
    script.write_text(
        "const {Parser} = require('mmd-parser');\n"
        "const buf = require('fs').readFileSync(process.argv[2]);\n"
        "const vmd = new Parser().parseVmd(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length), false);\n"
        "console.log(JSON.stringify({name: vmd.metadata.name, motions: vmd.motions.map(m => "
        "[m.boneName, m.frameNum, Array.from(m.position), Array.from(m.rotation)])}));\n")
    out = subprocess.run(["node", str(script), str(path)], capture_output=True, text=True, timeout=60,
                         env={"NODE_PATH": str(NODE_MODULES), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    parsed = json.loads(out.stdout)
    assert parsed["name"] == motion.model_name
    assert [(m[0], m[1]) for m in parsed["motions"]] == [(b.name, b.frame) for b in motion.bones]
    np.testing.assert_allclose([m[3] for m in parsed["motions"]], [b.rotation for b in motion.bones], atol=1e-6)
    np.testing.assert_allclose([m[2] for m in parsed["motions"]], [b.position for b in motion.bones], atol=1e-6)


@needs(not (WAVE.is_file() and GENE.is_file()), reason="../shared/data not present")
def test_a_real_motion_waves_above_the_elbow_and_in_front_of_the_body():
    """mmdagent's one-hand wave on Gene, posed by our reader and FK: the conventions
    (quaternion order and handedness, local = parent^-1 . world, -Z is the front) hold."""
    gene = Skeleton.from_pmx(GENE)
    rotations, translations, frames = sample(read_vmd(WAVE))

    def wave(rotations):
        positions, _ = pose(gene, rotations, translations, frames)
        wrist, elbow = positions[:, gene.index("右手首")], positions[:, gene.index("右ひじ")]
        top = int(np.argmax(wrist[:, 1] - elbow[:, 1]))
        return wrist[top, 1] - elbow[top, 1], wrist[top, 2] - positions[top, gene.index("上半身2"), 2]

    above, ahead = wave(rotations)
    assert above > 1.5 and ahead < -1.0  # 2.2 units above the elbow, 1.6 in front
    above, ahead = wave({k: rot.conjugate(v) for k, v in rotations.items()})
    assert ahead > 0  # the opposite convention would wave behind the back


@needs(not (DANCE.is_file() and GENE.is_file()), reason="../shared/data not present")
def test_gene_moves_like_the_dancer_and_keeps_her_feet_on_the_floor(tmp_path):
    gene = Skeleton.from_pmx(GENE)
    skeletons = load_skeletons(DANCE, progress=False)
    joints = joints_of(skeletons)
    assert joints.source == "MediaPipe world landmarks"
    motion, report = build_motion(joints, gene, Options(fk_legs=True))
    write_vmd(tmp_path / "dance.vmd", motion)
    motion = read_vmd(tmp_path / "dance.vmd")
    rotations, translations, _ = sample(motion, report.frames)
    positions, _ = pose(gene, rotations, translations, report.frames)
    errors = direction_errors(gene, positions, resample(joints).joints)
    assert errors.mean() <= 5.0 and np.percentile(errors, 95) <= 15.0
    feet = [gene.index(n) for n in ("左足首", "右足首", gene.toe("左"), gene.toe("右"))]
    lowest = (positions[:, feet, 1] - gene.rest[feet, 1]).min(1)
    assert np.percentile(lowest, 95) - np.percentile(lowest, 5) <= 1.0
    assert abs(np.median(lowest)) < 0.1
    # IK legs (the default): the same FK rotations, as IK's starting pose, and the IK bones
    ik_motion, _ = build_motion(joints, gene)
    names = {k.name for k in ik_motion.bones}
    assert {"左足ＩＫ", "右足ＩＫ", "左足", "右ひざ", "左足首"} <= names and ik_motion.ik == []
    rotations, translations, _ = sample(ik_motion, report.frames)
    positions, _ = pose(gene, rotations, translations, report.frames)
    errors = direction_errors(gene, positions, resample(joints).joints)
    assert errors.mean() <= 5.0 and np.percentile(errors, 95) <= 15.0


def _standing(frames: int, rng: np.random.Generator, noise: float) -> Joints3D:
    """A person standing still in an A-pose (MMD units), with measurement noise."""
    base = {"pelvis": (0, 10.5, 0), "neck": (0, 15.6, 0), "head": (0, 17.6, 0), "nose": (0, 17.4, -1.2),
            "l_ear": (0.8, 17.6, 0), "r_ear": (-0.8, 17.6, 0), "l_sh": (1.6, 15.6, 0), "r_sh": (-1.6, 15.6, 0),
            "l_el": (3.5, 13.3, 0), "r_el": (-3.5, 13.3, 0), "l_wr": (5.3, 11.4, -0.3), "r_wr": (-5.3, 11.4, -0.3),
            "l_hip": (1.0, 10.5, 0), "r_hip": (-1.0, 10.5, 0), "l_knee": (1.0, 5.6, -0.2),
            "r_knee": (-1.0, 5.6, -0.2), "l_ank": (1.0, 0.9, 0.2), "r_ank": (-1.0, 0.9, 0.2)}
    return Joints3D({k: np.array(v, float) + rng.normal(0, noise, (frames, 3)) for k, v in base.items()},
                    np.zeros((frames, 3)), 30.0, "synthetic")


def test_standing_still_neither_bobs_nor_keeps_every_frame():
    joints = _standing(120, np.random.default_rng(0), noise=0.03)
    motion, report = build_motion(joints, Skeleton.standard())
    center = np.array([k.position for k in motion.bones if k.name == "センター"])
    assert np.ptp(center[:, 1]) < 0.05
    assert report.keys_after < 0.2 * report.keys_before
    frames = {k.frame for k in motion.bones}
    assert 0 in frames and report.frames - 1 in frames  # first and last frame always kept


def test_quaternion_tracks_stay_continuous_and_reduction_keeps_the_ends():
    angles = np.linspace(0, 4 * np.pi, 200)  # two full turns about y
    q = np.stack([np.zeros(200), np.sin(angles / 2), np.zeros(200), np.cos(angles / 2)], 1)
    q[1::2] *= -1  # the same rotations with alternating signs
    c = rot.continuous(q)
    assert ((c[1:] * c[:-1]).sum(1) > 0).all()
    kept = reduce_rotations(c, np.deg2rad(1.0))
    assert kept[0] == 0 and kept[-1] == 199 and len(kept) < 20  # a constant turn: few keys


def test_lifting_recovers_a_bent_pose_from_its_projection():
    """A person of the lifting's own proportions, knees bent forward and forearms raised in
    front, projected without depth: the lifting puts each bone's depth back on the side the
    joint limits allow and its length from the known bone lengths."""
    from edn.core.keypoints import J
    from edn.vmd.pose3d import _COCO, _LIFT_TREE

    directions = {"neck": (0, 1, 0), "nose": (0, 0.6, -0.8), "l_ear": (0.4, 0.9, 0), "r_ear": (-0.4, 0.9, 0),
                  "l_sh": (1, 0, 0), "r_sh": (-1, 0, 0), "l_el": (0.5, -0.85, -0.2), "r_el": (-0.5, -0.85, -0.2),
                  "l_wr": (0.1, 0.3, -0.95), "r_wr": (-0.1, 0.3, -0.95), "l_hip": (1, 0, 0), "r_hip": (-1, 0, 0),
                  "l_knee": (0, -0.8, -0.6), "r_knee": (0, -0.8, -0.6), "l_ank": (0, -0.9, 0.45), "r_ank": (0, -0.9, 0.45)}
    joints = {"pelvis": np.zeros(3)}
    for child, parent, length, _ in _LIFT_TREE:
        joints[child] = joints[parent] + rot.normalize(np.array(directions[child], float)) * length * UNITS_PER_METRE
    keypoints = np.zeros((5, 18, 3))
    for name, index in _COCO.items():
        keypoints[:, index] = (300 + joints[name][0] * 20, 400 - joints[name][1] * 20, 1.0)
    lifted = lift(keypoints, 30.0).joints
    for child, parent, _, _ in _LIFT_TREE:
        truth = rot.normalize(joints[child] - joints[parent])
        got = rot.normalize(lifted[child][0] - lifted[parent][0])
        assert np.degrees(np.arccos(np.clip(truth @ got, -1, 1))) < 3, (parent, child)
    assert J["l_knee"] == _COCO["l_knee"]


@needs(not GENE.is_file(), reason="../shared/data not present")
def test_a_model_without_the_bones_we_drive_is_refused_by_name(tmp_path):
    from mmd_bone_tools.pmx import load_pmx, save_pmx

    model = load_pmx(GENE)
    for bone in model.bones:
        if bone.name in ("左ひじ", "首"):
            bone.name = bone.name + "x"
    save_pmx(model, tmp_path / "broken.pmx")
    with pytest.raises(InputError, match="lacks the bones 首, 左ひじ"):
        Skeleton.from_pmx(tmp_path / "broken.pmx")
    (tmp_path / "junk.pmx").write_bytes(b"PMX \0\0")
    with pytest.raises(InputError, match="not a readable PMX model"):
        Skeleton.from_pmx(tmp_path / "junk.pmx")


def test_the_standard_model_has_the_driven_bones_and_drooping_arms():
    standard = Skeleton.standard()
    standard.check()
    arm = standard.position("左ひじ") - standard.position("左腕")
    assert 30 <= np.degrees(np.arctan2(-arm[1], arm[0])) <= 35
    assert standard.position("左腕")[0] > 0 and standard.toe("右") == "右つま先"
    assert UNITS_PER_METRE == 12.5


def test_command_line_errors_are_one_line_and_leave_no_file(tmp_path):
    import os
    import sys

    from tests.helpers.tiny_training import noise_video

    video = noise_video(tmp_path / "noise.mp4", 6)

    def run(*args):
        return subprocess.run([sys.executable, "main/to_vmd.py", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))

    r = run(str(video), "-o", str(tmp_path / "d.vmd"), "--quiet")
    assert r.returncode == 1 and "no person found in any of the 6 frames" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "d.vmd").exists()
    (tmp_path / "d.vmd").write_bytes(b"")
    r = run(str(video), "-o", str(tmp_path / "d.vmd"))
    assert r.returncode == 1 and "exists (use --overwrite" in r.stderr
    r = run(str(tmp_path / "none.mp4"), "-o", str(tmp_path / "e.vmd"))
    assert r.returncode == 1 and "no such file" in r.stderr

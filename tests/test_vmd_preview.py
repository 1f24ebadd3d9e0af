"""The preview page (edn.vmd.preview) as a user sees it: opened from file:// in headless
Chromium (Debian's package; `make test` installs it), the motion played by babylon-mmd with
MMD's own IK, its bones where our FK puts them, the stick figure drawn."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape

import numpy as np
import pytest

from edn.vmd import rotations as rot
from edn.vmd.fk import pose, sample
from edn.vmd.motion import build_motion
from edn.vmd.preview import BABYLON, BABYLON_MMD, NODE_MODULES, write_preview
from edn.vmd.skeleton import Skeleton
from tests.test_vmd_ground import JUMP, standing_then_jumping

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or not (NODE_MODULES / BABYLON).is_file() or not (NODE_MODULES / BABYLON_MMD).is_file(),
    reason="chromium or npm babylon.js / babylon-mmd not installed (make setup, make test install them)")
FLAGS = ["--headless", "--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader",
         "--window-size=1280,720", "--virtual-time-budget=20000"]
# Bones MMD poses by FK alone: the page must put them where our FK does (float32 in the page)
FK_BONES = ["センター", "上半身", "上半身2", "首", "頭"] + [
    side + b for side in ("左", "右") for b in ("肩", "腕", "ひじ", "手首", "足")]


def probe(page, frames: list[int]) -> dict:
    """The page's bones at ``frames``, read from the DOM Chromium leaves."""
    out = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", f"file://{page}#probe={','.join(map(str, frames))}"],
                         capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="probe"[^>]*data-done="1"[^>]*>(.*?)</pre>', out.stdout, re.S)
    status = re.search(r'<pre id="status">(.*?)</pre>', out.stdout, re.S)
    assert found, f"no probe in the page; its status: {status and unescape(status.group(1))}"
    return {int(k): v for k, v in json.loads(unescape(found.group(1))).items()}


def test_the_page_plays_the_motion_where_our_fk_puts_it(tmp_path):
    sk = Skeleton.standard()
    joints = standing_then_jumping()
    joints.joints["l_wr"] = joints.joints["l_wr"] + np.linspace(0, 6, len(joints))[:, None] * (0, 1, -0.3)  # an arm rises
    motion, report = build_motion(joints, sk)
    frames = (np.random.default_rng(0).integers(0, 255, (len(joints), 90, 60, 3))).astype(np.uint8)
    page = tmp_path / "preview.html"
    preview = write_preview(page, motion, sk, None, iter(frames), 30.0, "test")
    assert preview.frames == len(joints) // 2 and page.stat().st_size == preview.size
    peak = (JUMP[0] + JUMP[1]) // 2
    at = [0, 40, peak, 110]
    seen = probe(page, at)
    rotations, translations, _ = sample(motion, report.frames)
    ours, _ = pose(sk, rotations, translations, report.frames)
    for t in at:
        for bone in FK_BONES:
            np.testing.assert_allclose(seen[t][bone], ours[t, sk.index(bone)], atol=2e-3, err_msg=f"{bone} at {t}")
        for side in ("左", "右"):  # MMD's IK puts the ankle on our foot IK target (within 8 mm:
            # it starts from the FK legs, straight here, and bends the knee from there)
            target = translations[side + "足ＩＫ"][t] + sk.position(side + "足ＩＫ")
            assert np.linalg.norm(np.subtract(seen[t][side + "足首"], target)) < 0.1, (side, t)
            # and the toe, by the toe IK riding on the foot IK's rotation, where that rotation puts it
            toe = sk.toe(side)
            turned = rot.rotate(rotations[side + "足ＩＫ"][t], sk.position(toe) - sk.position(side + "足首"))
            assert np.linalg.norm(np.subtract(seen[t][toe], target + turned)) < 0.1, (toe, t)
    assert seen[peak]["センター"][1] - seen[0]["センター"][1] > 3.0  # the jump, in the page too


def test_the_page_shows_the_stick_figure_and_the_source_frame(tmp_path):
    sk = Skeleton.standard()
    motion, _ = build_motion(standing_then_jumping(), sk)
    green = np.zeros((120, 90, 60, 3), np.uint8)
    green[..., 1] = 200
    page = tmp_path / "preview.html"
    write_preview(page, motion, sk, None, iter(green), 30.0, "test")
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--screenshot={shot}", f"file://{page}"], capture_output=True, timeout=180)
    import cv2
    image = cv2.imread(str(shot))[..., ::-1].astype(int)
    sticks = (np.abs(image - (255, 191, 77)) < 40).all(-1)        # the sticks' colour
    source = (np.abs(image - (0, 200, 0)) < 40).all(-1)           # the source frame beside it
    assert sticks[:, :860].sum() > 300 and source[:, 860:].sum() > 20000

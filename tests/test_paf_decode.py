"""PAF grouping: the C++ extension against its NumPy reference, on synthetic scenes and on
real multi-person ground truth rendered as ideal network outputs."""
from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from edn.core.keypoints import read_coco_keypoints
from pose_detector.openpose import paf
from pose_detector.openpose.maps import (recovered_keypoints, render_ideal_maps, resolvable_keypoints,
                                         synthetic_people)
from pose_detector.openpose.paf import PafParams, decode, decode_numpy

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GROUND_TRUTH = {
    "coco_minival": SHARED / "coco_minival" / "person_keypoints_val2017.json",
    "mmpose_coco": SHARED / "mmpose_testdata/tests/data/coco/test_coco.json",
    "ochuman": SHARED / "mmpose_testdata/tests/data/ochuman/test_ochuman.json",
    "crowdpose": SHARED / "mmpose_testdata/tests/data/crowdpose/test_crowdpose.json",
}


def same(a: paf.Decoded, b: paf.Decoded) -> bool:
    return (a.people.shape == b.people.shape and np.allclose(a.people, b.people, atol=1e-4)
            and np.allclose(a.scores, b.scores, atol=1e-5))


def test_the_extension_is_built():
    """`make test` installs the package, which compiles it (setup.py)."""
    assert paf.has_extension()


@pytest.mark.parametrize("count", [1, 5, 20])
def test_synthetic_people_come_back_whole_and_both_implementations_agree(count):
    people = synthetic_people(count, 368, 656, seed=count)
    heat, pafs = render_ideal_maps(people, 368, 656)
    found = decode(heat, pafs)
    assert same(found, decode_numpy(heat, pafs))
    assert len(found.people) == count
    hits = recovered_keypoints(np.stack(people), np.ones((count, 18), bool), found.people, 8 / 4)
    assert hits.tolist() == [18] * count
    assert (found.scores > 1.5).all()  # peak ~1 plus connection ~1 per part


def test_sub_pixel_peaks_and_a_part_beyond_the_last_cell_centre():
    """Peaks are not truncated to cells: a joint 0.37 cell off a centre, and one outside the
    outermost cell centres (x = 1 px: cell -0.31), come back within a tenth of a cell."""
    person = synthetic_people(1, 368, 656)[0]
    person[:, 0] += 100 + 0.37 * 8 - person[:, 0].min()  # leftmost joint 0.37 cell off centre
    person[4] = (1.0, person[4, 1], 1)  # the right wrist near the left border
    heat, pafs = render_ideal_maps([person], 368, 656)
    for result in (decode(heat, pafs), decode_numpy(heat, pafs)):
        assert len(result.people) == 1
        assert np.abs(result.people[0, :, :2] - person[:, :2]).max() < 0.8


def test_thresholds_are_the_documented_defaults_and_take_effect():
    p = PafParams()
    assert (p.peak_threshold, p.inter_threshold, p.inter_min_above, p.min_parts, p.min_mean_score) == \
        (0.05, 0.05, 0.95, 3, 0.4)
    person = synthetic_people(1, 368, 656)[0]
    pair = person.copy()
    pair[2:, 2] = 0  # nose and neck only: one limb
    heat, pafs = render_ideal_maps([pair], 368, 656)
    assert len(decode(heat, pafs).people) == 0
    kept = decode(heat, pafs, params=PafParams(min_parts=2))
    assert len(kept.people) == 1 and (kept.people[0, :, 2] > 0).sum() == 2
    # a weak heatmap (peaks at 0.04) has no peaks at the default threshold
    heat, pafs = render_ideal_maps([person], 368, 656)
    assert len(decode(heat * 0.04, pafs).people) == 0
    assert len(decode(heat * 0.04, pafs, params=PafParams(peak_threshold=0.01, min_mean_score=0)).people) == 1


def test_a_reversed_limb_field_is_not_a_limb():
    person = synthetic_people(1, 368, 656)[0]
    heat, pafs = render_ideal_maps([person], 368, 656)
    pafs[paf.LIMB_PAF[6][0]] *= -1  # neck -> right hip field points backwards
    pafs[paf.LIMB_PAF[6][1]] *= -1
    for result in (decode(heat, pafs), decode_numpy(heat, pafs)):
        legs_apart = [p for p in result.people if p[8, 2] > 0 and p[1, 2] > 0]
        assert legs_apart == []  # the right hip no longer hangs from the neck


def test_threads_share_nothing():
    scenes = [render_ideal_maps(synthetic_people(n, 368, 656, seed=n), 368, 656) for n in (1, 7, 20)]
    expected = [decode(h, p) for h, p in scenes]
    failures = []

    def work(k: int) -> None:
        for _ in range(30):
            h, p = scenes[k % 3]
            if not same(decode(h, p), expected[k % 3]):
                failures.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_without_the_extension_numpy_groups_and_says_so(monkeypatch, caplog):
    heat, pafs = render_ideal_maps(synthetic_people(3, 368, 656), 368, 656)
    expected = decode(heat, pafs)
    paf._extension.cache_clear()
    monkeypatch.setitem(sys.modules, "pose_detector._pafprocess", None)  # import fails
    try:
        with caplog.at_level(logging.WARNING):
            assert same(decode(heat, pafs), expected)
            assert same(decode(heat, pafs), expected)
        notices = [r for r in caplog.records if "not built" in r.getMessage()]
        assert len(notices) == 1 and "\n" not in notices[0].getMessage()
    finally:
        paf._extension.cache_clear()


def test_bad_maps_are_refused():
    heat, pafs = render_ideal_maps(synthetic_people(1, 64, 64), 64, 64)
    with pytest.raises(ValueError, match="pafs"):
        decode(heat, pafs[:10])
    with pytest.raises(ValueError, match="heatmaps"):
        decode(heat[0], pafs)


@pytest.mark.parametrize("name", list(GROUND_TRUTH))
def test_real_multi_person_ground_truth_is_recovered(name):
    """Every resolvable labelled joint (pose_detector.openpose.maps.resolvable_keypoints) of
    every person with at least 4 labelled joints, on its own person, within 1/4 cell; the
    C++ and NumPy groupings give identical people on every image."""
    path = GROUND_TRUTH[name]
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    found = total = 0
    for image in read_coco_keypoints(path):
        heat, pafs = render_ideal_maps(image.people, image.height, image.width)
        result = decode(heat, pafs)
        assert same(result, decode_numpy(heat, pafs)), image.file_name
        evaluated = image.labelled.sum(1) >= 4
        resolvable = resolvable_keypoints(image.people, image.labelled)
        hits = recovered_keypoints(image.people, resolvable, result.people, 8 / 4)
        found += hits[evaluated].sum()
        total += resolvable[evaluated].sum()
    assert total > 40
    assert found / total >= 0.98

"""Ideal network outputs for known people: the training targets of CMU's COCO body model,
rendered at the network's resolution. ``decode`` of these maps must give the people back,
which proves the grouping without the trained weights (tests/test_paf_decode.py,
bench/paf_decode.py)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pose_detector.openpose.paf import LIMB_PAF, LIMBS, NUM_PARTS

# CMU trained with a Gaussian of sigma 7 input pixels around each part: 7/8 of a cell.
HEATMAP_SIGMA = 7.0 / 8.0
LIMB_WIDTH = 1.0  # cells either side of a limb's axis where its PAF is set


def map_size(height: int, width: int, stride: float) -> tuple[int, int]:
    """Cells covering an image of height x width pixels."""
    return int(np.ceil(height / stride)), int(np.ceil(width / stride))


def render_ideal_maps(people: Sequence[np.ndarray], height: int, width: int, stride: float = 8.0,
                      sigma: float = HEATMAP_SIGMA, limb_width: float = LIMB_WIDTH,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(19, h, w) heatmaps and (38, h, w) PAFs of ``people`` ((18, 3) arrays in image pixels,
    confidence > 0 = present), with the cell convention of ``pose_detector.openpose.paf``.

    Heatmap: per part the maximum over people of a Gaussian (``sigma`` cells) at the part;
    background channel = 1 - the maximum over parts. PAF: the unit vector from a limb's first
    part to its second on every cell within ``limb_width`` of the segment between them,
    averaged where limbs of several people overlap (CMU's targets)."""
    h, w = map_size(height, width, stride)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    heat = np.zeros((NUM_PARTS + 1, h, w), np.float64)
    paf = np.zeros((2 * len(LIMBS), h, w), np.float64)
    count = np.zeros((len(LIMBS), h, w), np.float64)
    for person in people:
        cells = (np.asarray(person, np.float64)[:, :2] + 0.5) / stride - 0.5
        present = np.asarray(person)[:, 2] > 0
        for part in np.nonzero(present)[0]:
            cx, cy = cells[part]
            heat[part] = np.maximum(heat[part], np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma ** 2)))
        for k, ((a, b), (chx, chy)) in enumerate(zip(LIMBS, LIMB_PAF)):
            if not (present[a] and present[b]):
                continue
            d = cells[b] - cells[a]
            length = float(np.hypot(*d))
            if length < 1e-9:
                continue
            u = d / length
            rx, ry = xs - cells[a][0], ys - cells[a][1]
            along = rx * u[0] + ry * u[1]
            across = np.abs(rx * u[1] - ry * u[0])
            on = (along >= -limb_width) & (along <= length + limb_width) & (across <= limb_width)
            paf[chx][on] += u[0]
            paf[chy][on] += u[1]
            count[k][on] += 1
    for k, (chx, chy) in enumerate(LIMB_PAF):
        seen = count[k] > 0
        paf[chx][seen] /= count[k][seen]
        paf[chy][seen] /= count[k][seen]
    heat[NUM_PARTS] = 1.0 - heat[:NUM_PARTS].max(0)
    return heat.astype(np.float32), paf.astype(np.float32)


def recovered_keypoints(truth: np.ndarray, labelled: np.ndarray, found: np.ndarray,
                        tolerance: float) -> np.ndarray:
    """Per ground-truth person, how many of its labelled joints the decoded person assigned
    to it holds within ``tolerance`` pixels. People are assigned one to one so that the
    total is largest (a joint found on another person does not count).

    truth: (P, 18, 3); labelled: (P, 18) bool; found: (Q, 18, 3), confidence > 0 = found."""
    from scipy.optimize import linear_sum_assignment

    hits = np.zeros((len(truth), len(found)), int)
    for q, person in enumerate(found):
        close = np.linalg.norm(truth[:, :, :2] - person[None, :, :2], axis=2) <= tolerance
        hits[:, q] = (close & labelled & (person[None, :, 2] > 0)).sum(1)
    out = np.zeros(len(truth), int)
    if len(truth) and len(found):
        rows, cols = linear_sum_assignment(-hits)
        out[rows] = hits[rows, cols]
    return out


# Two peaks of one part closer than this (cells) cannot both be maxima of the map grid.
PEAK_SEPARATION = 2.0


def resolvable_keypoints(people: np.ndarray, labelled: np.ndarray, stride: float = 8.0) -> np.ndarray:
    """(P, 18) bool: the labelled joints that any PAF grouping can give back from ideal maps
    at ``stride``. A joint is not resolvable when the same part of another person lies within
    ``PEAK_SEPARATION`` cells (their Gaussians form a single peak), or when it is not linked to
    its person's largest group of separate joints through limbs whose both ends are labelled
    (a wrist without its elbow, or the hips of a person without a neck: COCO-18's neck is the
    shoulders' midpoint, so it needs both shoulders)."""
    people = np.asarray(people, np.float64)
    present = people[:, :, 2] > 0
    separate = present.copy()
    for p in range(len(people)):
        for q in range(len(people)):
            if p != q:
                close = np.linalg.norm(people[p, :, :2] - people[q, :, :2], axis=1) < PEAK_SEPARATION * stride
                separate[p] &= ~(close & present[q])
    out = np.zeros_like(present)
    for p in range(len(people)):
        group = list(range(NUM_PARTS))

        def root(j: int) -> int:
            while group[j] != j:
                j = group[j]
            return j

        for a, b in LIMBS:
            if separate[p, a] and separate[p, b]:
                group[root(a)] = root(b)
        roots = [root(j) for j in range(NUM_PARTS)]
        sizes = {r: sum(separate[p, j] and roots[j] == r for j in range(NUM_PARTS)) for r in set(roots)}
        if any(sizes.values()):
            biggest = max(sizes, key=lambda r: sizes[r])
            out[p] = [separate[p, j] and roots[j] == biggest for j in range(NUM_PARTS)]
    return out & labelled


# A standing person facing the camera, COCO-18, in units of its height (head top at y = -0.5).
_STANDING = np.array([
    [0.0, -0.40], [0.0, -0.30], [-0.11, -0.30], [-0.14, -0.12], [-0.16, 0.03], [0.11, -0.30],
    [0.14, -0.12], [0.16, 0.03], [-0.07, 0.0], [-0.08, 0.24], [-0.08, 0.48], [0.07, 0.0],
    [0.08, 0.24], [0.08, 0.48], [-0.03, -0.43], [0.03, -0.43], [-0.06, -0.41], [0.06, -0.41]])


def synthetic_people(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` standing people side by side in rows across an image (each (18, 3), every
    joint present), jittered by ``seed``: test and benchmark scenes with known truth."""
    rng = np.random.default_rng(seed)
    per_row = min(count, 10)
    rows = -(-count // per_row)
    size = min(height / rows * 0.8, width / per_row * 2.2)
    people = []
    for k in range(count):
        r, c = divmod(k, per_row)
        centre = np.array([(c + 0.5) * width / per_row, (r + 0.5) * height / rows])
        xy = centre + _STANDING * size * rng.uniform(0.9, 1.0) + rng.uniform(-2, 2, (18, 2))
        people.append(np.concatenate([xy, np.ones((18, 1))], 1).astype(np.float32))
    return people

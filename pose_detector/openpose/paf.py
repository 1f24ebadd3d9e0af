"""Part-affinity-field grouping (Cao et al., 2017): heatmaps and PAFs -> people.

The algorithm is CMU's, step by step:
1. Heatmaps are smoothed with a Gaussian (sigma ``smooth_sigma`` image pixels, i.e.
   ``smooth_sigma / stride`` map cells; edges repeat the border value).
2. Peaks: a cell above ``peak_threshold`` and at least as high as its four neighbours
   (outside the map counts as 0). Its position is refined to a sub-pixel one by fitting a
   Gaussian (a parabola in log space) through it and its two neighbours on each axis, exact
   for a Gaussian peak; its score is the unsmoothed heatmap value there.
3. The 19 COCO limbs (``LIMBS``, with the PAF channel pairs of ``LIMB_PAF``): every pair of
   candidate peaks (a, b) of the limb's two parts is scored by sampling the PAF at ``samples``
   evenly spaced points from a to b (fixed 10, as CMU's Python demo; OpenPose's C++ varies
   the count with the limb length), bilinearly, and taking the dot product with the unit
   vector from a to b. Score = the samples' mean + min(0.5 * map height / |b - a| - 1, 0),
   the distance penalty for limbs longer than half the image.
4. A pair is a candidate when more than ``inter_min_above`` of its samples exceed
   ``inter_threshold`` and its score is positive. Candidates are taken greedily by score,
   each peak in at most one connection per limb.
5. People are assembled limb by limb, as CMU's demo: a connection that shares a peak with one
   person extends that person; one that joins two people with disjoint parts merges them;
   one that touches nobody starts a person (except for the two redundant ear-shoulder
   limbs). Where CMU overwrote a part slot that already held another peak (and counted the
   part twice) the first peak is kept.
6. People with fewer than ``min_parts`` parts or a mean score (peak scores plus connection
   scores, per part) below ``min_mean_score`` are dropped.

Defaults are OpenPose's: peak 0.05, inter threshold 0.05, fraction 0.95, 3 parts, mean
score 0.4. Maps are channel-first, (19, h, w) heatmaps (18 parts + background) and (38, h, w)
PAFs, with ``stride`` image pixels per cell; cell (i, j) is centred on image pixel
((j + 0.5) * stride - 0.5, (i + 0.5) * stride - 0.5).

``decode`` runs the C++ extension ``pose_detector._pafprocess`` (built by setup.py) and
falls back to ``decode_numpy``, the reference implementation here, with a one-line notice
when the extension is missing.
"""
from __future__ import annotations

import functools
import importlib
import logging
import math
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

NUM_PARTS = 18
# CMU's limbSeq (0-based COCO-18 parts) and mapIdx - 19 (x, y channels of each limb's PAF).
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
    (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17))
LIMB_PAF: tuple[tuple[int, int], ...] = (
    (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7),
    (8, 9), (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27))
REDUNDANT_LIMBS = 2  # the last two (ear-shoulder) never start a person


@dataclass(frozen=True)
class PafParams:
    """Thresholds of the grouping (OpenPose's defaults)."""
    peak_threshold: float = 0.05
    inter_threshold: float = 0.05
    inter_min_above: float = 0.95
    min_parts: int = 3
    min_mean_score: float = 0.4
    samples: int = 10
    smooth_sigma: float = 3.0  # image pixels


@dataclass
class Decoded:
    """people: (P, 18, 3) x, y (image pixels), peak score (0 = part not found);
    scores: (P,) each person's mean score per part."""
    people: np.ndarray
    scores: np.ndarray


def _check_maps(heatmaps: np.ndarray, pafs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    heatmaps = np.ascontiguousarray(heatmaps, np.float32)
    pafs = np.ascontiguousarray(pafs, np.float32)
    if heatmaps.ndim != 3 or heatmaps.shape[0] < NUM_PARTS:
        raise ValueError(f"heatmaps must be (19, h, w), not {heatmaps.shape}")
    if pafs.shape != (2 * len(LIMBS), *heatmaps.shape[1:]):
        raise ValueError(f"pafs must be (38, {heatmaps.shape[1]}, {heatmaps.shape[2]}), not {pafs.shape}")
    return heatmaps, pafs


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian of radius ceil(3 sigma); [1] for sigma <= 0."""
    if sigma <= 0:
        return np.ones(1)
    radius = max(1, math.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def smooth(maps: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of (C, h, w) maps (sigma in cells), border values repeated."""
    kernel = gaussian_kernel(sigma)
    r = len(kernel) // 2
    out = maps.astype(np.float64)
    if r == 0:
        return out
    for axis in (2, 1):
        padded = np.pad(out, [(0, 0)] * axis + [(r, r)] + [(0, 0)] * (2 - axis), mode="edge")
        n = out.shape[axis]
        acc = np.zeros_like(out)
        for t, k in enumerate(kernel):
            acc += k * np.take(padded, np.arange(t, t + n), axis=axis)
        out = acc
    return out


def _refine(left: float, centre: float, right: float) -> float:
    """Offset of a Gaussian's top through three samples one cell apart, in [-0.5, 0.5]."""
    if left <= 0 or right <= 0 or centre <= 0:
        return 0.0
    ll, lc, lr = math.log(left), math.log(centre), math.log(right)
    curvature = ll - 2 * lc + lr
    if curvature >= 0:
        return 0.0
    return min(0.5, max(-0.5, 0.5 * (ll - lr) / curvature))


def _refine_edge(centre: float, inner: float, inner2: float) -> float:
    """Offset, away from the map, of a Gaussian's top through the samples at a border cell and
    the two cells inside it (the top may lie beyond the border cell's centre), in [-1, 0.5]
    (negative = towards the outside)."""
    if centre <= 0 or inner <= 0 or inner2 <= 0:
        return 0.0
    l0, l1, l2 = math.log(centre), math.log(inner), math.log(inner2)
    a, b = (l0 - 2 * l1 + l2) / 2, (-3 * l0 + 4 * l1 - l2) / 2
    if a >= 0:
        return 0.0
    return min(0.5, max(-1.0, -b / (2 * a)))


def _offset(line: np.ndarray, i: int) -> float:
    """Sub-cell offset of the peak at ``line[i]`` along one axis."""
    n = len(line)
    if 0 < i < n - 1:
        return _refine(line[i - 1], line[i], line[i + 1])
    if n >= 3 and i == 0:
        return _refine_edge(line[0], line[1], line[2])
    if n >= 3 and i == n - 1:
        return -_refine_edge(line[n - 1], line[n - 2], line[n - 3])
    return 0.0


def find_peaks(heatmaps: np.ndarray, stride: float, params: PafParams) -> list[np.ndarray]:
    """Per part: (n, 3) x, y (cells, sub-pixel), score, in row-major order of the cells."""
    smoothed = smooth(heatmaps[:NUM_PARTS], params.smooth_sigma / stride)
    out = []
    for part in range(NUM_PARTS):
        m = smoothed[part]
        padded = np.pad(m, 1)
        centre = padded[1:-1, 1:-1]
        is_peak = ((centre >= padded[1:-1, :-2]) & (centre >= padded[1:-1, 2:]) &
                   (centre >= padded[:-2, 1:-1]) & (centre >= padded[2:, 1:-1]) &
                   (centre > params.peak_threshold))
        peaks = []
        for y, x in zip(*np.nonzero(is_peak)):
            dx, dy = _offset(m[y], x), _offset(m[:, x], y)
            peaks.append((x + dx, y + dy, heatmaps[part, y, x]))
        out.append(np.array(peaks, np.float64).reshape(-1, 3))
    return out


def _bilinear(channel: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    h, w = channel.shape
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(int), w - 2) if w > 1 else np.zeros_like(x, int)
    y0 = np.minimum(np.floor(y).astype(int), h - 2) if h > 1 else np.zeros_like(y, int)
    fx, fy = x - x0, y - y0
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    c = channel.astype(np.float64)
    return ((c[y0, x0] * (1 - fx) + c[y0, x1] * fx) * (1 - fy) +
            (c[y1, x0] * (1 - fx) + c[y1, x1] * fx) * fy)


def connect_limb(a: np.ndarray, b: np.ndarray, paf_x: np.ndarray, paf_y: np.ndarray,
                 params: PafParams) -> list[tuple[int, int, float]]:
    """Greedy connections (index in a, index in b, score) of one limb."""
    if len(a) == 0 or len(b) == 0:
        return []
    height = paf_x.shape[0]
    t = np.linspace(0.0, 1.0, params.samples)
    candidates = []
    for i in range(len(a)):
        for j in range(len(b)):
            d = b[j, :2] - a[i, :2]
            norm = math.hypot(d[0], d[1])
            if norm < 1e-9:
                continue
            ux, uy = d / norm
            xs, ys = a[i, 0] + t * d[0], a[i, 1] + t * d[1]
            s = _bilinear(paf_x, xs, ys) * ux + _bilinear(paf_y, xs, ys) * uy
            score = s.mean() + min(0.5 * height / norm - 1.0, 0.0)
            above = np.count_nonzero(s > params.inter_threshold)
            if above / params.samples > params.inter_min_above and score > 0:
                candidates.append((i, j, score))
    candidates.sort(key=lambda c: -c[2])  # stable: ties keep (i, j) order
    used_a, used_b, out = set(), set(), []
    for i, j, score in candidates:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            out.append((i, j, score))
            if len(out) == min(len(a), len(b)):
                break
    return out


def decode_numpy(heatmaps: np.ndarray, pafs: np.ndarray, stride: float = 8.0,
                 params: PafParams = PafParams()) -> Decoded:
    """The reference implementation of ``decode``."""
    heatmaps, pafs = _check_maps(heatmaps, pafs)
    peaks = find_peaks(heatmaps, stride, params)
    first_id = np.cumsum([0] + [len(p) for p in peaks])  # global peak ids, part by part
    all_peaks = np.concatenate(peaks) if first_id[-1] else np.zeros((0, 3))
    people: list[list] = []  # [parts: 18 peak ids (-1 = none), total score, part count]
    for k, ((pa, pb), (cx, cy)) in enumerate(zip(LIMBS, LIMB_PAF)):
        for i, j, score in connect_limb(peaks[pa], peaks[pb], pafs[cx], pafs[cy], params):
            ida, idb = first_id[pa] + i, first_id[pb] + j
            found = [p for p in people if p[0][pa] == ida or p[0][pb] == idb][:2]
            if len(found) == 2 and not any(x >= 0 and y >= 0 for x, y in zip(found[0][0], found[1][0])):
                keep, gone = found
                keep[0] = [x if x >= 0 else y for x, y in zip(keep[0], gone[0])]
                keep[1] += gone[1] + score
                keep[2] += gone[2]
                people.remove(gone)
            elif found:
                person = found[0]
                if person[0][pb] < 0:
                    person[0][pb] = idb
                    person[2] += 1
                    person[1] += all_peaks[idb, 2] + score
            elif k < len(LIMBS) - REDUNDANT_LIMBS:
                parts = [-1] * NUM_PARTS
                parts[pa], parts[pb] = ida, idb
                people.append([parts, all_peaks[ida, 2] + all_peaks[idb, 2] + score, 2])
    kept = [p for p in people if p[2] >= params.min_parts and p[1] / p[2] >= params.min_mean_score]
    out = np.zeros((len(kept), NUM_PARTS, 3), np.float32)
    for n, (parts, _, _) in enumerate(kept):
        for part, pid in enumerate(parts):
            if pid >= 0:
                x, y, s = all_peaks[pid]
                out[n, part] = ((x + 0.5) * stride - 0.5, (y + 0.5) * stride - 0.5, s)
    return Decoded(out, np.array([p[1] / p[2] for p in kept], np.float32))


@functools.cache
def _extension():
    try:
        extension = importlib.import_module("pose_detector._pafprocess")
    except ImportError:
        log.warning("the C++ PAF grouping extension is not built (pip install -e . builds it): "
                    "grouping with the NumPy reference, about 100x slower")
        return None
    return extension


def has_extension() -> bool:
    return _extension() is not None


def decode(heatmaps: np.ndarray, pafs: np.ndarray, stride: float = 8.0,
           params: PafParams = PafParams()) -> Decoded:
    """People in the maps of one image (see the module's text), by the C++ extension when
    built. Thread-safe: no state is kept between calls and the GIL is released."""
    ext = _extension()
    if ext is None:
        return decode_numpy(heatmaps, pafs, stride, params)
    heatmaps, pafs = _check_maps(heatmaps, pafs)
    people, scores = ext.decode(heatmaps, pafs, float(stride), params.peak_threshold,
                                params.inter_threshold, params.inter_min_above, params.min_parts,
                                params.min_mean_score, params.samples, params.smooth_sigma)
    return Decoded(people, scores)

"""MMD's interpolation curves between two bone keys, and keyframe reduction with them.

A bone key's 64-byte block holds, for the way from the key before to this one, four cubic
Bézier curves from (0, 0) to (1, 1) (X, Y and Z of the position, and the rotation), each by its
two inner control points (x1, y1) and (x2, y2) in 0..127. At a fraction x of the frames between
the keys the channel has moved by the fraction y of the curve there (rotations: slerp by it).
The block is 4 rows of 16 bytes; row 0 is x1 of X, Y, Z, R, then y1, x2 and y2 the same way,
and each row repeats the previous one shifted by a byte. Row r is channel r's in readers that
read a row per channel (MikuMikuDance, babylon-mmd); row 0's third and fourth bytes are left 0,
where newer MMD versions keep a physics flag.

Fitting (``fit``): the inner points' x is fixed at 1/3 and 2/3 of the way, which leaves y a
cubic in x whose two free coefficients are a linear least-squares fit (clipped to 0..1, as the
block cannot overshoot). Reduction (``reduce``): from each kept key, the farthest next key whose
curves keep every frame in between within the error limits, found by doubling then bisection.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from edn.vmd import rotations as rot

SCALE = 127
X1, X2 = 42, 85          # the inner points' x: a third and two thirds of the way
LINEAR = (20, 20, 107, 107)  # MMD's own straight line: x1, y1, x2, y2
Curve = tuple[int, int, int, int]


def block(curves: tuple[Curve, Curve, Curve, Curve]) -> bytes:
    """The 64-byte block of four (x1, y1, x2, y2) curves: X, Y, Z, rotation."""
    base = [c[0] for c in curves] + [c[1] for c in curves] + [c[2] for c in curves] + [c[3] for c in curves]
    first = base[:2] + [0, 0] + base[4:]
    return bytes(first + base[1:] + [0] + base[2:] + [0, 0] + base[3:] + [0, 0, 0])


def curves_of(data: bytes) -> tuple[Curve, Curve, Curve, Curve]:
    """The four curves of a block, each read from its own row."""
    return tuple((data[16 * r], data[16 * r + 4], data[16 * r + 8], data[16 * r + 12])  # type: ignore[return-value]
                 for r in range(4))


def evaluate(curve: Curve, x: np.ndarray) -> np.ndarray:
    """The curve's y at fractions ``x`` (0..1) of the way."""
    x1, y1, x2, y2 = curve
    x = np.asarray(x, np.float64)
    if x1 == y1 and x2 == y2:
        return x.copy()  # a straight line
    s = _parameter(x1, x2, x.tobytes())
    y1, y2 = y1 / SCALE, y2 / SCALE
    return 3 * (1 - s) ** 2 * s * y1 + 3 * (1 - s) * s ** 2 * y2 + s ** 3


@functools.lru_cache(maxsize=512)
def _parameter(x1: int, x2: int, x_bytes: bytes) -> np.ndarray:
    """The curve parameter where x(s) = x, by Newton's method from s = x (x(s) rises
    monotonically for inner points in 0..1), with bisection steps where Newton's would leave
    the bracket. Cached: reduction asks for the same fractions again and again."""
    x = np.frombuffer(x_bytes, np.float64)
    x1, x2 = x1 / SCALE, x2 / SCALE
    lo, hi, s = np.zeros_like(x), np.ones_like(x), x.copy()
    for _ in range(12):
        bx = 3 * (1 - s) ** 2 * s * x1 + 3 * (1 - s) * s ** 2 * x2 + s ** 3 - x
        lo, hi = np.where(bx < 0, s, lo), np.where(bx < 0, hi, s)
        slope = 3 * (1 - s) ** 2 * x1 + 6 * (1 - s) * s * (x2 - x1) + 3 * s ** 2 * (1 - x2)
        step = s - bx / np.where(np.abs(slope) > 1e-9, slope, np.nan)
        s = np.where((step > lo) & (step < hi), step, (lo + hi) / 2)
    s.flags.writeable = False
    return s


def fit(x: np.ndarray, y: np.ndarray) -> Curve:
    """The curve with x1, x2 = X1, X2 nearest (least squares) to the points (x, y)."""
    if len(x) == 0:
        return LINEAR
    s = x  # with x1, x2 at a third and two thirds, the curve's x is close to its parameter
    a = np.stack([3 * (1 - s) ** 2 * s, 3 * (1 - s) * s ** 2], 1)
    (y1, y2), *_ = np.linalg.lstsq(a, y - s ** 3, rcond=None)
    return (X1, int(round(np.clip(y1, 0, 1) * SCALE)), X2, int(round(np.clip(y2, 0, 1) * SCALE)))


# errors(a, b) -> (largest error in the frames strictly between keys a and b, their curves)
SegmentFit = Callable[[int, int], tuple[float, tuple[Curve, Curve, Curve, Curve]]]


def reduce(frames: int, segment: SegmentFit, threshold: float) -> dict[int, tuple[Curve, Curve, Curve, Curve]]:
    """Kept frames -> the curves of the way into each (module text). The first and last frame
    are always kept."""
    kept = {0: (LINEAR,) * 4}
    a = 0
    while a < frames - 1:
        good, curves = a + 1, segment(a, a + 1)[1]
        step = 2
        bad = None
        while good + 1 < frames:  # doubling
            b = min(a + step, frames - 1)
            error, fitted = segment(a, b)
            if error > threshold:
                bad = b
                break
            good, curves = b, fitted
            if b == frames - 1:
                break
            step *= 2
        while bad is not None and bad - good > 1:  # bisection
            b = (good + bad) // 2
            error, fitted = segment(a, b)
            if error > threshold:
                bad = b
            else:
                good, curves = b, fitted
        kept[good] = curves
        a = good
    return kept


def track_segment(q: np.ndarray | None, p: np.ndarray | None, angle: float,
                  distance: float) -> SegmentFit:
    """The ``SegmentFit`` of one bone's track: rotations ``q`` (T, 4) and/or positions ``p``
    (T, 3), its error the largest of the rotation's (radians) over ``angle`` and the
    position's (units) over ``distance``: within the limits at 1 or less."""
    def segment(a: int, b: int) -> tuple[float, tuple[Curve, Curve, Curve, Curve]]:
        t = np.arange(a + 1, b)
        x = (t - a) / (b - a)
        curves: list[Curve] = [LINEAR, LINEAR, LINEAR, LINEAR]
        error = 0.0
        if len(t) == 0:
            return error, tuple(curves)  # type: ignore[return-value]
        if p is not None:
            moved = np.empty((len(t), 3))
            for c in range(3):
                span = p[b, c] - p[a, c]
                if abs(span) > 1e-9:
                    curves[c] = fit(x, (p[t, c] - p[a, c]) / span)
                moved[:, c] = p[a, c] + span * evaluate(curves[c], x)
            error = max(error, float(np.linalg.norm(moved - p[t], axis=1).max()) / distance)
        if q is not None:
            theta = float(rot.angle(q[a], q[b]))
            if theta > 1e-9:
                curves[3] = fit(x, np.clip(rot.angle(q[a][None], q[t]) / theta, 0.0, 1.0))
            turned = rot.slerp(q[a][None], q[b][None], evaluate(curves[3], x)[:, None])
            error = max(error, float(rot.angle(turned, q[t]).max()) / angle)
        return error, tuple(curves)  # type: ignore[return-value]
    return segment

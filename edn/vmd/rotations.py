"""Quaternions (x, y, z, w) and rotation frames, vectorised over leading axes.

A quaternion rotates coordinate triples by the usual matrix R(q) (v' = R v); composition
``mul(a, b)`` applies b first, then a. The same matrices hold in MMD's left-handed frame: a
VMD quaternion rotates MMD coordinates this way (checked on a real motion in
tests/test_vmd.py)."""
from __future__ import annotations

import numpy as np

IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])


def normalize(v: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ax, ay, az, aw = np.moveaxis(a, -1, 0)
    bx, by, bz, bw = np.moveaxis(b, -1, 0)
    return np.stack([aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw,
                     aw * bw - ax * bx - ay * by - az * bz], -1)


def conjugate(q: np.ndarray) -> np.ndarray:
    return q * np.array([-1.0, -1.0, -1.0, 1.0])


def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """R(q) v for unit quaternions."""
    u, w = q[..., :3], q[..., 3:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], -2)


def from_matrix(m: np.ndarray) -> np.ndarray:
    """Unit quaternion (w >= 0) of rotation matrices (..., 3, 3)."""
    m = np.asarray(m, np.float64)
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    cases = np.stack([trace, m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], -1).argmax(-1)
    q = np.empty(m.shape[:-2] + (4,))
    for case in range(4):
        sel = cases == case
        if not sel.any():
            continue
        s = m[sel]
        if case == 0:
            r = np.sqrt(1.0 + s[:, 0, 0] + s[:, 1, 1] + s[:, 2, 2]) * 2
            q[sel] = np.stack([(s[:, 2, 1] - s[:, 1, 2]) / r, (s[:, 0, 2] - s[:, 2, 0]) / r,
                               (s[:, 1, 0] - s[:, 0, 1]) / r, 0.25 * r], -1)
        elif case == 1:
            r = np.sqrt(1.0 + s[:, 0, 0] - s[:, 1, 1] - s[:, 2, 2]) * 2
            q[sel] = np.stack([0.25 * r, (s[:, 0, 1] + s[:, 1, 0]) / r,
                               (s[:, 0, 2] + s[:, 2, 0]) / r, (s[:, 2, 1] - s[:, 1, 2]) / r], -1)
        elif case == 2:
            r = np.sqrt(1.0 + s[:, 1, 1] - s[:, 0, 0] - s[:, 2, 2]) * 2
            q[sel] = np.stack([(s[:, 0, 1] + s[:, 1, 0]) / r, 0.25 * r,
                               (s[:, 1, 2] + s[:, 2, 1]) / r, (s[:, 0, 2] - s[:, 2, 0]) / r], -1)
        else:
            r = np.sqrt(1.0 + s[:, 2, 2] - s[:, 0, 0] - s[:, 1, 1]) * 2
            q[sel] = np.stack([(s[:, 0, 2] + s[:, 2, 0]) / r, (s[:, 1, 2] + s[:, 2, 1]) / r,
                               0.25 * r, (s[:, 1, 0] - s[:, 0, 1]) / r], -1)
    q = normalize(q)
    return np.where(q[..., 3:] < 0, -q, q)


def frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frames (..., 3, 3), columns: the primary direction, the secondary made
    perpendicular to it, their cross product."""
    e1 = normalize(primary)
    e2 = normalize(secondary - (secondary * e1).sum(-1, keepdims=True) * e1)
    return np.stack([e1, e2, np.cross(e1, e2)], -1)


def align(direction: np.ndarray, reference: np.ndarray, rest_direction: np.ndarray,
          rest_reference: np.ndarray) -> np.ndarray:
    """The world rotation frame(current) . frame(rest)^-1: takes the rest direction to the
    current one, and the rest reference's side of it to the current reference's."""
    current = frame(direction, reference)
    rest = frame(np.broadcast_to(rest_direction, direction.shape),
                 np.broadcast_to(rest_reference, reference.shape))
    return from_matrix(current @ np.swapaxes(rest, -1, -2))


def continuous(q: np.ndarray) -> np.ndarray:
    """Signs flipped along axis 0 (time) so that consecutive quaternions have a positive dot
    product: the same rotations, no 360-degree spins in between."""
    q = q.copy()
    for t in range(1, len(q)):
        flip = (q[t] * q[t - 1]).sum(-1) < 0
        q[t][flip] *= -1
    return q


def angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle (radians) between unit quaternions."""
    d = np.abs((a * b).sum(-1))
    return 2 * np.arccos(np.clip(d, -1.0, 1.0))


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between unit quaternions a and b (broadcast) at fractions t."""
    d = (a * b).sum(-1, keepdims=True)
    b = np.where(d < 0, -b, b)
    d = np.abs(d)
    t = np.asarray(t)[..., None] if np.ndim(t) == a.ndim - 1 else t
    theta = np.arccos(np.clip(d, -1.0, 1.0))
    small = theta < 1e-6
    s = np.sin(np.where(small, 1.0, theta))
    wa = np.where(small, 1 - t, np.sin((1 - t) * theta) / s)
    wb = np.where(small, t, np.sin(t * theta) / s)
    return normalize(wa * a + wb * b)


def between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotations taking unit vectors a to b (broadcast)."""
    a, b = np.broadcast_arrays(normalize(a), normalize(b))
    q = np.concatenate([np.cross(a, b), 1.0 + (a * b).sum(-1, keepdims=True)], -1)
    opposite = q[..., 3] < 1e-8  # a 180-degree turn: about any axis perpendicular to a
    if opposite.any():
        axis = np.cross(a[opposite], np.array([1.0, 0.0, 0.0]))
        weak = np.linalg.norm(axis, axis=-1) < 1e-6
        axis[weak] = np.cross(a[opposite][weak], np.array([0.0, 1.0, 0.0]))
        q[opposite] = np.concatenate([normalize(axis), np.zeros((len(axis), 1))], -1)
    return normalize(q)

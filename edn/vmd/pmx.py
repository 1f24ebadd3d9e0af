"""A bones-only PMX 2.0 model of a ``Skeleton``: the preview's stick figure when no model is
given (edn.vmd.preview), so the motion plays in an MMD runtime with MMD's own leg IK.

No vertices, faces, materials, morphs or physics; every bone rotatable and shown, センター, 全ての親
and the IK bones movable; 足ＩＫ solves 足首 through ひざ (bending backwards only, as MMD's
standard model) and 足, つま先ＩＫ solves つま先 through 足首. We write it ourselves because
``mmd-bone-tools`` keeps a bone's encoding verbatim and cannot make a new one; the layout is
the PMX 2.0 specification's (https://gist.github.com/felixjones/f8a06bd48f9da9a4539f).
"""
from __future__ import annotations

import struct

import numpy as np

from edn.vmd.skeleton import SIDES, Skeleton

ROTATABLE, MOVABLE, VISIBLE, ENABLED, IK = 0x0002, 0x0004, 0x0008, 0x0010, 0x0020
MOVABLE_BONES = ("全ての親", "センター")
KNEE_LIMITS = ((-np.pi, 0.0, 0.0), (np.deg2rad(-0.5), 0.0, 0.0))


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack("<i", len(data)) + data


def _ik(sk: Skeleton, name: str) -> tuple[str, int, float, list[tuple[str, tuple | None]]] | None:
    """(target, loops, limit angle, [(link, limits or None)]) of an IK bone, else None."""
    side, kind = name[0], name[1:]
    if side not in SIDES:
        return None
    if kind == "足ＩＫ":
        return side + "足首", 40, 2.0, [(side + "ひざ", KNEE_LIMITS), (side + "足", None)]
    if kind == "つま先ＩＫ" and side + "つま先" in sk:
        return side + "つま先", 3, 4.0, [(side + "足首", None)]
    return None


def bones_only_pmx(sk: Skeleton) -> bytes:
    """The PMX file of ``sk`` (module text)."""
    index = {n: i for i, n in enumerate(sk.names)}
    out = [b"PMX ", struct.pack("<fB", 2.0, 8), bytes([1, 0, 1, 1, 1, 2, 1, 1])]  # UTF-8; bone index: 2 bytes
    out += [_text(sk.name), _text(sk.name), _text("edn: bones only"), _text("edn: bones only")]
    out.append(struct.pack("<4i", 0, 0, 0, 0))  # vertices, faces, textures, materials
    out.append(struct.pack("<i", len(sk.names)))
    for i, name in enumerate(sk.names):
        ik = _ik(sk, name)
        flags = ROTATABLE | VISIBLE | ENABLED
        if name in MOVABLE_BONES or ik is not None:
            flags |= MOVABLE
        if ik is not None:
            flags |= IK
        out += [_text(name), _text(name), struct.pack("<3fhiH", *sk.rest[i], sk.parents[i], 0, flags),
                struct.pack("<3f", 0.0, 0.0, 0.0)]  # tail: an offset
        if ik is not None:
            target, loops, limit, links = ik
            out.append(struct.pack("<hifi", index[target], loops, limit, len(links)))
            for link, limits in links:
                out.append(struct.pack("<hB", index[link], limits is not None))
                if limits is not None:
                    out.append(struct.pack("<6f", *limits[0], *limits[1]))
    out.append(struct.pack("<4i", 0, 0, 0, 0))  # morphs, display frames, rigid bodies, joints
    return b"".join(out)

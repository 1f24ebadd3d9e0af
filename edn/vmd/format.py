"""The VMD file format ("Vocaloid Motion Data 0002"), written and read for our round trips.

Layout (little-endian):
- header: 30-byte signature ``Vocaloid Motion Data 0002`` (NUL-padded), 20-byte model name
  (Shift-JIS / cp932, NUL-padded);
- bone keyframes: u32 count, then 111-byte records: name (15 bytes, cp932, NUL-padded),
  u32 frame, f32 position x y z, f32 quaternion x y z w, 64-byte interpolation block;
- morph, camera, light and self-shadow sections: a u32 count each (we write 0);
- IK section: u32 count, then per frame: u32 frame, u8 model shown, u32 IK count, and per IK
  bone a 20-byte name and a u8 enabled flag.

A name that does not fit its field is an error, never silently cut.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from edn.core.errors import InputError, UserError
from edn.core.io import atomic_write
from edn.vmd.curves import LINEAR, block

SIGNATURE = b"Vocaloid Motion Data 0002"
HEADER_SIZE, MODEL_NAME_SIZE, BONE_NAME_SIZE, IK_NAME_SIZE = 30, 20, 15, 20
BONE_RECORD = struct.Struct("<15sI3f4f64s")  # 111 bytes
ENCODING = "cp932"
# MMD's linear interpolation (control points (20, 20) and (107, 107) for X, Y, Z and rotation;
# the layout: edn.vmd.curves).
LINEAR_INTERPOLATION = block((LINEAR,) * 4)
assert len(LINEAR_INTERPOLATION) == 64 and BONE_RECORD.size == 111


@dataclass
class BoneKey:
    name: str
    frame: int
    position: tuple[float, float, float]
    rotation: tuple[float, float, float, float]  # x, y, z, w
    interpolation: bytes = LINEAR_INTERPOLATION


@dataclass
class IKKey:
    frame: int
    shown: bool
    states: dict[str, bool]  # IK bone name -> enabled


@dataclass
class Motion:
    model_name: str
    bones: list[BoneKey] = field(default_factory=list)
    ik: list[IKKey] = field(default_factory=list)


def encode_name(name: str, size: int, what: str) -> bytes:
    """``name`` in cp932, NUL-padded to ``size`` bytes; UserError when it does not fit."""
    try:
        raw = name.encode(ENCODING)
    except UnicodeEncodeError:
        raise UserError(f"{what} {name!r} cannot be written in Shift-JIS (cp932)") from None
    if len(raw) > size:
        raise UserError(f"{what} {name!r} is {len(raw)} bytes in Shift-JIS; a VMD field holds {size}")
    return raw.ljust(size, b"\0")


def decode_name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(ENCODING, errors="replace")


def to_bytes(motion: Motion) -> bytes:
    out = [SIGNATURE.ljust(HEADER_SIZE, b"\0"), encode_name(motion.model_name, MODEL_NAME_SIZE, "model name"),
           struct.pack("<I", len(motion.bones))]
    for key in motion.bones:
        if len(key.interpolation) != 64:
            raise ValueError("an interpolation block has 64 bytes")
        out.append(BONE_RECORD.pack(encode_name(key.name, BONE_NAME_SIZE, "bone name"), key.frame,
                                    *key.position, *key.rotation, key.interpolation))
    out.append(struct.pack("<4I", 0, 0, 0, 0))  # morphs, cameras, lights, self-shadows
    out.append(struct.pack("<I", len(motion.ik)))
    for ik in motion.ik:
        out.append(struct.pack("<IBI", ik.frame, int(ik.shown), len(ik.states)))
        for name, enabled in ik.states.items():
            out.append(encode_name(name, IK_NAME_SIZE, "IK bone name") + struct.pack("<B", int(enabled)))
    return b"".join(out)


def write_vmd(path: str | Path, motion: Motion) -> None:
    """Write ``motion`` to ``path`` atomically."""
    data = to_bytes(motion)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, write)


def from_bytes(data: bytes, source: str = "the VMD data") -> Motion:
    """Bone keyframes and IK frames of a VMD file (other sections are skipped)."""
    def need(offset: int, size: int) -> None:
        if offset + size > len(data):
            raise InputError(f"{source} is cut short (a section runs past its {len(data)} bytes)")

    if not data.startswith(SIGNATURE):
        raise InputError(f"{source} is not a VMD file (no '{SIGNATURE.decode()}' signature)")
    need(0, HEADER_SIZE + MODEL_NAME_SIZE + 4)
    motion = Motion(decode_name(data[HEADER_SIZE:HEADER_SIZE + MODEL_NAME_SIZE]))
    at = HEADER_SIZE + MODEL_NAME_SIZE
    (count,) = struct.unpack_from("<I", data, at)
    at += 4
    need(at, count * BONE_RECORD.size)
    for _ in range(count):
        name, frame, px, py, pz, qx, qy, qz, qw, interp = BONE_RECORD.unpack_from(data, at)
        motion.bones.append(BoneKey(decode_name(name), frame, (px, py, pz), (qx, qy, qz, qw), interp))
        at += BONE_RECORD.size
    for record in (23, 61, 28, 9):  # morphs, cameras, lights, self-shadows
        if at == len(data):
            return motion
        need(at, 4)
        (count,) = struct.unpack_from("<I", data, at)
        at += 4 + count * record
        need(at, 0)
    if at + 4 <= len(data):
        (count,) = struct.unpack_from("<I", data, at)
        at += 4
        for _ in range(count):
            need(at, 9)
            frame, shown, n = struct.unpack_from("<IBI", data, at)
            at += 9
            need(at, n * (IK_NAME_SIZE + 1))
            states = {}
            for _ in range(n):
                states[decode_name(data[at:at + IK_NAME_SIZE])] = bool(data[at + IK_NAME_SIZE])
                at += IK_NAME_SIZE + 1
            motion.ik.append(IKKey(frame, bool(shown), states))
    return motion


def read_vmd(path: str | Path) -> Motion:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    return from_bytes(data, str(path))

"""The model a motion is made for: bone names, parents and rest positions (MMD units).

From a PMX file (read with PyPI ``mmd-bone-tools``; ``pypmxvmd`` 2.7.2 reads no bones) or the
built-in standard model: MMD's standard bone set in an A-pose with the upper arms 32 degrees
below horizontal, about 20 units (1.6 m) tall, feet on the floor (y = 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edn.core.errors import InputError

SIDES = ("左", "右")
# Bones every export drives; a model without one of them cannot take our motion.
REQUIRED = ("センター", "上半身", "首", "頭", "下半身") + tuple(
    f"{side}{bone}" for side in SIDES for bone in ("肩", "腕", "ひじ", "手首", "足", "ひざ", "足首"))
TOE_BONES = ("つま先", "足先", "つま先ＩＫ")  # the first one a model has marks its toe
IK_BONES = tuple(f"{side}{bone}" for side in SIDES for bone in ("足ＩＫ", "つま先ＩＫ"))


@dataclass
class Skeleton:
    name: str
    names: list[str]
    parents: list[int]          # index of each bone's parent, -1 for a root
    rest: np.ndarray            # (B, 3) rest positions, MMD units
    ik: list[str]               # the model's IK bones among IK_BONES

    def __post_init__(self) -> None:
        self._index = {n: i for i, n in enumerate(self.names)}

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def index(self, name: str) -> int:
        return self._index[name]

    def position(self, name: str) -> np.ndarray:
        return self.rest[self._index[name]]

    def toe(self, side: str) -> str | None:
        """The bone at the toe of one foot (``side``: 左 or 右), if the model has one."""
        return next((side + t for t in TOE_BONES if side + t in self), None)

    def leg_length(self, side: str) -> float:
        """Hip (足) to knee (ひざ) to ankle (足首) of one side, in the rest pose."""
        hip, knee, ankle = (self.position(side + b) for b in ("足", "ひざ", "足首"))
        return float(np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee))

    def order(self) -> list[int]:
        """Bone indices with every parent before its children."""
        done: list[int] = []
        seen = set()

        def visit(i: int, path: tuple[int, ...] = ()) -> None:
            if i in seen:
                return
            if i in path:
                raise InputError(f"the bones of {self.name} have a parent cycle at {self.names[i]}")
            p = self.parents[i]
            if 0 <= p < len(self.names):
                visit(p, path + (i,))
            seen.add(i)
            done.append(i)

        for i in range(len(self.names)):
            visit(i)
        return done

    def check(self) -> None:
        missing = [n for n in REQUIRED if n not in self]
        if missing:
            raise InputError(f"the model {self.name} lacks the bones {', '.join(missing)} that the "
                             "motion drives")

    @classmethod
    def from_pmx(cls, path: str | Path) -> "Skeleton":
        from mmd_bone_tools.pmx import FormatError, load_pmx

        try:
            model = load_pmx(path)
        except FileNotFoundError:
            raise InputError(f"no such model file: {path}") from None
        except (FormatError, ValueError, EOFError, UnicodeDecodeError) as e:
            raise InputError(f"{path} is not a readable PMX model ({type(e).__name__}: {e})") from None
        names = [b.name for b in model.bones]
        skeleton = cls(model.name or Path(path).stem, names, [int(b.parent) for b in model.bones],
                       np.array([b.position for b in model.bones], np.float64).reshape(-1, 3),
                       [n for n in IK_BONES if n in names])
        skeleton.check()
        return skeleton

    @classmethod
    def standard(cls) -> "Skeleton":
        """The built-in standard model."""
        left = {  # (parent, position) of the left side; the right side mirrors x
            "肩": ("上半身2", (0.3, 15.6, 0.05)),
            "腕": ("肩", (1.3, 15.3, 0.05)),
            "ひじ": ("腕", (3.67, 13.82, 0.05)),
            "手首": ("ひじ", (5.86, 12.45, 0.05)),
            "手先": ("手首", (6.4, 12.11, 0.05)),
            "足": ("下半身", (0.9, 10.5, 0.0)),
            "ひざ": ("足", (0.9, 5.8, -0.1)),
            "足首": ("ひざ", (0.9, 1.2, 0.2)),
            "つま先": ("足首", (0.9, 0.0, -1.4)),
            "足ＩＫ": ("全ての親", (0.9, 1.2, 0.2)),
            "つま先ＩＫ": ("足ＩＫ", (0.9, 0.0, -1.4)),
        }
        bones: list[tuple[str, str | None, tuple[float, float, float]]] = [
            ("全ての親", None, (0.0, 0.0, 0.0)), ("センター", "全ての親", (0.0, 8.0, 0.0)),
            ("上半身", "センター", (0.0, 11.6, 0.0)), ("上半身2", "上半身", (0.0, 13.2, 0.0)),
            ("首", "上半身2", (0.0, 15.8, 0.1)), ("頭", "首", (0.0, 17.0, 0.0)),
            ("頭先", "頭", (0.0, 19.3, 0.0)), ("下半身", "センター", (0.0, 11.6, 0.0))]
        for side, sign in (("左", 1.0), ("右", -1.0)):
            for bone, (parent, (x, y, z)) in left.items():
                bones.append((side + bone, parent if parent == "全ての親" or parent.startswith("上半身")
                              or parent == "下半身" else side + parent, (sign * x, y, z)))
        names = [b[0] for b in bones]
        return cls("standard", names, [names.index(p) if p else -1 for _, p, _ in bones],
                   np.array([b[2] for b in bones], np.float64), list(IK_BONES))

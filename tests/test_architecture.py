"""Imports point one way (README, Architecture): core at the bottom; preparation and models
on core; training, inference on those; evaluation on top. pose_detector stands on edn.core
alone. Inference never imports training, models never import training. The VMD branch uses
core and prepared sets only, nothing of the synthesis stack."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The layer of each of our packages; a module may import its own package or lower layers.
LAYERS = {
    "edn.core": 0,
    "pose_detector": 1,
    "edn.preparation": 2, "edn.models": 2,
    "edn.training": 3, "edn.inference": 3, "edn.vmd": 3,
    "edn.evaluation": 4,
}


def package(module: str) -> str | None:
    """The layer package a dotted module name belongs to (None: not ours)."""
    for name in sorted(LAYERS, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    return None


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports from ours, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.split(".")[0] in ("edn", "pose_detector")}


def wrong_arrows(modules: dict[str, set[str]]) -> list[str]:
    """``importer -> imported`` for each import that points up or sideways."""
    wrong = []
    for importer, imported in modules.items():
        src = package(importer)
        for target in sorted(imported):
            dst = package(target)
            if dst is None:
                wrong.append(f"{importer} -> {target} (outside the layers)")
            elif src is not None and dst != src and LAYERS[dst] >= LAYERS[src]:
                wrong.append(f"{importer} -> {target}")
    return wrong


def our_modules() -> dict[str, set[str]]:
    modules = {}
    for top in ("edn", "pose_detector"):
        for path in (ROOT / top).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = imports_of(path)
    return modules


def test_every_module_is_in_a_layer():
    stray = [m for m in our_modules() if package(m) is None and m != "edn"]
    assert stray == []


def test_imports_point_one_way():
    assert wrong_arrows(our_modules()) == []


def test_the_check_catches_arrows_that_point_the_wrong_way():
    assert wrong_arrows({
        "edn.core.io": {"edn.preparation.normalize"},          # core -> anything of ours
        "pose_detector.extract": {"edn.training.trainer"},      # detector -> beyond core
        "edn.inference.transfer": {"edn.training.trainer"},     # inference -> training
        "edn.models.face": {"edn.training.presets"},            # models -> training
        "edn.training.trainer": {"edn.core.paths", "edn.models.build"},  # fine
    }) == ["edn.core.io -> edn.preparation.normalize",
           "pose_detector.extract -> edn.training.trainer",
           "edn.inference.transfer -> edn.training.trainer",
           "edn.models.face -> edn.training.presets"]


def test_vmd_export_stands_on_core_and_prepared_sets():
    allowed = ("edn.core", "edn.preparation", "pose_detector", "edn.vmd")
    wrong = [f"{m} -> {t}" for m, imported in our_modules().items() if package(m) == "edn.vmd"
             for t in imported if package(t) not in allowed]
    assert wrong == []

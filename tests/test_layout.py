"""The package's shape: imports run one way, method ids live in methods/, modules stay short.

These read the source with ``ast``; each fails on the first import that runs back up the layers, the
first method id hard-coded outside the registry, or the first module over the size limit.
"""
import ast
from pathlib import Path

import pytest

from noisereg.methods import list_methods

SRC = Path(__file__).resolve().parents[1] / "src" / "noisereg"

# bottom to top; a module may import only from strictly lower layers (and from its own package)
LAYERS = [
    {"errors"},
    {"devices"},
    {"options", "metrics", "distributed", "progress", "safe_io", "allocator"},
    {"data"},
    {"models"},
    {"methods", "features", "checkpoint"},
    {"config", "annotation"},
    {"train"},
    {"tasks", "tuning"},
    {"report", "estimator"},
    {"experiment", "protocol", "label_issues", "export"},
    {"demo"},
    {"cli"},
    {"__main__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
# string literals equal to a method id that are user-facing defaults, by file
DEFAULTS_ALLOWED = {"config.py", "experiment.py"}
MAX_LINES = 300


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


def _concept(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0].removesuffix(".py")


def _imported_concepts(path: Path) -> set[str]:
    """Top-level noisereg concepts a module imports (relative imports resolved), lazy imports included."""
    package = path.relative_to(SRC.parent).parent.parts  # e.g. ('noisereg', 'data', 'sources')
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                names = [target + [a.name] for a in node.names] if not node.module else [target]
            else:
                names = [node.module.split(".")] if node.module else []
        elif isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        else:
            continue
        for parts in names:
            if parts[0] == "noisereg" and len(parts) > 1:
                out.add(parts[1])
    return out


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_import_runs_back_up_the_layers(path):
    own = _concept(path)
    assert own in RANK, f"{own} has no layer: add it to LAYERS"
    for concept in _imported_concepts(path) - {own}:
        assert concept in RANK, f"{path.name} imports noisereg.{concept}, which has no layer"
        assert RANK[concept] < RANK[own], \
            f"{path.relative_to(SRC)} ({own}) imports {concept}, a layer above or beside it"


def test_the_layer_rules_can_fail():
    """The checker sees a lazy, relative import that runs upwards."""
    fake = SRC / "data" / "_layer_probe.py"
    fake.write_text("def f():\n    from ..train import fit\n")
    try:
        assert "train" in _imported_concepts(fake)
    finally:
        fake.unlink()


def test_method_ids_appear_only_in_methods_and_defaults():
    ids = set(list_methods()) - {"noisy"}  # "noisy" is also the noisy-label column's name
    found = []
    for path in _modules():
        if "methods" in path.relative_to(SRC).parts or path.name in DEFAULTS_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in ids:
                found.append(f"{path.relative_to(SRC)}:{node.lineno} '{node.value}'")
    assert not found, "ask the method registry instead: " + ", ".join(found)


def test_no_module_is_longer_than_the_limit():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long

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
    {"demo", "pipeline"},
    {"cli"},
    {"__main__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
# string literals equal to a method id that are user-facing defaults, by file (relative to src/noisereg)
DEFAULTS_ALLOWED = {"config/__init__.py", "experiment.py"}
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
                base = list(package[: len(package) - node.level + 1])
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
        assert RANK[concept] < RANK[own], (
            f"{path.relative_to(SRC)} ({own}) imports {concept}, a layer above or beside it"
        )


def _sibling_imports(path: Path) -> set[str]:
    """The modules of its own package that a module imports (``from .x import``, ``from . import x``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
    return out


def _circles(package: Path) -> list[list[str]]:
    """Import circles among a package's modules (its ``__init__`` left out: it gathers them)."""
    graph = {p.stem: _sibling_imports(p) for p in package.glob("*.py") if p.name != "__init__.py"}
    found, done = [], set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            found.append(path[path.index(name) :] + [name])
            return
        if name in done or name not in graph:
            return
        for nxt in sorted(graph[name]):
            visit(nxt, path + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    return found


@pytest.mark.parametrize(
    "package", sorted(p for p in SRC.iterdir() if (p / "__init__.py").is_file()), ids=lambda p: p.name
)
def test_no_import_circle_inside_a_package(package):
    """e.g. cli/training.py and cli/tuning.py importing each other: one of them should call a library function."""
    assert not _circles(package), _circles(package)


def test_the_circle_check_can_fail(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    from .b import g\n")
    (tmp_path / "b.py").write_text("from . import a\n")
    assert _circles(tmp_path) == [["a", "b", "a"]]


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
        if "methods" in path.relative_to(SRC).parts or path.relative_to(SRC).as_posix() in DEFAULTS_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in ids:
                found.append(f"{path.relative_to(SRC)}:{node.lineno} '{node.value}'")
    assert not found, "ask the method registry instead: " + ", ".join(found)


def test_no_module_is_longer_than_the_limit():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long

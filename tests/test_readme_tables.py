"""The README's tables that name code: the layout table is tests/test_layout.py's LAYERS, every file and
symbol of the paper-terms table exists, and the quick start stays two commands."""

import importlib
import re
from pathlib import Path

from tests.test_layout import LAYERS, SRC

README = Path(__file__).resolve().parents[1] / "README.md"


def _table(header: str) -> list[list[str]]:
    """The cells of the markdown table whose header row is ``header`` (separator row dropped)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def _code(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _concept(name: str) -> str:
    return name.removesuffix("/").removesuffix(".py")


def test_the_layout_table_is_the_layer_list():
    rows = _table("| layer | `src/noisereg/` | what lives there |")
    assert [row[0] for row in rows] == [str(i) for i in range(len(LAYERS))], "one row per layer, in order"
    for (rank, names, _), layer in zip(rows, LAYERS, strict=True):
        assert {_concept(n) for n in _code(names)} == layer, f"layer {rank}: README {names} vs LAYERS {layer}"
        for name in _code(names):
            path = SRC / name
            assert (path.is_dir() and (path / "__init__.py").is_file()) if name.endswith("/") else path.is_file(), name


def test_every_file_and_symbol_of_the_paper_terms_table_exists():
    rows = _table("| paper (Hu et al., CVPR 2019) | file in `src/noisereg/` | symbol |")
    assert len(rows) >= 10
    for term, file_cell, symbol_cell in rows:
        (file,) = _code(file_cell)
        assert (SRC / file).is_file(), f"{term}: {file} does not exist"
        module = importlib.import_module("noisereg." + file.removesuffix(".py").replace("/", "."))
        assert _code(symbol_cell), term
        for symbol in _code(symbol_cell):
            target = module
            for part in symbol.split("."):
                assert hasattr(target, part), f"{term}: {file} has no {symbol}"
                target = getattr(target, part)


def test_the_paper_terms_table_names_the_papers_vocabulary():
    terms = " ".join(row[0] for row in _table("| paper (Hu et al., CVPR 2019) | file in `src/noisereg/` | symbol |"))
    for word in (
        "clean net",
        "residual net",
        "g = sigmoid(c)",
        "h = sigmoid(r + c)",
        "L_clean",
        "L_noise",
        "alpha",
        "1:9",
        "Backbone (Noisy)",
        "two schemes",
    ):
        assert word in terms, word


def test_the_quick_start_is_two_commands():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Quick start\n") :]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    assert [line.split("#")[0].strip() for line in block.splitlines()] == ["make demo", "make test"]

"""The benchmarks as a package: the Part and Section registries (a toy part and a toy section render),
RESULTS.md regenerated from the committed results, the one CSV helper and the one fresh-process probe."""

from __future__ import annotations

import argparse
import ast
import csv
import json
from pathlib import Path

import pytest
from benchmarks import make_results, parts
from benchmarks.common import BLOCKS_DIR, NOTES_DIR, ResultsTable, fresh_process, peak_rss_mib

BENCH = Path(make_results.__file__).resolve().parent


def test_results_md_and_the_readme_tables_are_what_the_committed_results_give():
    """Regenerating RESULTS.md and the README's tables from benchmarks/results/ gives the committed files
    (run ``python -m benchmarks.make_results`` after changing a CSV, a block or a note)."""
    assert make_results.document() == make_results.RESULTS.read_text()
    assert make_results.readme(make_results.README.read_text()) == make_results.README.read_text()
    assert make_results.main(["--check"]) == 0


def test_results_md_has_each_section_once():
    text = make_results.RESULTS.read_text()
    titles = [line for line in text.splitlines() if line.startswith("## ")]
    assert len(titles) == len(set(titles)) == len([s for s in make_results.SECTIONS.values() if s.render()])
    assert "Superseded" not in text and "<!-- generated" not in text


def test_every_note_and_block_belongs_to_a_registered_section_or_part():
    known = set(make_results.SECTIONS) | {f"part-{p}" for p in parts.list_parts()} | {"alpha"}  # a subsection
    assert {p.stem for p in NOTES_DIR.glob("*.md")} <= known
    assert {p.stem if p.parent == BLOCKS_DIR else p.parent.name for p in BLOCKS_DIR.rglob("*.md")} <= known


def _rows(part, fractions=(0.05, 0.1)):
    return [
        {
            "part": part,
            "method": m,
            "clean_fraction": str(f),
            "seed": str(s),
            "top1": str(v + s / 100),
            "val_best": "0.5",
            "epochs": "5",
            "best_epoch": "4",
            "hyperparameters": "lr=0.001",
        }
        for f in fractions
        for s in range(2)
        for m, v in (("proposed", 0.80), ("glc", 0.74), ("g-alone", 0.70), ("h-alone", 0.60), ("gt", 0.9))
    ]


@pytest.fixture
def toy_part():
    part = parts.register_part(
        parts.Part(
            "toy",
            "a toy part, single-label",
            data="digits",
            noise="toy",
            targets=((0.05, 3.0),),
            summary="toy labels, top-1",
            methods=parts.single_label_methods,
        )
    )
    yield part
    parts.unregister_part("toy")


def test_a_toy_part_is_one_registration_and_every_reader_sees_it(toy_part, tmp_path):
    """Adding a part is one ``register_part`` line: the benchmark's choices, its experiment, the targets, its
    section of RESULTS.md and the README's other-parts table all read it from the registry."""
    assert "toy" in parts.list_parts() and parts.metric_of("toy") == "top1"
    with pytest.raises(ValueError, match="already registered"):
        parts.register_part(toy_part)
    args = argparse.Namespace(fractions=None, seeds=2, image_size=0, mosaics=0, cache_dir="c", out=str(tmp_path))
    exp = parts.experiment(args, "toy", ["proposed"])
    assert (exp.data, exp.noise, exp.clean_fractions, exp.features) == ("digits", "toy", list(parts.FRACTIONS), True)
    rows = _rows("toy")
    text = "\n".join(make_results.part_lines("toy", rows))
    assert text.startswith("### a toy part, single-label")
    assert "| proposed | **80.50 ± 0.71** | **80.50 ± 0.71** |" in text
    target = next(ln for ln in make_results.targets(rows).splitlines() if ln.startswith("| toy, 5% clean"))
    assert "+6.00 vs glc" in target and target.endswith("| yes |")
    line = next(ln for ln in make_results.others_table(rows).splitlines() if ln.startswith("| toy labels"))
    assert "**80.50** vs 74.50" in line


def test_a_toy_section_renders_with_its_sources_and_its_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(make_results, "NOTES_DIR", tmp_path)
    (tmp_path / "toy.md").write_text("The reading of the toy section.\n")
    section = make_results.register_section(
        make_results.Section("toy", "A toy benchmark", lambda: ["| a |", ""], ("toy.csv",))
    )
    try:
        doc = make_results.document()
        assert "- [A toy benchmark](#a-toy-benchmark)" in doc
        assert (
            "## A toy benchmark\n\nGenerated from `results/toy.csv`.\n\n| a |\n\nThe reading of the toy section.\n"
            in doc
        )
        assert make_results.render_section(make_results.Section("empty", "Empty", lambda: [])) == []
    finally:
        make_results.SECTIONS.pop(section.slug)


def test_part_methods_come_from_the_method_registrys_facts():
    from noisereg.methods import get_method_spec, list_methods

    single, multi = parts.single_label_methods(), parts.multi_label_methods()
    assert set(single) == set(list_methods()) - set(parts.FROZEN_REFUSED)
    assert set(multi) == {m for m in single if not get_method_spec(m).single_label_only}
    assert parts.get_part("voc").methods() == multi and parts.get_part("worse").methods() == single


def test_results_table_supersedes_earlier_rows_of_the_same_key(tmp_path):
    table = ResultsTable(tmp_path / "r.csv", ("part", "seed", "score"), key=("part", "seed"))
    table.append([{"part": "a", "seed": 0, "score": 1.0}, {"part": "b", "seed": 0, "score": 2.0}])
    table.append([{"part": "a", "seed": 0, "score": 3.0, "extra": "dropped"}])
    assert [(r["part"], r["score"], r["run"]) for r in table.read()] == [("b", "2.0", "1"), ("a", "3.0", "2")]
    every = table.read(current=False)
    assert [(r["score"], r["superseded_by"]) for r in every] == [("1.0", "2"), ("2.0", ""), ("3.0", "")]
    assert make_results.read.__doc__ and "superseded" in make_results.read.__doc__


def test_no_table_reads_a_stale_label_issue_row():
    """Each (part, label set) shows one run: the rows an earlier run of it wrote are marked superseded."""
    rows = make_results.read("label_issues.csv")
    runs = {}
    for r in rows:
        runs.setdefault((r["part"], r["noise"], r["clean_fraction"], r["seed"]), set()).add(r["run"])
    assert runs and all(len(v) == 1 for v in runs.values())
    every = list(csv.DictReader(open(BENCH / "results" / "label_issues.csv")))
    assert len(every) > len(rows) and all(r["superseded_by"] for r in every if r not in rows)


def test_the_fresh_process_probe_reports_the_childs_json_and_wall_time():
    got = fresh_process(
        [
            "-c",
            "import json; from benchmarks.common import peak_rss_mib; "
            "print('noise'); print(json.dumps({'peak': peak_rss_mib()}))",
        ]
    )
    assert got["peak"] > 1 and got["wall_s"] > 0 and peak_rss_mib() > 1


def test_benchmarks_edit_no_import_path_and_import_no_private_name():
    for path in BENCH.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert (
                    node.module is None or not node.module.split(".")[-1].startswith("_") or node.module == "__future__"
                ), (path.name, node.module)
                assert not any(a.name.startswith("_") for a in node.names), (path.name, node.module)
            if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name):
                assert node.value.id != "sys", path.name


def test_a_script_block_replaces_the_sections_figures(tmp_path, monkeypatch):
    from benchmarks import common

    monkeypatch.setattr(common, "BLOCKS_DIR", tmp_path)
    monkeypatch.setattr(common, "machine", lambda: "a machine")
    common.write_block("toy/one", "| x |", "a note", wall_s=90)
    common.write_block("toy/one", "| y |")  # a rerun replaces its block, it does not append
    text = (tmp_path / "toy" / "one.md").read_text()
    assert "| y |" in text and "| x |" not in text and "a machine" in text
    assert json.dumps(text)  # plain text

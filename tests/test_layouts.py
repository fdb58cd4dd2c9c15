"""Dataset layouts come from one registry: every registered layout has a fixture in ``tests/formats.py`` and
reads the same through ``open_dataset`` and through the flags generated from its options; a toy layout, one
small module's worth of code (here, in the test) plus one ``register_layout`` line, is read by the Python
API and by ``data check`` / ``data manifest`` with nothing else changed."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from formats import FIXTURES, jpeg, write_manifest_set
from noisereg.cli import main
from noisereg.data.check import summarize
from noisereg.data.sources import Layout, get_layout, list_layouts, open_dataset, register_layout, unregister_layout
from noisereg.data.sources.registry import flag_of
from noisereg.data.table import LabelTable
from noisereg.errors import UserError
from noisereg.options import option

KEYS = ("images", "classes", "clean", "noisy", "label_cardinality", "noise_rate")


def layouts_without_fixture() -> list[str]:
    return [name for name in list_layouts() if name not in FIXTURES]


def argv_of(name: str, options: dict) -> list[str]:
    """The command-line flags that say ``options`` (field -> value) of layout ``name``."""
    flags = {f.name: flag_of(f) for f in dataclasses.fields(get_layout(name).options)}
    return [x for key, value in options.items() for x in (flags[key], str(value))]


def data_check(capsys, argv: list[str]) -> dict:
    code = main(["data", "check", *map(str, argv), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_every_registered_layout_has_a_fixture_in_tests_formats():
    assert layouts_without_fixture() == [], "add a writer of a tiny copy to tests/formats.py FIXTURES"


@pytest.mark.parametrize("name", list_layouts())
def test_each_layout_reads_its_fixture_the_same_through_open_dataset_and_its_flags(name, tmp_path, capsys):
    options = FIXTURES[name](tmp_path / "data")
    table = open_dataset(name, **options)
    assert len(table) > 0 and table.classes
    summary = data_check(capsys, ["--format", name, *argv_of(name, options)])
    expected = summarize(table)
    assert summary["images"]["total"] == len(table)
    assert {k: summary[k] for k in KEYS} == json.loads(json.dumps({k: expected[k] for k in KEYS}))


# ------------------------------------------------------------------ a toy layout, registered by the test
@dataclass
class ToyOptions:
    """``--format toy``: a listing of ``image class`` lines."""

    listing: str | None = option(None, "text file of 'image class' lines, images relative to it")
    split: str = option("train", "the split of every image", choices=("train", "val", "test"))
    exclude: list[str] = option(help="comma-separated images to leave out", default_factory=list)


def read_toy(o: ToyOptions, *, classes: list[str] | None, quiet: bool) -> LabelTable:
    """Every listed image with its one class as a clean label."""
    root = Path(str(o.listing)).parent
    rows = [line.split() for line in Path(str(o.listing)).read_text().splitlines() if line.strip()]
    rows = [(p, c) for p, c in rows if p not in o.exclude]
    names = sorted({c for _, c in rows})
    return LabelTable.human_labelled(
        classes=names,
        ids=[p for p, _ in rows],
        paths=[str(root / p) for p, _ in rows],
        splits=[o.split] * len(rows),
        labels=[[names.index(c)] for _, c in rows],
        root=root,
        source=f"toy {o.listing}",
    )


@pytest.fixture
def toy(tmp_path):
    """The toy layout registered (one line), a listing of three images; unregistered afterwards."""
    register_layout(Layout("toy", ToyOptions, read_toy, required=("listing",)))
    for i in range(3):
        jpeg(tmp_path / f"{i}.jpg", i, size=8)
    (tmp_path / "list.txt").write_text("0.jpg cat\n1.jpg dog\n2.jpg cat\n")
    try:
        yield tmp_path / "list.txt"
    finally:
        unregister_layout("toy")


def test_a_toy_layout_is_read_by_open_dataset_and_by_the_cli(toy, tmp_path, capsys):
    table = open_dataset("toy", listing=toy, split="val")
    assert len(table) == 3 and table.classes == ["cat", "dog"] and table.splits() == ["val"]
    summary = data_check(capsys, ["--format", "toy", "--listing", toy, "--split", "val"])
    assert summary["images"] == {"val": 3, "total": 3}
    assert data_check(capsys, ["--format", "toy", "--listing", toy, "--exclude", "0.jpg,2.jpg"])["classes"] == 1
    assert main(["data", "manifest", "--format", "toy", "--listing", str(toy), "--out", str(tmp_path / "m.csv")]) == 0
    capsys.readouterr()
    back = open_dataset("csv", manifest=tmp_path / "m.csv")
    assert len(back) == 3 and back.classes == ["cat", "dog"]


def test_a_toy_layout_gets_its_flags_help_and_checks(toy, capsys):
    with pytest.raises(SystemExit):
        main(["data", "check", "--help"])
    out = capsys.readouterr().out
    assert "toy" in out and "--listing" in out and "toy: text file of 'image class' lines" in out
    with pytest.raises(UserError, match=r"--format toy needs --listing \(listing=\)"):
        open_dataset("toy")
    with pytest.raises(UserError, match="listng.*did you mean 'listing'"):
        open_dataset("toy", listng=toy)
    with pytest.raises(UserError, match="split 'dev' is not one of"):
        open_dataset("toy", listing=toy, split="dev")
    with pytest.raises(UserError, match="names its own classes"):
        open_dataset("toy", listing=toy, classes=["cat", "dog"])
    assert main(["data", "check", "--format", "toy"]) == 2
    assert "--format toy needs --listing" in capsys.readouterr().err


def test_the_fixture_check_fails_for_a_layout_without_one(toy):
    assert layouts_without_fixture() == ["toy"]


def test_unknown_layouts_and_duplicates_are_refused():
    with pytest.raises(UserError, match="unknown format 'coc'.*did you mean 'coco'"):
        open_dataset("coc", root=".")
    with pytest.raises(ValueError, match="already registered"):
        register_layout(get_layout("coco"))
    with pytest.raises(ValueError, match="required field"):
        register_layout(Layout("toy2", ToyOptions, read_toy, required=("root",)))


def test_the_python_api_sets_an_image_root_as_the_cli_does(tmp_path):
    """A manifest written away from its images: read with image_root= (``--image-root``), refused without."""
    from noisereg.data.inputs import training_sets

    manifest = write_manifest_set(tmp_path / "data")
    moved = tmp_path / "elsewhere" / "m.csv"
    moved.parent.mkdir()
    moved.write_text(manifest.read_text())
    train, val = training_sets(moved, image_root=tmp_path / "data")
    assert len(train) == 4 and val is not None and len(val) == 1
    with pytest.raises(UserError, match="image file.s. not found"):
        training_sets(moved)
    table = open_dataset("csv", manifest=moved, image_root=tmp_path / "data")
    train2, _ = training_sets(table)  # a table from open_dataset is accepted as it is
    assert train2.images == train.images


def test_the_estimator_trains_on_a_manifest_away_from_its_images_with_image_root(tmp_path):
    from noisereg import NoiseRegClassifier

    manifest = write_manifest_set(tmp_path / "data")
    moved = tmp_path / "elsewhere" / "m.csv"
    moved.parent.mkdir()
    moved.write_text(manifest.read_text())
    est = NoiseRegClassifier(
        method="noisy", backbone="small-cnn", image_size=8, backbone_steps=0, steps=2, batch_size=2, quiet=True
    )
    with pytest.raises(UserError, match="image file.s. not found"):
        est.fit(moved)
    assert list(est.fit(moved, image_root=tmp_path / "data").classes_) == ["cat", "dog"]

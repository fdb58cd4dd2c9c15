"""Per-method defaults (issue 24): a ``TrainConfig`` field left unset takes the method's own value, the tuned
one that held up best across the benchmark parts, and a run records and says which values it took."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from noisereg.config import BASE_DEFAULTS, TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.estimator import NoiseRegClassifier
from noisereg.methods import get_method_spec, list_methods, register_method
from noisereg.methods.registry import DEFAULTABLE
from noisereg.train import fit
from noisereg.tuning import SPACE

ROBUST = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "robust_defaults.csv"


def _features(n: int = 200, k: int = 3, seed: int = 0) -> LabelledSet:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = (rng.normal(size=(n, 6)) + 2.0 * np.eye(k, 6)[y]).astype(np.float32)
    is_clean = np.arange(n) % 4 == 0
    return LabelledSet(
        images=x,
        classes=[str(c) for c in range(k)],
        noisy=one_hot(y, k),
        clean=one_hot(y, k),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )


def test_an_unset_field_takes_the_method_default_and_a_set_one_is_kept():
    assert set(DEFAULTABLE) == set(BASE_DEFAULTS) == set(TrainConfig.METHOD_DEFAULTED)
    glc = get_method_spec("glc").defaults
    assert TrainConfig(method="glc").resolved().lr == glc["lr"] != BASE_DEFAULTS["lr"]
    assert TrainConfig(method="glc", lr=0.5).resolved().lr == 0.5  # a given value wins
    assert TrainConfig(method="glc").resolved().hidden == BASE_DEFAULTS["hidden"]  # not glc's: the base one
    paper = TrainConfig().resolved()  # the paper's method keeps the paper's values
    assert (paper.alpha, paper.clean_ratio, paper.hidden, paper.lr) == (0.2, 0.1, 256, 1e-3)
    # the same unset config gives each method its own values (one base serves a grid of methods)
    base = TrainConfig(quiet=True)
    assert base.replace(method="g-alone").resolved().hidden == 512 and base.resolved().hidden == 256
    assert base.lr is None and base.resolved().left_to_method() == ()


def test_a_default_for_another_field_is_refused_at_registration():
    with pytest.raises(ValueError, match="no default can be given for \\['epochs'\\]"):
        register_method("x-bad-default", lambda d, k, c: None, defaults={"epochs": 3})
    assert "x-bad-default" not in list_methods()


def _robust() -> dict[str, dict[str, str]]:
    with ROBUST.open() as f:
        return {row["method"]: row for row in csv.DictReader(f)}


def test_every_default_is_what_the_robustness_study_chose():
    """The registry's values are robust_defaults.csv's to 2 significant digits (a weight decay below 1e-6 is
    0); a method without its own was best at its first trial (the base values) in every part."""
    robust = _robust()
    for name in list_methods():
        spec, row = get_method_spec(name), robust.get(name)
        for field, value in spec.defaults.items():
            kind, *space = SPACE[field]
            assert (value in space[0]) if kind == "choice" else (space[0] <= value <= space[1] or value == 0.0)
            assert row is not None, f"{name} has defaults but no row in {ROBUST.name}"
            measured = float(row[field])
            expected = (
                int(measured)
                if field == "hidden"
                else 0.0
                if field == "weight_decay" and measured < 1e-6
                else float(f"{measured:.2g}")
            )
            assert value == pytest.approx(expected), (name, field)
        if row is not None and not spec.defaults:
            assert set(row["trials"].split()) == {"0"}, f"{name}: its robust values are not its first trial's"


def test_a_run_trains_with_records_and_says_the_method_defaults(tmp_path, capsys):
    out = tmp_path / "run"
    result = fit(_features(), TrainConfig(method="g-alone", steps=20, eval_every=10, device="cpu"), out=out)
    spec = get_method_spec("g-alone").defaults
    assert result.model.method.clean_net[0].out_features == spec["hidden"] == 512  # the width it was built with
    meta = json.loads((out / "checkpoint.json").read_text())
    assert meta["config"]["hidden"] == 512 and meta["config"]["lr"] == spec["lr"]
    assert meta["method_defaults"] == ["lr", "weight_decay", "hidden", "alpha", "clean_ratio"]  # all left unset
    said = capsys.readouterr().out
    assert "g-alone: lr 0.0083, weight_decay 1.9e-05, hidden 512 (the method's defaults" in said  # what it uses
    assert "alpha" not in said.split("g-alone: ")[1].split("\n")[0]
    peak = max(r["lr"] for r in result.history if "lr" in r)
    assert peak == pytest.approx(spec["lr"], rel=1e-3)  # the optimizer ran at the method's learning rate
    given = fit(_features(), TrainConfig(method="g-alone", steps=20, hidden=16, lr=1e-2, device="cpu", quiet=True))
    assert given.model.method.clean_net[0].out_features == 16
    assert given.meta["method_defaults"] == ["weight_decay", "alpha", "clean_ratio"]


def test_the_estimator_leaves_them_to_the_method():
    x, y = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32), np.arange(60) % 2
    est = NoiseRegClassifier(method="noisy", steps=10, device="cpu").fit(x, y)
    assert est.get_params()["lr"] is None  # scikit-learn's convention: the parameter as given
    assert est.meta_["config"]["lr"] == get_method_spec("noisy").defaults["lr"]

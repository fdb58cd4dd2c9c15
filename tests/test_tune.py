"""Equal-budget tuning: the same number of seeded trials per method, on validation only."""
import csv
import json

import numpy as np
import pytest

from noisereg.cli import main
from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot, split_validation
from noisereg.experiment import ExperimentConfig, run_experiment
from noisereg.tune import SPACE, read_tuned, tune_method

pytest.importorskip("optuna")


def _task(n: int = 300, k: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = (rng.normal(size=(n, 8)) + 2.0 * np.eye(k, 8)[y]).astype(np.float32)
    noisy = np.where(rng.random(n) < 0.3, (y + 1) % k, y)
    is_clean = np.arange(n) % 5 == 0
    data = LabelledSet(images=x, classes=list("abcd"), noisy=one_hot(noisy, k), clean=one_hot(y, k),
                       has_noisy=~is_clean, has_clean=is_clean)
    return split_validation(data, 0.3, seed)


BASE = TrainConfig(steps=40, quiet=True, patience=0)


def test_every_method_gets_the_same_number_of_seeded_trials_within_its_space():
    train, val = _task()
    results = {m: tune_method(train, val, BASE, m, trials=4, seed=0) for m in ("proposed", "noisy", "glc")}
    assert {m: len(r.trials) for m, r in results.items()} == {"proposed": 4, "noisy": 4, "glc": 4}
    assert set(results["proposed"].params) == {"lr", "weight_decay", "hidden", "alpha", "clean_ratio"}
    assert set(results["noisy"].params) == {"lr", "weight_decay"}
    assert set(results["glc"].params) == {"lr", "weight_decay", "clean_ratio"}
    for r in results.values():
        assert r.trials[0]["lr"] == BASE.lr  # the defaults are the first trial
        for name, value in r.params.items():
            kind, *spec = SPACE[name]
            assert value in spec[0] if kind == "choice" else spec[0] <= value <= spec[1]
        assert r.value == max(t["value"] for t in r.trials)
    again = tune_method(train, val, BASE, "proposed", trials=4, seed=0)
    assert again.params == results["proposed"].params  # seeded


def test_tuning_refuses_a_missing_validation_set():
    train, _ = _task()
    with pytest.raises(Exception, match="needs a validation set"):
        tune_method(train, None, BASE, "noisy", trials=2)


def test_an_experiment_tunes_each_method_once_and_uses_the_chosen_values(tmp_path):
    exp = ExperimentConfig(data="digits", methods=["proposed", "noisy"], clean_fractions=[0.1, 0.2],
                           train={"steps": 8, "hidden": 8}, tune_trials=2, out=str(tmp_path))
    rows = run_experiment(exp, quiet=True)
    tuned = read_tuned(tmp_path / "tuned.json")
    assert set(tuned) == {"proposed", "noisy"}
    trials = list(csv.DictReader(open(tmp_path / "tune.csv")))
    assert [t["method"] for t in trials] == ["proposed"] * 2 + ["noisy"] * 2
    for r in rows:
        chosen = dict(kv.split("=") for kv in r["hyperparameters"].split(";"))
        assert float(chosen["lr"]) == pytest.approx(tuned[r["method"]]["lr"])


def test_tune_cli_on_a_manifest(digit_folder, tmp_path, capsys):
    out = tmp_path / "tuned"
    assert main(["tune", "--manifest", str(digit_folder), "--methods", "proposed,noisy", "--trials", "2",
                 "--out", str(out), "--steps", "10", "--image-size", "16", "--backbone-steps", "5", "--quiet"]) == 0
    assert "proposed: best validation" in capsys.readouterr().out
    assert set(json.loads((out / "tuned.json").read_text())) == {"proposed", "noisy"}
    assert main(["train", "--manifest", str(digit_folder), "--out", str(tmp_path / "run"),
                 "--config", str(out / "proposed.yaml"), "--steps", "3", "--backbone-steps", "3", "--quiet"]) == 0

"""Equal-budget tuning: the same number of seeded trials per method, on validation only."""

import csv
import json

import numpy as np
import pytest

from noisereg.cli import main
from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot, split_validation
from noisereg.experiment import ExperimentConfig, run_experiment
from noisereg.tuning import SPACE, read_tuned, tune_method

pytest.importorskip("optuna")


def _task(n: int = 300, k: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = (rng.normal(size=(n, 8)) + 2.0 * np.eye(k, 8)[y]).astype(np.float32)
    noisy = np.where(rng.random(n) < 0.3, (y + 1) % k, y)
    is_clean = np.arange(n) % 5 == 0
    data = LabelledSet(
        images=x,
        classes=list("abcd"),
        noisy=one_hot(noisy, k),
        clean=one_hot(y, k),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )
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
        # the first trial: the method's own defaults (noisy's and glc's differ from the paper's)
        assert r.trials[0]["lr"] == BASE.replace(method=r.method).resolved().lr
        for name, value in r.params.items():
            kind, *spec = SPACE[name]
            assert value in spec[0] if kind == "choice" else spec[0] <= value <= spec[1]
        assert r.value == max(t["value"] for t in r.trials)
    assert len({r.trials[0]["lr"] for r in results.values()}) == 3
    again = tune_method(train, val, BASE, "proposed", trials=4, seed=0)
    assert again.params == results["proposed"].params  # seeded


def test_tuning_refuses_a_missing_validation_set():
    train, _ = _task()
    with pytest.raises(Exception, match="needs a validation set"):
        tune_method(train, None, BASE, "noisy", trials=2)


def test_an_experiment_tunes_each_method_once_and_uses_the_chosen_values(tmp_path):
    exp = ExperimentConfig(
        data="digits",
        methods=["proposed", "noisy"],
        clean_fractions=[0.1, 0.2],
        train={"steps": 8, "hidden": 8},
        tune_trials=2,
        out=str(tmp_path),
    )
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
    assert (
        main(
            [
                "tune",
                "--manifest",
                str(digit_folder),
                "--methods",
                "proposed,noisy",
                "--trials",
                "2",
                "--out",
                str(out),
                "--steps",
                "10",
                "--backbone",
                "small-cnn",
                "--image-size",
                "16",
                "--backbone-steps",
                "5",
                "--quiet",
            ]
        )
        == 0
    )
    assert "proposed: best validation" in capsys.readouterr().out
    assert set(json.loads((out / "tuned.json").read_text())) == {"proposed", "noisy"}
    assert (
        main(
            [
                "train",
                "--manifest",
                str(digit_folder),
                "--out",
                str(tmp_path / "run"),
                "--config",
                str(out / "proposed.yaml"),
                "--steps",
                "3",
                "--backbone",
                "small-cnn",
                "--backbone-steps",
                "3",
                "--quiet",
            ]
        )
        == 0
    )


# ------------------------------------------------------------------ what Optuna gives a search
def test_a_diverging_trial_is_recorded_as_failed_and_the_search_goes_on(monkeypatch):
    import noisereg.train
    from noisereg.errors import TrainingDiverged, UserError

    train, val = _task()
    real_fit, calls = noisereg.train.fit, []

    def diverging_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise TrainingDiverged("heads: the loss became nan at step 7")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(noisereg.train, "fit", diverging_second)
    r = tune_method(train, val, BASE, "noisy", trials=3, seed=0)
    assert [t["state"] for t in r.trials] == ["complete", "failed", "complete"] and len(calls) == 3
    assert r.value == max(t["value"] for t in r.trials if t["state"] == "complete")
    monkeypatch.setattr(noisereg.train, "fit", lambda *a, **k: (_ for _ in ()).throw(TrainingDiverged("nan")))
    with pytest.raises(UserError, match="none of its 2 tuning trials finished"):
        tune_method(train, val, BASE, "noisy", trials=2, seed=0)


def test_the_median_pruner_stops_trials_that_fall_behind_on_the_validation_curve(monkeypatch):
    """What pruning does, counted (never timed): a pruned trial stops after fewer evaluations than a full run."""
    import noisereg.train

    train, val = _task()
    base = TrainConfig(steps=120, eval_every=6, quiet=True, patience=0)
    fit, evaluations = noisereg.train.fit, []  # per trial: the validation points its run reached

    def counting_fit(*a, on_evaluation=None, **k):
        evaluations.append(0)

        def count(scores, model):
            evaluations[-1] += 1
            if on_evaluation is not None:
                on_evaluation(scores, model)

        return fit(*a, on_evaluation=count, **k)

    monkeypatch.setattr(noisereg.train, "fit", counting_fit)
    seen = {}
    for p in ("median", "none"):
        evaluations.clear()
        seen[p] = (tune_method(train, val, base, "proposed", trials=8, seed=0, pruner=p), list(evaluations))
    (median, counts), (unpruned, full_counts) = seen["median"], seen["none"]
    states = [t["state"] for t in median.trials]
    assert states.count("pruned") >= 1 and states[:2] == ["complete", "complete"], states  # after 2 finished
    assert {t["state"] for t in unpruned.trials} == {"complete"}
    full = base.steps // base.eval_every
    assert full_counts == [full] * 8, full_counts  # without the pruner every trial runs its whole curve
    assert [n for n, s in zip(counts, states) if s == "complete"] == [full] * (8 - states.count("pruned"))
    pruned = [n for n, s in zip(counts, states) if s == "pruned"]
    assert all(3 <= n < full for n in pruned), (pruned, full)  # stopped early, never inside the 2-step warm-up


def test_a_search_with_storage_resumes_where_it_stopped(tmp_path):
    train, val = _task()
    url, ran = f"sqlite:///{tmp_path / 'tune.db'}", []
    first = tune_method(train, val, BASE, "noisy", trials=2, seed=0, storage=url, on_trial=ran.append)
    assert len(ran) == 2
    ran.clear()
    resumed = tune_method(train, val, BASE, "noisy", trials=3, seed=0, storage=url, on_trial=ran.append)
    assert len(ran) == 1 and len(resumed.trials) == 3  # only the missing trial ran; the earlier two are listed
    assert [t["trial"] for t in resumed.trials] == [0, 1, 2]
    assert [t["value"] for t in resumed.trials[:2]] == [t["value"] for t in first.trials]
    from noisereg.errors import UserError

    with pytest.raises(UserError, match="tuning storage"):
        tune_method(train, val, BASE, "noisy", trials=1, storage="nosuchdb://x")


def test_train_tune_records_the_chosen_values_in_checkpoint_and_config(digit_folder, tmp_path, capsys):
    import yaml

    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--manifest",
                str(digit_folder),
                "--out",
                str(out),
                "--tune",
                "3",
                "--steps",
                "20",
                "--backbone",
                "small-cnn",
                "--image-size",
                "16",
                "--backbone-steps",
                "0",
                "--hidden",
                "8",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "tuning 'proposed': 3 trials on validation" in printed and "tuned 'proposed': lr=" in printed
    trials = list(csv.DictReader(open(out / "tune.csv")))
    assert len(trials) == 3
    best = max((t for t in trials if t["state"] == "complete"), key=lambda t: float(t["value"]))
    recorded = json.loads((out / "checkpoint.json").read_text())["config"]
    written = yaml.safe_load((out / "config.yaml").read_text())
    for cfg in (recorded, written):
        assert cfg["tune_trials"] == 3
        assert cfg["lr"] == pytest.approx(float(best["lr"])) and cfg["alpha"] == pytest.approx(float(best["alpha"]))
        assert cfg["hidden"] == int(best["hidden"])


def test_the_estimator_tunes_before_it_fits():
    from noisereg import NoiseRegClassifier

    train, val = _task()
    x, y = np.asarray(train.images), train.noisy.argmax(1)
    clean = train.has_clean
    est = NoiseRegClassifier(method="noisy", steps=30, tune_trials=2, device="cpu")
    est.fit(x[~clean], y[~clean], clean=(x[clean], train.clean.argmax(1)[clean]))
    assert set(est.tuned_) == {"lr", "weight_decay"}
    assert est.meta_["config"]["lr"] == pytest.approx(est.tuned_["lr"]) and est.get_params()["tune_trials"] == 2


def test_tuning_on_a_small_validation_set_says_that_its_choice_is_noisy(capsys):
    """Under 200 validation images the trials are ranked mostly by noise (the VOC benchmark: 32 photos chose
    values below the defaults): the search says so in one line on stderr, and not on a larger set."""
    from noisereg.tuning import tune

    train, val = _task(n=300)
    tune(train, methods=["noisy"], trials=1, base=BASE, eval_set=val)
    err = capsys.readouterr().err
    assert f"tuning on {len(val)} validation images" in err and len(err.strip().splitlines()) == 1
    big_train, big_val = _task(n=4000)  # 800 clean images, 240 of them validation
    tune(big_train, methods=["noisy"], trials=1, base=BASE, eval_set=big_val)
    assert "tuning on" not in capsys.readouterr().err

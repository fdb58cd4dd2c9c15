"""The experiment runner on a tiny grid, and the CIFAR-10N readers on ../shared/data (skipped without it)."""

import csv
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import SHARED_DATA

from noisereg.cli import main
from noisereg.errors import UserError
from noisereg.experiment import ExperimentConfig, load_experiment, run_experiment
from noisereg.report.grid import summary_table

SRC = Path(__file__).resolve().parents[1] / "src" / "noisereg"


def test_tiny_grid_writes_csv_table_and_plots(tmp_path):
    exp = ExperimentConfig(
        data="digits",
        methods=["proposed", "noisy", "forward"],
        clean_fractions=[0.1, 0.2],
        activations=["sigmoid", "relu"],
        seeds=2,
        train={"steps": 6, "hidden": 8},
        out=str(tmp_path),
    )
    rows = run_experiment(exp, quiet=True)
    # proposed x 2 activations + noisy + forward, x 2 fractions x 2 seeds
    assert len(rows) == 4 * 2 * 2
    with open(tmp_path / "results.csv") as f:
        read = list(csv.DictReader(f))
    assert len(read) == 16 and set(read[0]) >= {
        "method",
        "clean_fraction",
        "activation",
        "alpha",
        "seed",
        "top1",
        "mAP",
        "AP_all",
        "seconds",
    }
    for r in read:  # where the kept weights are, beside where the run stopped
        assert 0 <= float(r["best_epoch"]) <= float(r["epochs"]), r
    head = subprocess.run(["git", "-C", str(SRC), "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:  # a git checkout: every row names the commit that produced it
        assert {r["commit"].removesuffix("+dirty") for r in read} == {head.stdout.strip()}
    table = (tmp_path / "table.md").read_text()
    assert "| proposed | relu |" in table and "| noisy | - |" in table and "top1 @ 0.2" in table
    assert (tmp_path / "convergence_sigmoid.png").is_file() and (tmp_path / "convergence_relu.png").is_file()


def test_summary_table_is_mean_and_sample_std_over_seeds():
    rows = [{"method": "m", "activation": "-", "clean_fraction": 0.1, "top1": v} for v in (0.5, 0.7)]
    assert "| m | - | 60.00 ± 14.14 |" in summary_table(rows, [0.1], ["top1"])  # ddof 1: sqrt(200)


def test_methods_that_refuse_the_data_are_listed_not_fatal(tmp_path):
    exp = ExperimentConfig(
        data="digits-multi",
        methods=["glc", "proposed"],
        clean_fractions=[0.1],
        train={"steps": 3, "backbone_steps": 3, "hidden": 8},
        out=str(tmp_path),
    )
    rows = run_experiment(exp, quiet=True)
    assert [r["method"] for r in rows] == ["proposed"]
    assert "glc: " in (tmp_path / "table.md").read_text()


def test_bad_experiment_values():
    with pytest.raises(UserError, match="unknown method"):
        ExperimentConfig(methods=["nope"])
    with pytest.raises(UserError, match="clean fractions"):
        ExperimentConfig(clean_fractions=[1.5])
    with pytest.raises(UserError, match="unknown experiment key"):
        load_experiment(None, colour="red")


def test_experiment_cli(tmp_path, capsys):
    assert (
        main(
            [
                "experiment",
                "--data",
                "digits",
                "--methods",
                "proposed,g-alone",
                "--clean-fractions",
                "0.1",
                "--seeds",
                "1",
                "--steps",
                "4",
                "--out",
                str(tmp_path),
                "--quiet",
            ]
        )
        == 0
    )
    assert "| g-alone | sigmoid |" in capsys.readouterr().out


needs_cifar = pytest.mark.skipif(
    not (SHARED_DATA / "cifar10n" / "CIFAR-10_human.pt").is_file(), reason="../shared/data/cifar10n is absent"
)


@needs_cifar
def test_cifar10n_labels_load_safely_with_the_published_noise_rates():
    from noisereg.data.sources.cifar_n import load_cifar_n_labels, noisy_labels, train_image_paths

    labels = load_cifar_n_labels(SHARED_DATA / "cifar10n" / "CIFAR-10_human.pt")
    clean = labels["clean_label"]
    rates = {n: float((noisy_labels(labels, n) != clean).mean()) for n in ("aggre", "random1", "worse")}
    assert rates == {"aggre": pytest.approx(0.0901), "random1": pytest.approx(0.17234), "worse": pytest.approx(0.40208)}
    paths = train_image_paths(SHARED_DATA / "cifar10", clean)
    assert paths[:3] == [
        str(SHARED_DATA / "cifar10" / "train" / c) for c in ("frog/0000.jpg", "truck/0000.jpg", "truck/0001.jpg")
    ]


@needs_cifar
def test_cifar_mosaic_labels_are_unions_of_tile_labels():
    from noisereg.tasks.mosaics import union_labels

    labels = np.array([0, 3, 3, 9])
    tiles = np.array([[0, 1, 2, 3], [1, 1, 2, 2]])
    assert union_labels(labels, tiles, 10)[0].nonzero()[0].tolist() == [0, 3, 9]
    assert union_labels(labels, tiles, 10)[1].nonzero()[0].tolist() == [3]


def test_cifar_label_file_errors(tmp_path):
    from noisereg.data.sources.cifar_n import load_cifar_n_labels

    with pytest.raises(UserError, match="CIFAR-N label file not found"):
        load_cifar_n_labels(tmp_path / "none.pt")
    import os
    import pickle  # noqa: E401 - writes a malicious-style pickle to prove it is refused

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"clean_label": os.getcwd}))
    with pytest.raises(UserError, match="without unsafe unpickling"):
        load_cifar_n_labels(tmp_path / "evil.pt")


@needs_cifar
def test_cifar_multi_label_task_on_real_images_and_human_labels():
    import torch

    from noisereg.tasks.cifar10n import cifar10n_builder

    build = cifar10n_builder(
        None,
        None,
        noise="worse",
        multi_label=True,
        backbone="small-cnn",
        image_size=32,
        mosaics=40,
        cache_dir="unused",
        device=torch.device("cpu"),
        features=False,
    )
    task = build(0.2, 0)
    train = task.train
    assert train.images.shape == (40, 3, 64, 64) and len(task.test) == 8
    assert train.has_clean.sum() == 8 and not (train.has_clean & train.has_noisy).any()
    assert (train.clean.sum(1) >= 1).all() and (train.clean.sum(1) <= 4).all() and not task.single_label
    assert 0 < task.noise["missing"] < 1 and task.noise["spurious"] > 0  # real human noise in the tiles


def test_experiment_grid_on_a_manifest(tmp_path, digit_folder):
    """Any manifest (a compiled protocol, a converted dataset) runs the grid: fractions of its clean train labels."""
    import csv as _csv

    from noisereg.experiment import load_experiment, run_experiment

    exp = load_experiment(
        None,
        data="manifest",
        manifest=str(digit_folder),
        methods=["proposed", "noisy", "gt"],
        clean_fractions=[0.1, 0.3],
        out=str(tmp_path / "exp"),
        feature_image_size=32,
        train={"steps": 40},
    )
    rows = run_experiment(exp, quiet=True)
    assert [(r["method"], r["clean_fraction"]) for r in rows] == [
        ("proposed", 0.1),
        ("noisy", 0.1),
        ("gt", 0.1),
        ("proposed", 0.3),
        ("noisy", 0.3),
        ("gt", 0.3),
    ]
    assert rows[0]["dataset"] == "manifest" and all(0 <= r["top1"] <= 1 for r in rows)
    assert rows[2]["top1"] == rows[5]["top1"]  # gt trains on every clean label there is, whatever the fraction
    assert len(list(_csv.DictReader(open(tmp_path / "exp" / "results.csv")))) == 6
    assert any((tmp_path / "exp" / "cache").iterdir())  # ImageNet features extracted once, cached
    with pytest.raises(UserError, match="only .* have a clean label"):
        run_experiment(
            load_experiment(
                None,
                data="manifest",
                manifest=str(digit_folder),
                methods=["proposed"],
                clean_fractions=[0.9],
                out=str(tmp_path / "exp2"),
                feature_image_size=32,
                train={"steps": 5},
            ),
            quiet=True,
        )


def test_digits_test_split_is_the_same_for_every_seed():
    """Tuning runs at seed 0: no other seed may test on images seed 0 trained on."""
    from noisereg.tasks.digits import digits_multi_label, digits_single_label

    a, b = digits_single_label(seed=0), digits_single_label(seed=3)
    assert np.array_equal(np.asarray(a.test.images), np.asarray(b.test.images))
    assert np.array_equal(a.test.clean, b.test.clean)
    train_a = {np.asarray(x).tobytes() for x in np.asarray(a.train.images)}
    assert not any(np.asarray(x).tobytes() in train_a for x in np.asarray(b.test.images))
    m0, m1 = digits_multi_label(seed=0, n_train=50, n_test=20), digits_multi_label(seed=2, n_train=50, n_test=20)
    assert np.array_equal(np.asarray(m0.test.images), np.asarray(m1.test.images))


@pytest.mark.slow
def test_the_test_labels_choose_nothing(tmp_path, monkeypatch):
    """Permuting the test labels changes the test scores and nothing else: not the tuned values, not the
    steps at which weights were kept, not the weights themselves (the test split is only scored)."""
    import dataclasses
    import hashlib

    import noisereg.train
    from noisereg.tasks import TASKS

    spec, real_fit = TASKS["digits"], noisereg.train.fit
    kept: list[tuple] = []

    def recording_fit(*args, **kwargs):
        result = real_fit(*args, **kwargs)
        digest = hashlib.sha256(
            b"".join(v.detach().cpu().numpy().tobytes() for v in result.model.state_dict().values())
        ).hexdigest()
        kept.append((digest, [(h["step"], h.get("val_best")) for h in result.history if "val_best" in h]))
        return result

    def permuted(opts, device):
        build = spec.builder(opts, device)

        def make(fraction, seed):
            task = build(fraction, seed)
            order = np.random.default_rng(7).permutation(len(task.test))
            test = dataclasses.replace(task.test, clean=task.test.clean[order])
            return dataclasses.replace(task, test=test)

        return make

    monkeypatch.setattr(noisereg.train, "fit", recording_fit)
    runs = {}
    for name, builder in (("true", spec.builder), ("permuted", permuted)):
        monkeypatch.setitem(TASKS, "digits", dataclasses.replace(spec, builder=builder))
        kept.clear()
        exp = ExperimentConfig(
            data="digits",
            methods=["proposed"],
            clean_fractions=[0.2],
            seeds=1,
            tune_trials=2,
            tune_fraction=0.2,
            train={"steps": 30, "hidden": 8},
            cache_dir=str(tmp_path / "cache"),
            out=str(tmp_path / name),
        )
        rows = run_experiment(exp, quiet=True)
        runs[name] = (rows, list(kept), (tmp_path / name / "tuned.json").read_text())
    (true_rows, true_kept, true_tuned), (perm_rows, perm_kept, perm_tuned) = runs["true"], runs["permuted"]
    assert perm_tuned == true_tuned
    assert perm_kept == true_kept  # every trial's and run's validation curve and kept weights
    assert [r["epochs"] for r in perm_rows] == [r["epochs"] for r in true_rows]
    assert [r["top1"] for r in perm_rows] != [r["top1"] for r in true_rows]  # the permutation did reach the test

"""Training length and batch from the data (issue 24): the defaults (``--steps 0``, ``--batch-size 0``) give a
small set a long enough phase and a large one 20 epochs, and a run records what it derived."""

from __future__ import annotations

import json

import numpy as np
import pytest

from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.train import fit
from noisereg.train.length import DEFAULT_EPOCHS, MAX_STEPS, MIN_STEPS, auto_batch_size, phase_steps


def _features(n: int, k: int = 4, seed: int = 0) -> LabelledSet:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = (rng.normal(size=(n, 8)) + 2.0 * np.eye(k, 8)[y]).astype(np.float32)
    is_clean = np.arange(n) % 10 == 0
    return LabelledSet(
        images=x,
        classes=[str(c) for c in range(k)],
        noisy=one_hot(y, k),
        clean=one_hot(y, k),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )


@pytest.mark.parametrize(
    "rows, batch", [(100, 32), (3_999, 32), (4_000, 64), (15_999, 64), (16_000, 128), (9_000_000, 128)]
)
def test_the_batch_grows_with_the_data(rows, batch):
    assert auto_batch_size(rows) == batch


def test_a_small_set_trains_the_minimum_and_a_large_one_twenty_epochs():
    auto = TrainConfig()
    assert auto.steps == 0 and auto.batch_size == 0  # the defaults are the data's
    assert phase_steps(auto, per_epoch=30, total=0) == MIN_STEPS  # 20 epochs would be 600 steps
    assert phase_steps(auto, per_epoch=400, total=0) == DEFAULT_EPOCHS * 400
    assert phase_steps(auto, per_epoch=70_000, total=0) == MAX_STEPS  # OpenImages: 20 epochs is 1.4M steps
    assert phase_steps(auto.replace(steps=500), per_epoch=400, total=500) == 500  # --steps overrides
    assert phase_steps(auto.replace(epochs=2.5), per_epoch=400, total=0) == 1000  # --epochs overrides both
    assert phase_steps(auto, per_epoch=400, total=200) == 200  # --backbone-steps for stage one


def test_a_run_on_the_defaults_records_what_it_derived(tmp_path, capsys):
    data = _features(1_200)
    cfg = TrainConfig(method="proposed", hidden=8, patience=0, eval_every=100)
    fit(data, cfg, out=tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert meta["config"]["batch_size"] == 32 and meta["config"]["steps"] == 0
    length = meta["length"]["heads"]
    assert length["steps"] == MIN_STEPS and length["batch_size"] == 32 and length["eval_every"] == 100
    per_epoch = length["steps_per_epoch"]
    assert 0 < per_epoch < MIN_STEPS / DEFAULT_EPOCHS  # a small set: the minimum, not 20 epochs, decided
    out = "".join(capsys.readouterr())
    assert f"heads: {MIN_STEPS:,} steps of batch 32" in out and "(batch and length from the " in out


def test_given_values_are_kept_and_not_called_derived(tmp_path, capsys):
    data = _features(600)
    fit(data, TrainConfig(method="g-alone", hidden=8, steps=40, batch_size=16, patience=0), out=tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert meta["length"]["heads"]["steps"] == 40 and meta["config"]["batch_size"] == 16
    out = "".join(capsys.readouterr())
    assert "heads: 40 steps of batch 16" in out and "training rows)" not in out


def test_patience_counts_epochs_and_at_least_five_evaluations():
    from noisereg.train.length import patience_evaluations

    cfg = TrainConfig()
    assert cfg.patience == 5.0
    assert patience_evaluations(cfg, per_epoch=400, every=200) == 10  # 5 epochs at two evaluations an epoch
    assert patience_evaluations(cfg.replace(patience=2.5), per_epoch=400, every=200) == 5
    assert patience_evaluations(cfg, per_epoch=30, every=60) == 5  # 2.5 evaluations' worth: the floor
    assert patience_evaluations(cfg.replace(patience=0), per_epoch=400, every=200) == 0  # never stop early

"""The phase's small parts: the loop calls its callbacks in order and stops when one says so; the selector and
the early stopper alone do what ``Selection`` did; ``train_run`` is the ``train`` command as one library call."""

import json

import numpy as np
import torch

from noisereg.checkpoint import has_checkpoint
from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.distributed import DistContext
from noisereg.methods import LinearClassifier, Phase
from noisereg.pipeline import train_run
from noisereg.train import Classifier, make_optimizer, train_loop
from noisereg.train.batches import iter_training_batches
from noisereg.train.callbacks import Checkpointer, StepState
from noisereg.train.imbalance import sampler_for
from noisereg.train.selection import EarlyStopper, Selection, Selector


def _features(n: int = 120, seed: int = 0) -> LabelledSet:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 6)) + 3 * np.eye(3, 6)[y]).astype(np.float32)
    clean = np.arange(n) % 4 == 0
    return LabelledSet(
        images=x, classes=["a", "b", "c"], noisy=one_hot(y, 3), clean=one_hot(y, 3), has_noisy=~clean, has_clean=clean
    )


class _Recorder:
    """A callback that writes down when it ran, and stops the phase at ``stop_at``."""

    def __init__(self, name: str, seen: list, stop_at: int = 0) -> None:
        self.name, self.seen, self.stop_at = name, seen, stop_at

    def on_step(self, state: StepState) -> None:
        self.seen.append((state.step, self.name, state.record.get("mark")))
        state.record["mark"] = self.name
        state.stop = state.stop or state.step == self.stop_at


def test_the_loop_calls_its_callbacks_in_order_on_one_state_and_stops_when_told():
    data, cfg = _features(), TrainConfig(batch_size=8, quiet=True)
    model = Classifier(torch.nn.Identity(), LinearClassifier(6, 3))
    sampler = sampler_for(cfg, data, Phase("train", 0.25), DistContext())
    batches = iter_training_batches(data, torch.from_numpy(data.images), None, sampler, range(10))
    seen: list = []
    history = train_loop(
        model,
        batches,
        make_optimizer(model, cfg),
        cfg,
        range(10),
        device=torch.device("cpu"),
        desc="t",
        callbacks=[_Recorder("first", seen), _Recorder("second", seen, stop_at=3)],
    )
    assert seen == [(s, name, mark) for s in (1, 2, 3) for name, mark in (("first", None), ("second", "first"))]
    assert [h["step"] for h in history] == [1, 2, 3] and history[-1]["mark"] == "second"


def test_the_checkpointer_saves_every_n_steps_but_not_at_the_end_nor_when_stopping():
    saved: list = []
    cp = Checkpointer(saved.append, every=2, total=6)
    for step in range(1, 7):
        cp.on_step(StepState(step, {}, stop=step == 4))
    assert saved == [2]


def test_selector_and_early_stopper_alone_decide_as_the_joined_selection():
    rng = np.random.default_rng(0)
    module = torch.nn.Linear(2, 1)
    joined = Selection("top1", patience=3, by_loss=True)
    selector = Selector("top1", by_loss=True, module=module, per_epoch=10)
    stopper = EarlyStopper("top1", patience=3, start_after=20)
    for step in range(10, 200, 10):
        scores = {"top1": float(rng.choice([0.5, 0.6, 0.7])), "bce": float(rng.choice([0.3, 0.4, 0.5]))}
        stop = joined.update(step, scores, module)
        state = StepState(step, {}, scores=scores)
        selector.on_step(state)
        stopper.on_step(state)
        assert state.stop == (stop and step > 20)
        assert (selector.best, selector.best_step, stopper.bad) == (joined.best, joined.best_step, joined.bad)
        assert state.record["kept_step"] == joined.best_step and state.record["best_epoch"] == joined.best_step / 10
    quiet = StepState(5, {})
    selector.on_step(quiet)
    stopper.on_step(quiet)
    assert quiet.record == {} and not quiet.stop  # no evaluation at this step: nothing to decide


def test_train_run_trains_scores_and_reports_in_one_call(tmp_path):
    data = _features()
    lines: list = []
    run = train_run(
        data, TrainConfig(method="proposed", steps=40, hidden=8, quiet=True), out=tmp_path / "run", say=lines.append
    )
    assert run.scores is None and run.search is None and run.report == tmp_path / "run" / "report.html"
    assert run.report.is_file() and json.loads((tmp_path / "run" / "run.json").read_text())
    assert has_checkpoint(tmp_path / "run")
    assert lines[0].startswith("trained 'proposed' (frozen) on 30 clean + 90 noisy images")
    assert lines[-1] == f"report: {run.report}"
    val = data.subset(np.flatnonzero(data.has_clean))
    again = train_run(
        data,
        TrainConfig(method="proposed", steps=40, hidden=8, quiet=True),
        eval_set=val,
        out=tmp_path / "with-val",
        say=lines.append,
    )
    assert again.scores is not None and any(line.startswith("val: mAP ") for line in lines)

"""Validation from the clean budget, best-by-validation weights, early stopping and the schedules."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from safetensors.torch import load_file

from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, multi_hot, one_hot, split_validation, validation_rows
from noisereg.train import evaluate, fit
from noisereg.train.loop import lr_factor
from noisereg.train.selection import Selection, selects_by_loss

CPU = torch.device("cpu")


def _features(n: int = 600, k: int = 5, clean_every: int = 10, seed: int = 0, flip: float = 0.4) -> LabelledSet:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = (rng.normal(size=(n, 16)) + 2.0 * np.eye(k, 16)[y]).astype(np.float32)
    noisy = np.where(rng.random(n) < flip, (y + 1) % k, y)  # class-dependent flips
    is_clean = np.arange(n) % clean_every == 0
    return LabelledSet(
        images=x,
        classes=[str(c) for c in range(k)],
        noisy=one_hot(noisy, k),
        clean=one_hot(y, k),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )


def test_validation_is_carved_from_the_clean_budget_only_and_is_seeded():
    data = _features()
    train, val = split_validation(data, 0.2, seed=3)
    rows = validation_rows(data, 0.2, seed=3)
    assert rows.sum() == len(val) == round(0.2 * data.has_clean.sum())
    assert not (rows & ~data.has_clean).any()  # only clean images are held out
    assert not (train.has_clean & rows).any() and not (train.has_noisy & rows).any()  # neither label trains
    assert train.has_clean.sum() + len(val) == data.has_clean.sum()  # counted inside the clean budget
    assert train.has_noisy.sum() == data.has_noisy.sum()
    assert val.has_clean.all() and not val.has_noisy.any()
    np.testing.assert_array_equal(rows, validation_rows(data, 0.2, seed=3))  # stable under the seed
    assert (rows != validation_rows(data, 0.2, seed=4)).any()
    assert (val.clean.sum(0) >= 1).all()  # every class is in validation


def test_every_class_gets_a_validation_image_where_possible():
    k = 10
    y = np.repeat(np.arange(k), 3)  # 3 clean images per class: 20% would be 6 images, missing classes
    data = LabelledSet(
        images=np.zeros((len(y), 4), np.float32),
        classes=[str(c) for c in range(k)],
        noisy=one_hot(y, k),
        clean=one_hot(y, k),
        has_noisy=np.zeros(len(y), bool),
        has_clean=np.ones(len(y), bool),
    )
    train, val = split_validation(data, 0.2, seed=0)
    assert (val.clean.sum(0) >= 1).all()  # one per class in validation
    assert (data.clean[train.has_clean].sum(0) >= 1).all()  # and one per class left to train
    labels = [[0, 1], [1], [2], [0, 2], [1, 2], [0]]
    multi = LabelledSet(
        images=np.zeros((6, 4), np.float32),
        classes=list("abc"),
        noisy=multi_hot(labels, 3),
        clean=multi_hot(labels, 3),
        has_noisy=np.zeros(6, bool),
        has_clean=np.ones(6, bool),
    )
    assert (split_validation(multi, 0.2, seed=1)[1].clean.sum(0) >= 1).all()


def _dense_reference_rows(data, fraction, seed):
    """The draw as first written, on a dense label matrix of the clean rows."""
    clean = data.clean_indices
    out = np.zeros(len(data), bool)
    order = np.random.default_rng([seed, 23]).permutation(clean)
    out[order[: int(round(fraction * len(clean)))]] = True
    labels = np.asarray(sp.csr_matrix(data.clean)[order].todense()) > 0.5
    for k in range(data.num_classes):
        pos = order[labels[:, k]]
        if len(pos) >= 2 and not out[pos].any():
            out[pos[0]] = True
        if len(pos) >= 2 and out[pos].all():
            out[pos[-1]] = False
    return out


def test_sparse_clean_labels_give_the_same_validation_rows():
    """OpenImages-sized clean sets keep CSR labels: the draw reads them by class, without densifying."""
    rng = np.random.default_rng(0)
    labels = (rng.random((400, 30)) < 0.1).astype(np.float32)
    dense = LabelledSet(
        images=np.zeros((400, 4), np.float32),
        classes=[str(c) for c in range(30)],
        noisy=labels,
        clean=labels,
        has_noisy=np.ones(400, bool),
        has_clean=np.arange(400) % 3 == 0,
    )
    sparse = LabelledSet(
        images=dense.images,
        classes=dense.classes,
        noisy=sp.csr_matrix(labels),
        clean=sp.csr_matrix(labels),
        has_noisy=dense.has_noisy,
        has_clean=dense.has_clean,
    )
    for seed in range(3):
        want = _dense_reference_rows(dense, 0.2, seed)
        np.testing.assert_array_equal(validation_rows(sparse, 0.2, seed), want)
        np.testing.assert_array_equal(validation_rows(dense, 0.2, seed), want)
    assert sparse.ids[:2] == ["0", "1"] and sparse.ids[399] == "399" and len(sparse.ids) == 400


def test_no_validation_when_the_fraction_is_zero():
    data = _features()
    assert split_validation(data, 0.0, seed=0)[1] is None
    r = fit(data, TrainConfig(method="noisy", steps=20, val_fraction=0, quiet=True, patience=0))
    assert not any("val_top1" in h for h in r.history) and len(r.history) == 20


def _memorisable(n: int = 400, k: int = 5, flip: float = 0.6, dims: int = 600, seed: int = 0) -> LabelledSet:
    """A weak class signal plus many random dimensions: a linear model first learns the classes, then
    memorises the (mostly wrong) noisy labels through the random dimensions and validation falls."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = np.concatenate([np.eye(k)[y] + 0.5 * rng.normal(size=(n, k)), rng.normal(size=(n, dims))], 1)
    noisy = np.where(rng.random(n) < flip, (y + rng.integers(1, k, n)) % k, y)
    is_clean = np.arange(n) % 5 == 0
    return LabelledSet(
        images=x.astype(np.float32),
        classes=[str(c) for c in range(k)],
        noisy=one_hot(noisy, k),
        clean=one_hot(y, k),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )


def test_the_best_weights_on_validation_are_kept_and_the_last_beside_them(tmp_path):
    """Validation accuracy peaks early, then falls as the noise is memorised."""
    data = _memorisable()
    cfg = TrainConfig(
        method="noisy",
        steps=400,
        lr=0.05,
        schedule="constant",
        warmup=0.0,
        eval_every=10,
        patience=0,
        quiet=True,
        val_metric="top1",
    )  # named: kept by top-1 though validation is small
    r = fit(data, cfg, out=tmp_path)
    vals = [(h["step"], h["val_top1"]) for h in r.history if "val_top1" in h]
    best_step, best = max(vals, key=lambda v: (v[1], v[0]))
    assert best > vals[-1][1] + 0.05  # the curve declined: the last step is not the best
    _, val = split_validation(data, cfg.val_fraction, cfg.seed)
    assert evaluate(r.model, val, r.preprocess, device=CPU)["top1"] == pytest.approx(best)
    meta = json.loads((tmp_path / "checkpoint.json").read_text())
    assert meta["history"][-1]["val_best"] == pytest.approx(best)
    served, last = load_file(tmp_path / "model.safetensors"), load_file(tmp_path / "last.safetensors")
    torch.testing.assert_close(served["method.fc.weight"], r.model.state_dict()["method.fc.weight"])
    assert not torch.equal(served["method.fc.weight"], last["method.fc.weight"])


def test_early_stopping_ends_a_phase_after_the_patience_runs_out():
    data = _memorisable()
    cfg = TrainConfig(
        method="noisy", steps=2000, lr=0.05, schedule="constant", warmup=0.0, eval_every=10, patience=5, quiet=True
    )
    r = fit(data, cfg)
    assert r.history[-1]["step"] < 2000
    length = r.meta["length"]["heads"]  # patience in epochs, as evaluations: at least 5
    wait = max(5, -(-5 * length["steps_per_epoch"] // 10))
    assert length["patience_evaluations"] == wait
    evals = [h for h in r.history if "val_top1" in h]
    bad, stops = 0, []
    for i, h in enumerate(evals):  # the rule, recomputed: neither top-1 nor the loss improved
        better = (
            i == 0
            or h["val_top1"] > max(e["val_top1"] for e in evals[:i])
            or h["val_bce"] < min(e["val_bce"] for e in evals[:i])
        )
        bad = 0 if better else bad + 1
        stops.append(bad >= wait and h["step"] > 2000 // 5)  # no stop in the first fifth of the phase
    assert stops.index(True) == len(evals) - 1  # it stopped at the first evaluation the rule allows


def test_selection_prefers_later_weights_on_ties_and_counts_patience_on_both_signals():
    sel = Selection("top1", patience=2)
    module = torch.nn.Linear(2, 1)
    assert not sel.update(10, {"top1": 0.5, "bce": 0.7}, module)
    with torch.no_grad():
        module.weight.add_(1.0)
    assert not sel.update(20, {"top1": 0.5, "bce": 0.6}, module)  # tie on top-1, better loss: not bad
    assert sel.best_step == 20 and sel.bad == 0
    torch.testing.assert_close(sel.weights["weight"], module.weight.detach())
    assert not sel.update(30, {"top1": 0.4, "bce": 0.65}, module)
    assert sel.update(40, {"top1": 0.45, "bce": 0.61}, module)  # two evaluations without improvement
    assert sel.best_step == 20


def test_a_small_single_label_validation_set_keeps_the_lowest_loss_weights(tmp_path):
    """Under 200 validation images (here 80) and --val-metric auto, the kept weights are those of the lowest
    validation loss, not of the best top-1; named top1 keeps the best top-1; multi-label keeps mAP."""
    data = _memorisable()
    cfg = TrainConfig(
        method="noisy", steps=400, lr=0.05, schedule="constant", warmup=0.0, eval_every=10, patience=0, quiet=True
    )
    r = fit(data, cfg, out=tmp_path)
    evals = [h for h in r.history if "val_bce" in h]
    assert len(r.eval_set) < 200
    low = min(evals, key=lambda h: (h["val_bce"], -h["step"]))
    per_epoch = r.meta["length"]["heads"]["steps_per_epoch"]
    assert r.history[-1]["best_epoch"] == pytest.approx(low["step"] / per_epoch, abs=1e-3)
    assert r.history[-1]["val_best"] == pytest.approx(low["val_top1"])  # the kept weights' top-1
    assert evaluate(r.model, r.eval_set, r.preprocess, device=CPU)["bce"] == pytest.approx(low["val_bce"], rel=1e-4)
    assert json.loads((tmp_path / "checkpoint.json").read_text())["selection"]["by_loss"] is True
    by_top1 = max(evals, key=lambda h: (h["val_top1"], h["step"]))
    assert by_top1["step"] != low["step"]  # the two rules disagree on this curve, so the test can tell them apart
    assert selects_by_loss("auto", r.eval_set) and not selects_by_loss("top1", r.eval_set)
    assert not selects_by_loss("auto", None)


def test_the_evaluation_line_names_the_step_the_rule_keeps_never_a_new_best_it_does_not_keep():
    """Selected by the validation loss (a small validation set), each evaluation line names the lowest-loss step
    so far and that step's top-1; on this curve the best top-1 is elsewhere, and no line says "new best"."""
    from noisereg.train.log import format_evaluation

    cfg = TrainConfig(
        method="noisy", steps=400, lr=0.05, schedule="constant", warmup=0.0, eval_every=10, patience=0, quiet=True
    )
    evals = [h for h in fit(_memorisable(), cfg).history if "val_bce" in h]
    lines = [format_evaluation(h, "top1", name="noisy:heads", total=400, mean_loss=0.1) for h in evals]
    for i, line in enumerate(lines):
        low = min(evals[: i + 1], key=lambda e: (e["val_bce"], -e["step"]))  # what the rule keeps at this point
        assert line.endswith(f"kept step {low['step']} (lowest val loss, top1 {100 * low['val_top1']:.2f})"), line
        assert "new best" not in line
    assert any(h["val_top1"] > h["val_best"] for h in evals)  # a line whose top-1 beats the kept one's


def test_the_evaluation_line_without_selection_says_the_last_weights_are_kept():
    from noisereg.train.log import format_evaluation

    record = {"step": 30, "epoch": 1.0, "val_top1": 0.5, "val_best": 0.8, "kept_step": 30, "kept_by": "last"}
    line = format_evaluation(record, "top1", name="noisy:heads", total=40, mean_loss=0.1)
    assert line.endswith("kept step 30 (the last weights; best val top1 80.00)")
    record.update(kept_step=20, kept_by="val top1")
    assert format_evaluation(record, "top1", name="noisy:heads", total=40, mean_loss=0.1).endswith(
        "kept step 20 (best val top1 80.00)"
    )


def test_selection_by_loss_keeps_the_later_of_equal_losses_and_still_counts_top1_for_patience():
    sel, module = Selection("top1", patience=2, by_loss=True), torch.nn.Linear(2, 1)
    sel.update(10, {"top1": 0.9, "bce": 0.5}, module)
    sel.update(20, {"top1": 0.6, "bce": 0.4}, module)
    assert (sel.best_step, sel.best, sel.top) == (20, 0.6, 0.9)
    sel.update(30, {"top1": 0.7, "bce": 0.4}, module)  # a tie on the loss: the later weights
    assert sel.best_step == 30 and sel.bad == 1
    assert not sel.update(40, {"top1": 0.95, "bce": 0.45}, module)  # top-1 improved: patience reset, not kept
    assert sel.best_step == 30 and sel.bad == 0
    restored = Selection("top1", patience=2, by_loss=True)
    restored.load_state(sel.state(), sel.weights)
    assert (restored.best, restored.top, restored.best_loss) == (sel.best, sel.top, sel.best_loss)


def test_schedules():
    cos = TrainConfig(schedule="cosine", warmup=0.1)
    assert lr_factor(cos, 0, 100) == pytest.approx(0.1) and lr_factor(cos, 9, 100) == pytest.approx(1.0)
    assert lr_factor(cos, 10, 100) == pytest.approx(1.0) and lr_factor(cos, 55, 100) == pytest.approx(0.5)
    assert lr_factor(cos, 99, 100) < 0.01
    step = TrainConfig(schedule="step", warmup=0.0, lr_decay=0.5, decay_every=10)
    assert lr_factor(step, 25, 100) == pytest.approx(0.25)
    assert lr_factor(TrainConfig(schedule="constant", warmup=0.0), 77, 100) == 1.0


def test_multi_label_validation_selects_by_map():
    rng = np.random.default_rng(0)
    labels = [list(rng.choice(4, size=rng.integers(1, 3), replace=False)) for _ in range(300)]
    y = multi_hot(labels, 4)
    x = (rng.normal(size=(300, 8)) + 2.0 * y @ np.eye(4, 8)).astype(np.float32)
    is_clean = np.arange(300) % 4 == 0
    data = LabelledSet(images=x, classes=list("abcd"), noisy=y, clean=y, has_noisy=~is_clean, has_clean=is_clean)
    r = fit(data, TrainConfig(steps=60, hidden=16, quiet=True, patience=0))
    assert any("val_mAP" in h for h in r.history)
    assert json.dumps(r.history)  # plain numbers only


def test_a_small_validation_set_is_said_once_in_one_line(capsys):
    """600 rows, a tenth clean, a fifth of that held out: 12 validation images, said in one line at the start;
    2,400 rows, half clean, hold out 240: nothing said."""
    fit(_features(), TrainConfig(steps=4, device="cpu"))
    out = capsys.readouterr().out.splitlines()
    small = [line for line in out if "the validation set has" in line]
    assert small == [small[0]] and small[0].startswith(
        "note: the validation set has 12 images: a score on it moves by about ±13 points"
    )
    fit(_features(n=2400, clean_every=2), TrainConfig(steps=4, device="cpu"))
    assert "the validation set has" not in capsys.readouterr().out

"""Values chosen on validation when left unset (issue 24, train/choice.py): `proposed`'s alpha among the
paper's 0.2, 0.05 and 0.02, scored by each candidate's kept weights on the validation set; the features
computed once for all candidates and the final run, and a line at the start and per candidate (issue 44)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot, split_validation
from noisereg.methods import get_method_spec, list_methods, register_method
from noisereg.models.backbones import Backbone
from noisereg.train import evaluate, fit
from noisereg.train.choice import choose_on_validation, pending, resumed_choices

CANDIDATES = get_method_spec("proposed").chosen_on_val["alpha"]


def _task(n: int = 400, k: int = 3, seed: int = 0) -> LabelledSet:
    """Features with a class signal, a quarter clean and 30% of the noisy labels flipped."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = (rng.normal(size=(n, 8)) + 1.5 * np.eye(k, 8)[y]).astype(np.float32)
    noisy = np.where(rng.random(n) < 0.3, rng.integers(0, k, n), y)
    is_clean = np.arange(n) % 4 == 0
    return LabelledSet(
        images=x,
        classes=[str(c) for c in range(k)],
        noisy=one_hot(noisy, k),
        clean=one_hot(y, k),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )


def _image_task(n: int = 240, k: int = 3, seed: int = 0) -> LabelledSet:
    """1x8x8 images in memory (a bright row per class over noise), a quarter clean, 30% of noisy labels flipped."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = rng.random((n, 1, 8, 8)).astype(np.float32)
    x[np.arange(n), 0, 2 * y] += 1.0
    noisy = np.where(rng.random(n) < 0.3, rng.integers(0, k, n), y)
    is_clean = np.arange(n) % 4 == 0
    return LabelledSet(
        images=torch.from_numpy(x),
        classes=[str(c) for c in range(k)],
        noisy=one_hot(noisy, k),
        clean=one_hot(y, k),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(
        **{"method": "proposed", "steps": 60, "eval_every": 20, "device": "cpu", "quiet": True, "seed": 0, **kw}
    )


def test_the_paper_method_chooses_alpha_on_validation_and_trains_its_run_with_the_winner(tmp_path, capsys):
    train, val = split_validation(_task(), 0.3, 0)
    result = fit(train, _cfg(quiet=False), eval_set=val, out=tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    [choice] = meta["chosen_on_validation"]
    assert choice["name"] == "alpha" and choice["candidates"] == list(CANDIDATES) and choice["metric"] == "top1"
    scores = choice["scores"]
    for alpha, score in zip(CANDIDATES, scores):  # each score is that alpha's own run, scored on validation
        alone = fit(train, _cfg(alpha=alpha), eval_set=val)
        assert evaluate(alone.model, val, alone.preprocess, device=torch.device("cpu"))["top1"] == pytest.approx(score)
    best = max(range(3), key=lambda i: (scores[i], -i))
    assert choice["chosen"] == CANDIDATES[best] == meta["config"]["alpha"] == result.model.method.alpha
    assert "alpha" in meta["method_defaults"]  # left unset by the user
    twin = fit(train, _cfg(alpha=CANDIDATES[best]), eval_set=val)  # the final run is the winner's run
    for a, b in zip(result.model.state_dict().values(), twin.model.state_dict().values()):
        assert torch.equal(a, b)
    out = capsys.readouterr().out
    assert f"proposed: alpha {CANDIDATES[best]:g} chosen on validation" in out
    assert "alpha 0.2 (the method's defaults" not in out  # not called a default when it was chosen


def test_a_tie_keeps_the_earlier_candidate_the_paper_value():
    train, val = split_validation(_task(), 0.3, 0)
    once = fit(train, _cfg(alpha=0.05), eval_set=val)
    calls = []
    cfg, [choice], _, _ = choose_on_validation(_cfg(), train, val, None, lambda c, s1, f: calls.append(c.alpha) or once)
    assert calls == list(CANDIDATES) and len(set(choice.scores)) == 1
    assert choice.chosen == cfg.alpha == CANDIDATES[0] == 0.2


def test_nothing_is_chosen_when_alpha_is_given_or_there_is_no_validation_or_backbone_trains():
    train, val = split_validation(_task(), 0.3, 0)
    assert pending(_cfg(), val) == ("alpha",)
    assert pending(_cfg(alpha=0.2), val) == ()
    assert pending(_cfg(), None) == ()
    assert pending(_cfg(scheme="end-to-end"), val) == ()  # a candidate would retrain the backbone
    assert pending(_cfg(method="g-alone"), val) == ()  # only methods that declare it
    images = LabelledSet(
        images=["a.png"],
        classes=["0", "1"],
        noisy=np.ones((1, 2)),
        clean=np.ones((1, 2)),
        has_noisy=np.ones(1, bool),
        has_clean=np.ones(1, bool),
    )
    assert not images.holds_features
    assert pending(_cfg(backbone_steps=5), val, images) == ()  # the backbone stage trains in this run
    assert pending(_cfg(backbone_steps=0), val, images) == ("alpha",)  # the backbone as created
    assert pending(_cfg(backbone_steps=5), val, train) == ("alpha",)  # features: no backbone stage
    result = fit(_task(), _cfg(alpha=0.02, val_fraction=0.2))
    assert result.meta.get("chosen_on_validation", []) == [] and result.model.method.alpha == 0.02
    plain = fit(_task(), _cfg(val_fraction=0.0))  # no validation: the paper's value, nothing chosen
    assert plain.model.method.alpha == 0.2


def test_a_resumed_run_keeps_the_value_its_first_sitting_chose(tmp_path):
    train, val = split_validation(_task(), 0.3, 0)
    fit(train, _cfg(), eval_set=val, out=tmp_path / "run")
    chosen = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["config"]["alpha"]
    assert resumed_choices(_cfg(), tmp_path / "run").alpha == chosen
    assert resumed_choices(_cfg(alpha=0.5), tmp_path / "run").alpha == 0.5  # a given value wins
    again = fit(train, _cfg(), eval_set=val, out=tmp_path / "run", resume=True)  # no mismatch, no new choice
    assert again.model.method.alpha == chosen


def test_a_choice_needs_two_candidates_of_a_defaultable_field():
    for bad in ({"alpha": (0.2,)}, {"epochs": (1, 2)}):
        with pytest.raises(ValueError, match="chosen_on_val needs two or more candidates"):
            register_method("x-bad-choice", lambda d, k, c: None, chosen_on_val=bad)
    assert "x-bad-choice" not in list_methods()


IMAGES = dict(backbone="small-cnn", backbone_steps=0, image_size=8)


def _backbone_rows(run) -> tuple[int, object]:
    """(images that went through any backbone, what ``run()`` returned): f(x) computed, wherever it is."""
    seen = []
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda m, args, out: seen.append(len(args[0])) if isinstance(m, Backbone) else None
    )
    try:
        result = run()
    finally:
        hook.remove()
    return sum(seen), result


@pytest.mark.parametrize("kind", ["images", "cached images", "features"])
def test_the_choice_computes_the_features_once_for_all_candidates_and_the_final_run(kind, tmp_path):
    features = kind == "features"
    train, val = split_validation(_task() if features else _image_task(), 0.3, 0)
    cfg = _cfg(**({} if features else IMAGES), cache_dir=str(tmp_path / "cache") if kind == "cached images" else None)
    rows, result = _backbone_rows(lambda: fit(train, cfg, eval_set=val))
    [choice] = result.meta["chosen_on_validation"]
    assert choice["candidates"] == list(CANDIDATES) and result.model.method.alpha == choice["chosen"]
    assert rows == (0 if features else len(train) + len(val))  # the data are their own features; else once each
    if kind == "images":  # the same choice as before: each score is that alpha's own run, on its images
        for alpha, score in zip(CANDIDATES, choice["scores"]):
            alone = fit(train, cfg.replace(alpha=alpha), eval_set=val)
            assert evaluate(alone.model, val, alone.preprocess, device=torch.device("cpu"))["top1"] == score
        twin = fit(train, cfg.replace(alpha=choice["chosen"]), eval_set=val)  # the final run is the winner's
        for a, b in zip(result.model.state_dict().values(), twin.model.state_dict().values()):
            assert torch.equal(a, b)


def test_the_choice_says_what_it_chooses_when_it_starts_and_each_candidates_score(capsys):
    train, val = split_validation(_task(), 0.3, 0)
    result = fit(train, _cfg(quiet=False), eval_set=val)
    [choice] = result.meta["chosen_on_validation"]
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("proposed: choosing alpha on validation"))
    assert "3 candidates (0.2, 0.05, 0.02)" in lines[start]
    assert f"scored on {int(val.has_clean.sum())} validation images" in lines[start]
    each = [
        lines.index(f"proposed: alpha {c:g} ({i + 1}/3): validation top1 {s:.4f}")
        for i, (c, s) in enumerate(zip(CANDIDATES, choice["scores"]))
    ]
    summary = next(i for i, line in enumerate(lines) if "chosen on validation (top1 of each" in line)
    assert start < each[0] < each[1] < each[2] < summary
    fit(train, _cfg(), eval_set=val)  # quiet: none of them
    assert "alpha" not in capsys.readouterr().out

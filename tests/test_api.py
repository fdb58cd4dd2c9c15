"""The public API: every name of ``noisereg.__all__`` resolves on first use, and tuning runs from it."""

import json
import subprocess
import sys

import numpy as np
import pytest

import noisereg
from noisereg.errors import UserError


def test_importing_noisereg_imports_nothing_heavy():
    code = "import sys, noisereg; print(noisereg.__version__, 'torch' in sys.modules, 'noisereg.config' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == [noisereg.__version__, "False", "False"]


def test_every_public_name_resolves_to_the_object_of_its_module():
    from noisereg import experiment, tuning

    for name in noisereg.__all__:
        assert getattr(noisereg, name) is not None, name
    assert noisereg.run_experiment is experiment.run_experiment and noisereg.tune is tuning.tune
    with pytest.raises(AttributeError, match="no attribute 'tune_method'"):
        noisereg.tune_method  # noqa: B018 (the one-method search stays in noisereg.tuning)


@pytest.mark.parametrize(
    "package, part",
    [("config", "checks"), ("features", "cache"), ("tuning", "search")],
)
def test_a_package_split_for_length_keeps_its_names_at_the_old_path(package, part):
    """config, features and tuning became packages to stay under the line cap (issue 43): every name their
    ``__all__`` lists exists at ``noisereg.<package>``, and those that moved are the part's very objects."""
    import importlib

    outer = importlib.import_module(f"noisereg.{package}")
    inner = importlib.import_module(f"noisereg.{package}.{part}")
    assert outer.__all__ and all(hasattr(outer, name) for name in outer.__all__)
    moved = [name for name in outer.__all__ if hasattr(inner, name)]
    assert moved and all(getattr(outer, name) is getattr(inner, name) for name in moved), moved


def _task(n: int = 240, k: int = 3, seed: int = 0) -> "noisereg.LabelledSet":
    from noisereg.data.labelset import one_hot

    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = (rng.normal(size=(n, 6)) + 2.0 * np.eye(k, 6)[y]).astype(np.float32)
    noisy = np.where(rng.random(n) < 0.3, (y + 1) % k, y)
    is_clean = np.arange(n) % 4 == 0
    return noisereg.LabelledSet(
        images=x,
        classes=list("abc"),
        noisy=one_hot(noisy, k),
        clean=one_hot(y, k),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )


def test_tune_gives_each_method_the_same_trials_and_writes_them(tmp_path):
    pytest.importorskip("optuna")
    base = noisereg.TrainConfig(steps=20, hidden=16, quiet=True, patience=0)
    seen = []
    results = noisereg.tune(
        _task(), methods=["proposed", "noisy"], trials=2, base=base, out=tmp_path, on_trial=seen.append
    )
    assert {m: len(r.trials) for m, r in results.items()} == {"proposed": 2, "noisy": 2} and len(seen) == 4
    assert json.loads((tmp_path / "tuned.json").read_text()) == {m: r.params for m, r in results.items()}
    assert (tmp_path / "proposed.yaml").is_file() and (tmp_path / "noisy.yaml").is_file()
    with pytest.raises(UserError, match="a non-empty list of method ids, got 'proposed'"):
        noisereg.tune(_task(), methods="proposed", trials=1)
    seen.clear()
    with pytest.raises(UserError, match="unknown method 'nope'"):
        noisereg.tune(_task(), methods=["noisy", "nope"], trials=1, on_trial=seen.append)
    assert seen == []  # refused before any trial ran

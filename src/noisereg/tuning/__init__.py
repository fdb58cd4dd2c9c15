"""Fair tuning: every method searches its own hyper-parameters on validation with the same budget.

A method's ``MethodSpec.tunable`` names the ``TrainConfig`` fields it searches (learning rate and
weight decay for all; hidden width for the heads; alpha and the clean share of a batch where the
method has them). Each method gets the same number of Optuna trials (TPE, seeded), each trial a full
run with early stopping scored by its best validation metric; the test set is never seen. The chosen
values are returned, written as ``tuned.json`` (reusable by ``noisereg experiment --tuned``) and one
``<method>.yaml`` per method (usable with ``noisereg train --config``). ``tune`` does it for several
methods (``noisereg.tune``, what ``noisereg tune`` does); ``tune_method`` searches one, with the Optuna
study and trials of ``search.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..errors import TrainingDiverged, UserError
from ..safe_io import output_dir, write_csv, write_json, write_text
from .search import SPACE, create_study, in_space, load_optuna, make_objective, suggest, trial_row

__all__ = [
    "PRUNERS",
    "SPACE",
    "TuneResult",
    "read_tuned",
    "small_validation_note",
    "suggest",
    "tune",
    "tune_method",
    "tuned_config",
    "write_tuned",
]


@dataclass
class TuneResult:
    """The values a method's search chose, its best validation score and every trial."""

    method: str
    params: dict[str, Any]
    value: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


PRUNERS = ("median", "none")


def tune_method(
    train: Any,
    val: Any,
    base: TrainConfig,
    method: str,
    *,
    trials: int,
    seed: int = 0,
    stage_one: Any = None,
    on_trial: Callable[[dict], None] | None = None,
    pruner: str = "none",
    storage: str | None = None,
) -> TuneResult:
    """Search ``method``'s tunable fields with ``trials`` runs, each scored on ``val`` (its best step).

    A trial whose loss diverges is recorded as failed and the search goes on; with ``pruner="median"`` a
    trial whose validation curve falls below the median of the earlier trials' at the same evaluation
    stops there (pruned), so bad values cost less. With ``storage`` (an Optuna URL such as
    ``sqlite:///tune.db``) the study is kept there under the method's name: run again, a stopped search
    resumes, its finished trials counting towards ``trials``.

    Args:
        train / val: the training set and the validation set (from the clean budget, never the test set).
        base: the settings every trial starts from (its ``method`` is replaced).
        stage_one: a trained Backbone (Noisy) to share (frozen scheme), as in ``fit``.
        pruner: ``median`` or ``none`` (every trial runs to its end, as the benchmark tables were tuned).
    """
    from ..distributed import resolve_device
    from ..methods import get_method_spec

    if trials < 1:
        raise UserError(f"trials must be >= 1, got {trials}")
    if val is None:
        raise UserError("tuning needs a validation set: a clean set with at least two images, or a val split")
    if pruner not in PRUNERS:
        raise UserError(f"pruner '{pruner}' is not one of {list(PRUNERS)}")
    optuna = load_optuna()
    spec = get_method_spec(method)
    names = [n for n in spec.tunable if n in SPACE]
    study = create_study(optuna, method, seed, pruner, storage)
    done = [t for t in study.trials if t.state.is_finished()]
    if not done:
        first = base.replace(method=method).resolved()  # the method's defaults (or the values base sets) first
        study.enqueue_trial({n: getattr(first, n) for n in names if in_space(n, getattr(first, n))})
    rows: list[dict[str, Any]] = [trial_row(method, t) for t in done]  # an earlier sitting's (storage)
    start, device = time.perf_counter(), resolve_device(base.device)
    objective = make_objective(
        train,
        val,
        base,
        method,
        names,
        None if spec.train_view else stage_one,
        device,
        rows,
        on_trial,
        optuna,
        pruned=pruner != "none",
    )
    study.optimize(objective, n_trials=max(0, trials - len(done)), catch=(TrainingDiverged,))
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        raise UserError(
            f"{method}: none of its {trials} tuning trials finished (each diverged or was pruned): "
            "try a lower --lr or more trials"
        )
    return TuneResult(
        method, dict(study.best_params), float(study.best_value), rows, round(time.perf_counter() - start, 1)
    )


def small_validation_note(val: Any) -> None:
    """One stderr line when the trials are to be told apart on under ``SMALL_VALIDATION`` images: the search
    then ranks its trials mostly by the noise of that set, and its choice can be worse than the defaults
    (the first trial), as measured on the benchmark's VOC part (benchmarks/RESULTS.md)."""
    from ..progress import warn
    from ..train.checks import SMALL_VALIDATION

    if val is not None and len(val) < SMALL_VALIDATION:
        warn(
            f"note: tuning on {len(val)} validation images: the trials are ranked mostly by the noise of so few "
            "images, and the values chosen can score below the method's defaults on new data (see the README's "
            "VOC results); with under 200 validation images prefer the defaults, or validate on more images "
            "(--val-dir)"
        )


def tuned_config(
    train: Any,
    cfg: TrainConfig,
    eval_set: Any = None,
    *,
    storage: str | None = None,
    on_trial: Callable[[dict], None] | None = None,
) -> tuple[TrainConfig, TuneResult]:
    """``noisereg train --tune N``: ``cfg.tune_trials`` trials of ``cfg.method`` on validation (``eval_set``,
    or the seeded ``cfg.val_fraction`` of the clean set that ``fit`` holds out with the same seed), median
    pruning; returns ``cfg`` with the chosen values, and the search."""
    from ..data.decode import drop_unreadable
    from ..data.labelset import split_validation

    train, eval_set = drop_unreadable(train, eval_set, cfg)  # skip_unreadable: before the hold-out, as fit; once
    if eval_set is None:
        train, eval_set = split_validation(train, cfg.val_fraction, cfg.seed)
    small_validation_note(eval_set)
    result = tune_method(
        train,
        eval_set,
        cfg.replace(tune_trials=0, quiet=True),
        cfg.method,
        trials=cfg.tune_trials,
        seed=cfg.seed,
        on_trial=on_trial,
        pruner="median",
        storage=storage,
    )
    return cfg.replace(**result.params), result


def tune(
    train: Any,
    *,
    methods: Sequence[str],
    trials: int,
    base: TrainConfig | None = None,
    eval_set: Any = None,
    out: str | Path | None = None,
    on_trial: Callable[[dict], None] | None = None,
    pruner: str = "median",
    storage: str | None = None,
) -> dict[str, TuneResult]:
    """Tune each of ``methods`` with the same budget (``noisereg tune`` from Python).

    Args:
        train: the training set, a ``LabelledSet`` holding D_n and D_c (as ``noisereg.fit`` takes it).
        methods: method ids (``noisereg.list_methods()``), each searched over its ``MethodSpec.tunable``.
        trials: seeded Optuna trials per method, the same number for each; every trial is a full run.
        base: the settings every trial starts from (default ``TrainConfig(quiet=True)``); ``base.seed``
            seeds the searches and the validation hold-out.
        eval_set: the validation set; default: a seeded ``base.val_fraction`` of the clean set, held out
            of ``train`` as ``fit`` does. The test set must never be given here.
        out: a folder to write ``tuned.json``, ``tune.csv`` and one ``<method>.yaml`` into (``write_tuned``).
        on_trial: called with each trial's row (its values, validation score, epochs, seconds, state).
        pruner: ``median`` stops a trial whose validation curve falls behind the earlier trials' (``none``:
            every trial runs to its end); a diverging trial is recorded as failed and the search goes on.
        storage: an Optuna storage URL (``sqlite:///tune.db``) that keeps each method's study, so that a
            stopped search resumes where it was.

    Returns:
        method -> ``TuneResult``: the chosen values (``params``), its best validation score, every trial.
    """
    from ..data.labelset import split_validation
    from ..methods import get_method_spec

    base = base if base is not None else TrainConfig(quiet=True)
    if isinstance(methods, str) or not methods:
        raise UserError(f"methods must be a non-empty list of method ids, got {methods!r}")
    for method in methods:
        get_method_spec(method)  # an unknown id is refused before any trial runs
    from ..data.decode import drop_unreadable

    train, eval_set = drop_unreadable(train, eval_set, base)  # skip_unreadable: before the hold-out, as fit; once
    if eval_set is None:
        train, eval_set = split_validation(train, base.val_fraction, base.seed)
    small_validation_note(eval_set)
    results = {
        m: tune_method(
            train, eval_set, base, m, trials=trials, seed=base.seed, on_trial=on_trial, pruner=pruner, storage=storage
        )
        for m in methods
    }
    if out is not None:
        write_tuned(out, results, base)
    return results


def write_tuned(out: str | Path, results: dict[str, TuneResult], base: TrainConfig) -> Path:
    """``tuned.json`` (method -> chosen values), ``tune.csv`` (every trial), ``<method>.yaml`` configs."""
    import yaml

    out = output_dir(out)
    write_json(out / "tuned.json", {m: r.params for m, r in results.items()}, indent=1)
    rows = [row for r in results.values() for row in r.trials]
    write_csv(out / "tune.csv", rows, list(dict.fromkeys(k for row in rows for k in row)))
    for m, r in results.items():
        write_text(out / f"{m}.yaml", yaml.safe_dump(base.replace(method=m, **r.params).to_dict(), sort_keys=False))
    return out / "tuned.json"


def read_tuned(path: str | Path) -> dict[str, dict[str, Any]]:
    """A ``tuned.json``: method -> the ``TrainConfig`` values its search chose (checked)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"tuned values not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError) as e:
        raise UserError(f"{path}: not a tuned.json file ({type(e).__name__})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UserError(f"{path}: expected an object of method -> {{field: value}}")
    for method, params in data.items():
        TrainConfig.from_dict({"method": method, **params})
    return data

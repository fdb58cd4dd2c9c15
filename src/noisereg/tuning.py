"""Fair tuning: every method searches its own hyper-parameters on validation with the same budget.

A method's ``MethodSpec.tunable`` names the ``TrainConfig`` fields it searches (learning rate and
weight decay for all; hidden width for the heads; alpha and the clean share of a batch where the
method has them). Each method gets the same number of Optuna trials (TPE, seeded), each trial a full
run with early stopping scored by its best validation metric; the test set is never seen. The chosen
values are returned, written as ``tuned.json`` (reusable by ``noisereg experiment --tuned``) and one
``<method>.yaml`` per method (usable with ``noisereg train --config``). ``tune`` does it for several
methods (``noisereg.tune``, what ``noisereg tune`` does); ``tune_method`` searches one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .errors import TrainingDiverged, UserError
from .safe_io import output_dir, write_csv, write_json, write_text

# the search space of every tunable field: (kind, low, high) or ("choice", values)
SPACE: dict[str, tuple] = {
    "lr": ("log", 1e-4, 3e-2),
    "weight_decay": ("log", 1e-7, 1e-2),
    "hidden": ("choice", (128, 256, 512)),
    "alpha": ("log", 0.02, 5.0),
    "clean_ratio": ("float", 0.05, 0.5),
}


@dataclass
class TuneResult:
    """The values a method's search chose, its best validation score and every trial."""

    method: str
    params: dict[str, Any]
    value: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UserError("tuning needs Optuna: pip install 'noisereg[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def suggest(trial: Any, name: str) -> Any:
    """One value of field ``name`` from its search space."""
    kind, *spec = SPACE[name]
    if kind == "log":
        return trial.suggest_float(name, spec[0], spec[1], log=True)
    if kind == "float":
        return trial.suggest_float(name, spec[0], spec[1])
    return trial.suggest_categorical(name, list(spec[0]))


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
    from .distributed import resolve_device
    from .methods import get_method_spec

    if trials < 1:
        raise UserError(f"trials must be >= 1, got {trials}")
    if val is None:
        raise UserError("tuning needs a validation set: a clean set with at least two images, or a val split")
    if pruner not in PRUNERS:
        raise UserError(f"pruner '{pruner}' is not one of {list(PRUNERS)}")
    optuna = _optuna()
    spec = get_method_spec(method)
    names = [n for n in spec.tunable if n in SPACE]
    study = _study(optuna, method, seed, pruner, storage)
    done = [t for t in study.trials if t.state.is_finished()]
    if not done:
        first = base.replace(method=method).resolved()  # the method's defaults (or the values base sets) first
        study.enqueue_trial({n: getattr(first, n) for n in names if _in_space(n, getattr(first, n))})
    rows: list[dict[str, Any]] = [_trial_row(method, t) for t in done]  # an earlier sitting's (storage)
    start, device = time.perf_counter(), resolve_device(base.device)
    objective = _objective(
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


def _study(optuna: Any, method: str, seed: int, pruner: str, storage: str | None) -> Any:
    """A seeded TPE study, with the median pruner (after 2 finished trials and 2 evaluations) when asked."""
    prune = (
        optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)
        if pruner == "median"
        else optuna.pruners.NopPruner()
    )
    try:
        return optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=prune,
            storage=storage,
            study_name=method if storage else None,
            load_if_exists=storage is not None,
        )
    except Exception as e:  # a malformed URL, an unknown database, a missing driver: whatever the storage says
        if storage is None:
            raise
        raise UserError(
            f"tuning storage {storage!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None


def _objective(
    train: Any,
    val: Any,
    base: TrainConfig,
    method: str,
    names: list[str],
    stage_one: Any,
    device: Any,
    rows: list[dict],
    on_trial: Callable[[dict], None] | None,
    optuna: Any,
    pruned: bool,
) -> Callable[[Any], float]:
    """One trial: a full run with the suggested values, scored by the weights it keeps; its row appended
    (``state``: complete, pruned or failed) whatever its end."""
    from .train import evaluate, fit, metric_name

    metric = metric_name(base.val_metric, val)

    def objective(trial: Any) -> float:
        params = {n: suggest(trial, n) for n in names}
        t, seen = time.perf_counter(), []

        def report(scores: dict, _model: Any) -> None:  # the validation curve, one point per evaluation
            seen.append(scores[metric])
            trial.report(scores[metric], len(seen) - 1)
            if trial.should_prune():
                raise optuna.TrialPruned()

        row = {"method": method, "trial": trial.number, **params, "value": "", "epochs": "", "seconds": ""}
        try:
            result = fit(
                train,
                base.replace(method=method, **params),
                eval_set=val,
                stage_one=stage_one,
                print_evaluations=False,
                on_evaluation=report if pruned else None,
            )
        except (TrainingDiverged, optuna.TrialPruned) as e:
            state = "pruned" if isinstance(e, optuna.TrialPruned) else "failed"
            rows.append(
                {
                    **row,
                    "value": max(seen) if seen and state == "pruned" else "",
                    "state": state,
                    "seconds": round(time.perf_counter() - t, 2),
                }
            )
            if on_trial:
                on_trial(rows[-1])
            raise
        best = evaluate(result.model, val, result.preprocess, device=device)[metric]  # the weights fit keeps
        epochs = result.history[-1].get("epoch") if result.history else 0
        trial.set_user_attr("epochs", epochs)
        trial.set_user_attr("seconds", round(time.perf_counter() - t, 2))
        rows.append(
            {**row, "value": best, "epochs": epochs, "seconds": trial.user_attrs["seconds"], "state": "complete"}
        )
        if on_trial:
            on_trial(rows[-1])
        return best

    return objective


def _trial_row(method: str, t: Any) -> dict[str, Any]:
    """The row of a trial an earlier sitting ran (from the study's storage)."""
    return {
        "method": method,
        "trial": t.number,
        **t.params,
        "value": "" if t.value is None else t.value,
        "epochs": t.user_attrs.get("epochs", ""),
        "seconds": t.user_attrs.get("seconds", ""),
        "state": t.state.name.lower().replace("fail", "failed"),
    }


def small_validation_note(val: Any) -> None:
    """One stderr line when the trials are to be told apart on under ``SMALL_VALIDATION`` images: the search
    then ranks its trials mostly by the noise of that set, and its choice can be worse than the defaults
    (the first trial), as measured on the benchmark's VOC part (benchmarks/RESULTS.md)."""
    from .progress import warn
    from .train.checks import SMALL_VALIDATION

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
    from .data.decode import drop_unreadable
    from .data.labelset import split_validation

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
    from .data.labelset import split_validation
    from .methods import get_method_spec

    base = base if base is not None else TrainConfig(quiet=True)
    if isinstance(methods, str) or not methods:
        raise UserError(f"methods must be a non-empty list of method ids, got {methods!r}")
    for method in methods:
        get_method_spec(method)  # an unknown id is refused before any trial runs
    from .data.decode import drop_unreadable

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


def _in_space(name: str, value: Any) -> bool:
    kind, *spec = SPACE[name]
    return value in spec[0] if kind == "choice" else spec[0] <= value <= spec[1]


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

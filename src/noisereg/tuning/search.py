"""The Optuna search behind ``tune_method``: each tunable field's space, the seeded study and one trial.

A trial is a full run with the suggested values (``fit``), scored on validation by the weights it keeps;
its row (values, score, epochs, seconds, state) is recorded whatever its end: complete, pruned or failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..config import TrainConfig
from ..errors import TrainingDiverged, UserError

# the search space of every tunable field: (kind, low, high) or ("choice", values)
SPACE: dict[str, tuple] = {
    "lr": ("log", 1e-4, 3e-2),
    "weight_decay": ("log", 1e-7, 1e-2),
    "hidden": ("choice", (128, 256, 512)),
    "alpha": ("log", 0.02, 5.0),
    "clean_ratio": ("float", 0.05, 0.5),
}


def load_optuna() -> Any:
    """Optuna (an optional dependency, imported when a search starts), its logging quieted to warnings."""
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


def in_space(name: str, value: Any) -> bool:
    """True when ``value`` lies in field ``name``'s search space (only then can a trial be enqueued with it)."""
    kind, *spec = SPACE[name]
    return value in spec[0] if kind == "choice" else spec[0] <= value <= spec[1]


def create_study(optuna: Any, method: str, seed: int, pruner: str, storage: str | None) -> Any:
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


def make_objective(
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
    from ..train import evaluate, fit, metric_name

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


def trial_row(method: str, t: Any) -> dict[str, Any]:
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

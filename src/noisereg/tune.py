"""Fair tuning: every method searches its own hyper-parameters on validation with the same budget.

A method's ``MethodSpec.tunable`` names the ``TrainConfig`` fields it searches (learning rate and
weight decay for all; hidden width for the heads; alpha and the clean share of a batch where the
method has them). Each method gets the same number of Optuna trials (TPE, seeded), each trial a full
run with early stopping scored by its best validation metric; the test set is never seen. The chosen
values are returned, written as ``tuned.json`` (reusable by ``noisereg experiment --tuned``) and one
``<method>.yaml`` per method (usable with ``noisereg train --config``).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from .config import TrainConfig
from .errors import UserError
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


def tune_method(train: Any, val: Any, base: TrainConfig, method: str, *, trials: int, seed: int = 0,
                stage_one: Any = None, on_trial: Optional[Callable[[dict], None]] = None) -> TuneResult:
    """Search ``method``'s tunable fields with ``trials`` runs, each scored on ``val`` (its best step).

    Args:
        train / val: the training set and the validation set (from the clean budget, never the test set).
        base: the settings every trial starts from (its ``method`` is replaced).
        stage_one: a trained Backbone (Noisy) to share (frozen scheme), as in ``fit``.
    """
    from .distributed import resolve_device
    from .methods import get_method_spec
    from .train import evaluate, fit, metric_name
    if trials < 1:
        raise UserError(f"trials must be >= 1, got {trials}")
    if val is None:
        raise UserError("tuning needs a validation set: a clean set with at least two images, or a val split")
    optuna = _optuna()
    spec = get_method_spec(method)
    names = [n for n in spec.tunable if n in SPACE]
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({n: getattr(base, n) for n in names if _in_space(n, getattr(base, n))})  # the defaults first
    rows: list[dict[str, Any]] = []
    start, metric, device = time.perf_counter(), metric_name(base.val_metric, val), resolve_device(base.device)

    def objective(trial: Any) -> float:
        params = {n: suggest(trial, n) for n in names}
        t = time.perf_counter()
        result = fit(train, base.replace(method=method, **params), eval_set=val,
                     stage_one=None if spec.train_view else stage_one, print_evaluations=False)
        best = evaluate(result.model, val, result.preprocess, device=device)[metric]  # the weights fit keeps
        row = {"method": method, "trial": trial.number, **params, "value": best,
               "epochs": result.history[-1].get("epoch") if result.history else 0,
               "seconds": round(time.perf_counter() - t, 2)}
        rows.append(row)
        if on_trial:
            on_trial(row)
        return best

    study.optimize(objective, n_trials=trials)
    return TuneResult(method, dict(study.best_params), float(study.best_value), rows,
                      round(time.perf_counter() - start, 1))


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

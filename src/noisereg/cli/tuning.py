"""``noisereg tune`` and ``noisereg train --tune N``: Optuna searches on validation, the same number of trials
for every method."""

from __future__ import annotations

import argparse
from typing import Any

from ..options import add_flags, flag_values


def cmd_tune(args: argparse.Namespace) -> int:
    from ..config import TrainConfig, load_config
    from ..pipeline import trial_line
    from ..tuning import tune
    from .training import train_and_val

    base = load_config(args.config, quiet=True, **flag_values(args, TrainConfig))
    train, val = train_and_val(args, base)
    methods = [m for m in args.methods.split(",") if m]
    results = tune(
        train,
        methods=methods,
        trials=args.trials,
        base=base,
        eval_set=val,
        out=args.out,
        on_trial=None if args.quiet else lambda row: print(trial_line(row), flush=True),
        pruner=args.pruner,
        storage=args.storage,
    )
    for method, r in results.items():
        states = [row.get("state") for row in r.trials]
        print(
            f"{method}: best validation {r.value:.4f} with {r.params} ({states.count('complete')} trials complete, "
            f"{states.count('pruned')} pruned, {states.count('failed')} failed, {r.seconds:.0f} s)"
        )
    print(f"wrote {args.out}/tuned.json, {args.out}/tune.csv and one <method>.yaml per method")
    return 0


def add_commands(sub: Any) -> None:
    """``noisereg tune``."""
    from ..config import TrainConfig
    from .training import NEEDS_FOLDER, add_data_options

    p = sub.add_parser(
        "tune",
        help="search each method's hyper-parameters on validation, the same number of trials for every method (Optuna)",
    )
    add_data_options(p)
    p.add_argument("--methods", required=True, help="comma-separated method ids")
    p.add_argument("--trials", type=int, default=20, help="trials per method (default 20)")
    p.add_argument("--out", required=True, help="folder for tuned.json, tune.csv and <method>.yaml")
    p.add_argument("--quiet", action="store_true", help="no line per trial")
    p.add_argument(
        "--pruner",
        default="median",
        choices=["median", "none"],
        help="median: stop a trial whose "
        "validation curve falls below the median of the earlier trials' (default); none: every trial "
        "runs to its end",
    )
    p.add_argument(
        "--storage",
        help="an Optuna storage URL (e.g. sqlite:///tune.db) keeping each method's study: "
        "run the same command again and a stopped search resumes",
    )
    p.add_argument("--config", help="YAML file of TrainConfig fields every trial starts from")
    add_flags(p, TrainConfig, skip=("method", "tune_trials") + NEEDS_FOLDER)
    p.set_defaults(func=cmd_tune)

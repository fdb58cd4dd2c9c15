"""``noisereg train`` as one library call: ``train_run`` tunes (when asked), fits, scores the validation set,
finds the label-issue suspects and writes the report, in that order, each step a library function.

Under torchrun every rank calls it (the ranks score blocks of the images); rank 0 alone writes and says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .data.labelset import LabelledSet
from .distributed import current, resolve_device
from .errors import UserError
from .metrics import format_scores
from .report.collect import SUSPECTS_FILE
from .report.train_run import report_train_run
from .safe_io import atomic_write, write_csv
from .train import FitResult, describe_thresholds, evaluate, fit

Say = Callable[[str], None]  # shows one line to the user (the CLI: print)


@dataclass
class TrainRun:
    """What ``train_run`` did: the fit, the config it trained with (tuned values in), the validation scores
    (None without a val split), the tuning search (None without ``tune_trials``) and the report's path."""

    result: FitResult
    cfg: TrainConfig
    scores: dict[str, Any] | None
    search: Any
    report: Path | None


def train_run(
    train: LabelledSet,
    cfg: TrainConfig,
    *,
    eval_set: LabelledSet | None = None,
    out: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    source: dict[str, Any] | None = None,
    quiet: bool = False,
    say: Say = lambda line: None,
) -> TrainRun:
    """Train ``cfg.method`` on ``train`` into ``out`` and leave beside the checkpoint what ``noisereg train``
    leaves: ``tune.csv`` (with ``cfg.tune_trials``), ``label_issues.csv`` (with a manifest ``source``), ``run.json``,
    ``evaluation/`` and ``report.html``.

    Args:
        eval_set: the val split (None: ``fit`` holds out a share of the clean set, and the report counts it there).
        resume, overwrite: as ``fit``'s; a resumed run keeps the values its first sitting tuned.
        source: where the data came from (``manifest``, ``image_root``, ``features``, ``allow_outside_root``):
            the label-issue finder reads it again; None (image folders): no suspects are looked for.
        quiet: no line per tuning trial, nor the tuning's first and last lines.
        say: gets the lines a user reads (what trained, validation scores, thresholds, the report's path).
    """
    main = current().is_main
    search = None
    if cfg.tune_trials and not resume:
        cfg, search = tune_first(cfg, train, eval_set, say=(lambda line: None) if quiet else say)
    result = fit(train, cfg, eval_set=eval_set, out=out, resume=resume, overwrite=overwrite)
    if search is not None and main:
        write_csv(Path(out) / "tune.csv", search.trials, list(dict.fromkeys(k for r in search.trials for k in r)))
    scores = None
    if eval_set is not None:  # every rank takes part: the ranks score blocks of the val split
        device = resolve_device(cfg.device)
        scores = evaluate(result.model.to(device), eval_set, result.preprocess, device=device)
    if main:
        say(
            f"trained '{cfg.method}' ({cfg.scheme}) on {int(train.has_clean.sum())} clean + "
            f"{int(train.has_noisy.sum())} noisy images; checkpoint in {out}"
        )
        if scores is not None:
            say("val: " + format_scores(scores))
        if result.thresholds:
            say(describe_thresholds(result.meta))
    find_suspects(out, source, write=main)  # every rank takes part in scoring
    path = report_train_run(out, result, cfg, train, source=source, write=main, held_out=eval_set is None)
    if main:
        say(f"report: {path}")
    return TrainRun(result, cfg, scores, search, path)


def tune_first(cfg: TrainConfig, train: LabelledSet, val: LabelledSet | None, *, say: Say) -> tuple[TrainConfig, Any]:
    """``train --tune N``: the search in this process (refused under torchrun), a line per trial and one on
    what it chose. Returns the tuned config and the search."""
    from .tuning import tuned_config

    if current().enabled:
        raise UserError(
            "--tune runs in one process: tune with `noisereg tune ... --out DIR`, then train under "
            "torchrun with --config DIR/<method>.yaml"
        )
    say(f"tuning '{cfg.method}': {cfg.tune_trials} trials on validation, then the final run")
    tuned, search = tuned_config(train, cfg, val, on_trial=lambda row: say(trial_line(row)))
    say(
        f"tuned '{cfg.method}': "
        + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in search.params.items())
        + f" (best validation {search.value:.4f}); recorded in checkpoint.json and config.yaml"
    )
    return tuned, search


def trial_line(row: dict[str, Any]) -> str:
    """One tuning trial in a line: each field, floats to 4 significant digits."""
    return "  " + "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())


def find_suspects(folder: str | Path, source: dict[str, Any] | None, *, write: bool = True) -> Path | None:
    """``folder/label_issues.csv`` from the label-issue finder, when the folder has none yet.

    Under torchrun every rank calls it (the ranks score blocks of the images) and only the one with
    ``write`` writes the file. Returns the CSV's path, or None when there is no one manifest to read
    (image folders).
    """
    path = Path(folder) / SUSPECTS_FILE
    if path.is_file():
        return path
    if not source or not source.get("manifest"):
        return None
    from .label_issues import find_label_issues

    frame = find_label_issues(
        str(folder),
        source["manifest"],
        image_root=source.get("image_root"),
        features=source.get("features"),
        allow_outside_root=bool(source.get("allow_outside_root")),
    )
    if write:
        atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
    return path

"""The report of one ``noisereg train`` run: what it leaves beside the checkpoint, then ``report.html``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..checkpoint import read_meta
from ..config import TrainConfig
from ..data.labelset import LabelledSet
from ..distributed import resolve_device
from ..train import FitResult
from .evidence import score_set, write_evaluation
from .html import write_report
from .summary import data_summary, write_summary


def report_train_run(
    out: str | Path,
    result: FitResult,
    cfg: TrainConfig,
    train: LabelledSet,
    *,
    source: dict[str, Any] | None = None,
    write: bool = True,
    held_out: bool = False,
) -> Path | None:
    """Write ``out/run.json``, ``out/evaluation/`` and ``out/report.html`` for a finished train run.

    The examples and per-class AP are those of the validation set that chose the weights (the manifest's
    ``val`` rows or the held-out share of the clean set): ``train`` never reads the test split, which
    ``noisereg evaluate`` scores.

    Args:
        out: the run's folder (its checkpoint is there).
        train: the training set as given to ``fit``.
        source: where the data came from (``manifest``, ``image_root``, ``features``), shown and used to
            find images of label-issue suspects.
        write: False on the other processes of a torchrun job: they take part in scoring only.
        held_out: the validation set was held out of ``train``'s clean set (no val split was given): it is
            then counted under the clean set, not beside the training images.

    Returns:
        The report's path (None when ``write`` is False).
    """
    data, split = result.eval_set, "val"
    scores = None
    if data is not None:
        device = resolve_device(cfg.device)
        scores = score_set(result.model.to(device), data, result.preprocess, device=device)
    if not write:
        return None
    meta = read_meta(out)
    metric = (meta.get("selection") or {}).get("metric") or "top1"
    summary = {**data_summary("training data", train, val=data, val_from_clean=held_out), **(source or {})}
    write_summary(
        out,
        kind="train",
        title=f"noisereg train: {cfg.method} ({cfg.scheme} scheme)",
        settings=_resolved_settings(meta, cfg),
        data=[summary],
        metric=metric,
    )
    if scores is not None:
        write_evaluation(out, cfg.method, data, {cfg.method: scores}, featured=cfg.method, split=split)
    return write_report(out)


def _resolved_settings(meta: dict[str, Any], cfg: TrainConfig) -> dict[str, Any]:
    """The settings the run trained with, as its checkpoint records them: the method's defaults, the values
    chosen on validation and the batch size from the data in place of the unset ones (None, 0), so the
    report never shows ``hidden None`` or ``batch_size 0``."""
    settings = dict(meta.get("config") or cfg.resolved().to_dict())
    for choice in meta.get("chosen_on_validation") or []:
        if isinstance(choice, dict) and choice.get("name") in settings and "chosen" in choice:
            settings[choice["name"]] = choice["chosen"]
    return settings

"""The report of one ``noisereg train`` run: what it leaves beside the checkpoint, then ``report.html``."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..checkpoint import read_meta
from ..config import TrainConfig
from ..data.labelset import LabelledSet
from ..distributed import resolve_device
from ..train import FitResult
from .evidence import score_set, write_evaluation
from .html import write_report
from .summary import data_summary, write_summary


def report_train_run(out: str | Path, result: FitResult, cfg: TrainConfig, train: LabelledSet, *,
                     source: Optional[dict[str, Any]] = None, write: bool = True) -> Optional[Path]:
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
    summary = {**data_summary("training data", train, val=data), **(source or {})}
    write_summary(out, kind="train", title=f"noisereg train: {cfg.method} ({cfg.scheme} scheme)",
                  settings=cfg.to_dict(), data=[summary], metric=metric)
    if scores is not None:
        write_evaluation(out, cfg.method, data, {cfg.method: scores}, featured=cfg.method, split=split)
    return write_report(out)

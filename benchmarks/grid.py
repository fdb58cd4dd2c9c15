"""One (fraction, seed) cell of a benchmark grid: run it in a worker process, or read it back when an
earlier, interrupted run of the same command already finished it (a cell's ``results.csv`` is written once,
at its end). Shared by ``bench_cifar10n.py``, ``bench_defaults.py`` and ``bench_knobs.py``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

SCORES = ("top1", "mAP", "AP_all")


def run_cell(exp: Any) -> list[dict]:
    """Run one cell's ``ExperimentConfig`` in a worker process with one thread; its result rows."""
    import torch

    torch.set_num_threads(1)
    from noisereg.experiment import run_experiment

    return run_experiment(exp, quiet=True)


def as_numbers(row: dict[str, str]) -> dict[str, Any]:
    """A row read back from a cell's results.csv with its scores as numbers again (blank stays blank)."""
    return {k: float(v) if k in SCORES and v != "" else v for k, v in row.items()}


def cell_finished(cell: Any, methods: list[str]) -> bool:
    """Whether the cell's folder already holds a result for every one of ``methods``."""
    path = Path(cell.out) / "results.csv"
    return path.exists() and {r["method"] for r in csv.DictReader(open(path))} >= set(methods)


def cell_rows(cell: Any) -> list[dict]:
    """A finished cell's result rows, read back (scores as numbers)."""
    return [as_numbers(r) for r in csv.DictReader(open(Path(cell.out) / "results.csv"))]

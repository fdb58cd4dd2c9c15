"""What a run leaves for its report besides the checkpoint: ``run.json`` (kind, settings, data, versions)
and ``curves.csv`` (the per-step records of several runs, for experiments and the demo).

The report is rendered from these files alone, so ``noisereg report DIR`` needs neither the model nor
the data again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..data.check import label_noise
from ..data.labelset import LabelledSet
from ..safe_io import output_dir, write_json
from ..train.log import write_records
from .tables import versions

SUMMARY_FILE = "run.json"
CURVES_FILE = "curves.csv"
KINDS = ("train", "experiment", "demo")


def data_summary(
    name: str,
    train: LabelledSet,
    *,
    val: LabelledSet | None = None,
    test: LabelledSet | None = None,
    noise: dict[str, float] | None = None,
    val_from_clean: bool = False,
) -> dict[str, Any]:
    """Images per split, classes, the clean share and the measured noise of one dataset.

    Args:
        val_from_clean: ``val`` was held out of ``train``'s clean images: it is counted under the clean set
            (``clean_held_out``), not as a split beside ``train``.
        noise: the noise measured when the labels were made (a task's ``noise``); by default it is
            measured on the training images that carry both a clean and a noisy label.
    """
    n = len(train)
    clean, noisy = int(train.has_clean.sum()), int(train.has_noisy.sum())
    summary = {
        "name": name,
        "classes": list(train.classes),
        "single_label": train.is_single_label,
        "images": {
            "train": n,
            **({"val": len(val)} if val is not None and not val_from_clean else {}),
            **({"test": len(test)} if test is not None else {}),
        },
        "clean": clean,
        "noisy": noisy,
        "clean_share": round(clean / n, 4) if n else None,
    }
    if val is not None and val_from_clean:
        summary["clean_held_out"] = len(val)
    summary["noise"] = {k: float(v) for k, v in noise.items()} if noise else _measured_noise(train)
    return summary


def _measured_noise(data: LabelledSet) -> dict[str, Any]:
    """Share of wrong label sets (and for multi-label data missing / spurious labels) where both exist."""
    both = np.flatnonzero(data.has_clean & data.has_noisy)
    if not len(both):
        return {}
    r = label_noise(data.clean_rows(both), data.noisy_rows(both))
    return {
        "image": r["overall"],
        "images_with_both": int(len(both)),
        **({} if data.is_single_label else {"missing": r["missing"], "spurious": r["spurious"]}),
    }


def write_summary(
    folder: str | Path, *, kind: str, title: str, settings: dict[str, Any], data: list[dict[str, Any]], **extra: Any
) -> Path:
    """``folder/run.json``: what ran (``kind`` = train, experiment or demo), on what, with which versions."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    folder = output_dir(folder)
    body = {"kind": kind, "title": title, "settings": settings, "data": data, "versions": versions(), **extra}
    write_json(folder / SUMMARY_FILE, body, indent=2, default=_plain)
    return folder / SUMMARY_FILE


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as JSON numbers and lists."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def read_summary(folder: str | Path) -> dict[str, Any] | None:
    """``run.json`` of ``folder`` (None when the run predates it)."""
    path = Path(folder) / SUMMARY_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def write_curves(folder: str | Path, histories: dict[str, dict[str, list[dict[str, Any]]]]) -> Path:
    """``folder/curves.csv``: every record of ``histories[panel][method]`` with ``panel`` and ``method``
    columns (through the run logs' one writer, so the columns match ``metrics.csv``)."""
    records = [
        {"panel": panel, "method": method, **r}
        for panel, by_method in histories.items()
        for method, rs in by_method.items()
        for r in rs
    ]
    return write_records(records, Path(folder) / CURVES_FILE, first=("panel", "method"))

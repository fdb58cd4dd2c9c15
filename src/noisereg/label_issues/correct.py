"""A corrected manifest: the flagged noisy labels replaced by g's suggestion or dropped, to retrain on.

- ``replace``: single-label, the flagged image's noisy label becomes g's suggestion (its best class other
  than the given one, ``LabelScores.suggested``); multi-label, each flagged entry flips (a spurious class
  is removed, a missing one added);
- ``drop``: the flagged image's noisy label is removed (multi-label: the whole label set of an image with
  any flagged entry); the row stays (with its clean label, if any), so rows still follow a feature file.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..data.table import LabelTable
from ..errors import UserError
from .result import LabelScores

ACTIONS = ("replace", "drop")


def corrections(scores: LabelScores, action: str) -> tuple[np.ndarray, np.ndarray]:
    """(changed, labels): the indices (into ``scores.rows``) of the images whose noisy label changes, and
    their new (n, K) multi-hot noisy labels (all zero for ``drop``)."""
    if action not in ACTIONS:
        raise UserError(f"action '{action}' is not one of {list(ACTIONS)}")
    flags, given = scores.is_issue(), scores.given > 0.5
    changed = np.flatnonzero(flags if scores.single_label else flags.any(1))
    if action == "drop":
        return changed, np.zeros((len(changed), given.shape[1]), np.float32)
    new = scores.suggested()[changed] > 0.5  # never the given label (multi-label: the flagged entries flipped)
    keep = new.any(1) if scores.single_label else np.ones(len(changed), bool)  # no suggestion: the label stays
    return changed[keep], new[keep].astype(np.float32)


def corrected_table(table: LabelTable, scores: LabelScores, *, action: str = "replace") -> LabelTable:
    """``table`` with the noisy labels that ``scores`` flags replaced or dropped (a new table)."""
    if list(scores.classes) != list(table.classes):
        raise UserError("the scores and the manifest have different classes")
    changed, labels = corrections(scores, action)
    noisy, has_noisy = table.noisy.astype(np.int8).tolil(), table.has_noisy.copy()
    for i, new in zip(scores.rows[changed], labels):
        cols = np.flatnonzero(new)
        noisy.rows[i], noisy.data[i] = cols.tolist(), [1] * len(cols)
        has_noisy[i] = action == "replace"
    out = replace(table, noisy=sp.csr_matrix(noisy, dtype=bool), has_noisy=has_noisy, notes=list(table.notes))
    out.notes.append(f"{len(changed):,} flagged noisy labels {'replaced' if action == 'replace' else 'dropped'}")
    return out


def corrected_set(data: Any, scores: LabelScores, *, action: str = "replace") -> Any:
    """An in-memory ``LabelledSet`` (the one ``scores`` were computed on) with the flagged labels replaced or
    dropped, e.g. to measure what retraining on the corrections gives."""
    changed, labels = corrections(scores, action)
    noisy, has_noisy = np.array(data.noisy, copy=True), data.has_noisy.copy()
    rows = scores.rows[changed]
    noisy[rows] = labels
    has_noisy[rows] = action == "replace"
    return replace(data, noisy=noisy, has_noisy=has_noisy)


def write_corrected_manifest(
    table: LabelTable, scores: LabelScores, path: str | Path, *, action: str = "replace"
) -> Path:
    """Write the corrected manifest (CSV, or JSONL for ``.jsonl``); returns its path."""
    from ..data.manifest_writer import write_manifest

    return write_manifest(corrected_table(table, scores, action=action), path)

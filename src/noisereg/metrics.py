"""Evaluation metrics of the paper (sec. 4.3): mAP, AP_all and top-1 accuracy.

All take scores and multi-hot targets of shape (N, K) as numpy arrays or tensors and return
floats in [0, 1]. Average precision follows eq. (8); tied scores are ranked as one group, the
convention of ``sklearn.metrics.average_precision_score``, so results match it exactly.

``StreamingMetrics`` gives the same three numbers for scores that arrive in row chunks and never
exist as one (N, K) array (OpenImages: 120k test images x 6,012 classes), in memory proportional
to the positive labels plus one chunk.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from .errors import UserError


def _as_2d(scores: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores.detach().cpu() if hasattr(scores, "detach") else scores, dtype=np.float64)
    t = np.asarray(targets.detach().cpu() if hasattr(targets, "detach") else targets)
    if s.ndim == 1:
        s, t = s[:, None], t.reshape(-1, 1)
    if s.shape != t.shape or s.ndim != 2:
        raise ValueError(f"scores {s.shape} and targets {t.shape} must both be (N, K)")
    if not np.isfinite(s).all():
        raise _not_finite(s)
    return s, t > 0.5


def average_precision(scores: Any, positives: Any) -> float:
    """AP of one binary ranking, eq. (8): mean precision at the rank of each positive.

    Returns NaN when there is no positive (AP is undefined then).
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(positives).ravel() > 0.5
    m = int(y.sum())
    if m == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # one threshold per distinct score
    tp = np.cumsum(y)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall_step = np.diff(np.r_[0, tp]) / m
    return float((precision * recall_step).sum())


def average_precision_per_class(scores: Any, targets: Any) -> np.ndarray:
    """(K,) AP of each class; NaN for classes without a positive in ``targets``."""
    s, t = _as_2d(scores, targets)
    return np.array([average_precision(s[:, k], t[:, k]) for k in range(s.shape[1])])


def mean_average_precision(scores: Any, targets: Any) -> float:
    """mAP: eq. (8) per class, averaged over the classes with at least one positive.

    Classes without a positive are skipped, with a ``UserWarning`` that says how many.
    """
    ap = average_precision_per_class(scores, targets)
    skipped = int(np.isnan(ap).sum())
    if skipped == len(ap):
        raise ValueError("no class has a positive target: mAP is undefined")
    if skipped:
        warnings.warn(
            f"mAP: {skipped} of {len(ap)} classes have no positive target and were skipped", UserWarning, stacklevel=2
        )
    return float(np.nanmean(ap))


def classes_without_positives(targets: Any) -> int:
    """How many classes (columns) have no positive target; these are left out of mAP."""
    return int((~(np.asarray(targets) > 0.5).any(0)).sum())


def ap_all(scores: Any, targets: Any) -> float:
    """AP_all: class-agnostic AP, every (image, class) pair ranked as one binary problem."""
    s, t = _as_2d(scores, targets)
    ap = average_precision(s.ravel(), t.ravel())
    if np.isnan(ap):
        raise ValueError("no positive target: AP_all is undefined")
    return ap


def top1_accuracy(scores: Any, targets: Any) -> float:
    """Share of images whose highest-scoring class is a positive target (multi-hot allowed).

    Images with no positive target cannot be hit and are left out.
    """
    s, t = _as_2d(scores, targets)
    has_label = t.any(1)
    if not has_label.any():
        raise ValueError("no image has a positive target: top-1 is undefined")
    hit = t[np.arange(len(s)), s.argmax(1)]
    return float(hit[has_label].mean())


def evaluate_scores(scores: Any, targets: Any) -> dict[str, float]:
    """The paper's three metrics at once: ``{"mAP", "AP_all", "top1"}`` plus ``classes_skipped``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return {
            "mAP": mean_average_precision(scores, targets),
            "AP_all": ap_all(scores, targets),
            "top1": top1_accuracy(scores, targets),
            "classes_skipped": classes_without_positives(np.asarray(targets)),
        }


# ------------------------------------------------------------------ streaming (chunks of rows)
CHUNK_ENTRIES = 1 << 24  # scores (rows x K) sorted at once by the counting pass: bounds its memory


def _lower_bound_rows(sorted_rows: np.ndarray, row: np.ndarray, value: np.ndarray) -> np.ndarray:
    """For each i, how many entries of ``sorted_rows[row[i]]`` are < ``value[i]`` (a vectorised binary
    search in every row at once)."""
    lo, hi = np.zeros(len(row), np.int64), np.full(len(row), sorted_rows.shape[1], np.int64)
    while (active := lo < hi).any():
        mid = (lo + hi) // 2
        below = sorted_rows[row, np.minimum(mid, sorted_rows.shape[1] - 1)] < value
        lo = np.where(active & below, mid + 1, lo)
        hi = np.where(active & ~below, mid, hi)
    return lo


def _tied_at_or_above(group: np.ndarray, score: np.ndarray) -> np.ndarray:
    """For each positive, how many positives of its group score >= it: TP(>= s_p) of eq. (8)."""
    order = np.lexsort((score, group))
    g, k = group[order], score[order]
    first = np.r_[True, (g[1:] != g[:-1]) | (k[1:] != k[:-1])]  # first of each tie within a group
    start = np.maximum.accumulate(np.where(first, np.arange(len(g)), 0))
    end = np.searchsorted(g, g, side="right")
    out = np.empty(len(g), np.int64)
    out[order] = end - start
    return out


class StreamingMetrics:
    """mAP, AP_all and top-1 of (N, K) scores seen as row chunks, equal to ``evaluate_scores``.

    Eq. (8) with tied scores ranked as one group is AP = (1/m) sum over positives p of
    TP(>= s_p) / N(>= s_p): for each positive, the positives and all images scored at least as high.
    Two passes over the scores: ``add_positives`` keeps the score of every positive label and the
    top-1 hits; ``add_counts`` counts, for every positive, the scores >= it in its class (mAP) and
    in all classes (AP_all), sorting one chunk of ``CHUNK_ENTRIES`` scores at a time (per class and
    as a whole) and binary-searching the positives' scores in it. Memory is
    O(positive labels + one chunk), never (N, K). Classes without a positive are left out of mAP.

    Args:
        targets: (N, K) multi-hot labels of the rows that will be scored, dense or CSR.
        reduce: sums an accumulator over processes, so that each may score only its own rows (None:
            one process). Called at the end of each pass.
        dtype: the scores are compared in this precision (float32 for a model's float32
            probabilities: the same order and ties as their float64 copies).
    """

    def __init__(
        self, targets: Any, reduce: Callable[[np.ndarray], np.ndarray] | None = None, *, dtype: type = np.float64
    ) -> None:
        t = sp.csr_matrix(targets > 0.5 if sp.issparse(targets) else np.asarray(targets) > 0.5)
        t.sum_duplicates()
        self.targets, (self.n, self.k) = t, t.shape
        self.reduce = reduce or (lambda a: a)
        self.cls = t.indices.astype(np.int64)  # class of each positive, in CSR order
        self.score = np.zeros(t.nnz, dtype)  # filled by add_positives (0 for rows of other processes)
        self.hits = np.zeros(2, np.int64)  # top-1 hits, images with a positive
        self.ge_class, self.ge_all = np.zeros(t.nnz, np.int64), np.zeros(t.nnz, np.int64)
        self._pending: list[np.ndarray] = []
        self._ranked = False

    def _chunk(self, rows: np.ndarray, scores: Any) -> tuple[np.ndarray, np.ndarray]:
        rows, s = np.asarray(rows, dtype=np.int64), np.asarray(scores).astype(self.score.dtype, copy=False)
        if s.shape != (len(rows), self.k):
            raise ValueError(f"scores {s.shape} do not match {len(rows)} rows x {self.k} classes")
        if not np.isfinite(s).all():
            raise _not_finite(s)
        return rows, s

    def add_positives(self, rows: np.ndarray, scores: Any) -> None:
        """First pass: the (len(rows), K) scores of target rows ``rows``."""
        rows, s = self._chunk(rows, scores)
        lo, counts = self.targets.indptr[rows], np.diff(self.targets.indptr)[rows]
        local = np.repeat(np.arange(len(rows)), counts)
        at = np.repeat(lo - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(counts.sum())
        self.score[at] = s[local, self.cls[at]]
        top_is_positive = self.cls[at] == s.argmax(1)[local]  # at most one per row (no duplicate labels)
        self.hits += (int(top_is_positive.sum()), int((counts > 0).sum()))

    def end_positives(self) -> None:
        """Close the first pass: share the positives' scores across processes, rank them."""
        self.score, self.hits = self.reduce(self.score), self.reduce(self.hits)
        self.tp_class = _tied_at_or_above(self.cls, self.score)
        self.tp_all = _tied_at_or_above(np.zeros_like(self.cls), self.score)
        self._ranked = True

    def add_counts(self, rows: np.ndarray, scores: Any) -> None:
        """Second pass: the same rows' scores again (any order, any chunking)."""
        if not self._ranked:
            raise RuntimeError("call end_positives() before the counting pass")
        self._pending.append(self._chunk(rows, scores)[1])
        if sum(len(c) for c in self._pending) * self.k >= CHUNK_ENTRIES:
            self._count()

    def _count(self) -> None:
        if not self._pending:
            return
        chunk = np.concatenate(self._pending)
        self._pending = []
        by_class = np.ascontiguousarray(chunk.T)  # (K, rows)
        by_class.sort(axis=1)  # each class's scores, ascending
        self.ge_class += by_class.shape[1] - _lower_bound_rows(by_class, self.cls, self.score)
        del by_class
        flat = np.sort(chunk, axis=None)
        self.ge_all += flat.size - np.searchsorted(flat, self.score, side="left")

    def result(self) -> dict[str, float]:
        """``{"mAP", "AP_all", "top1", "classes_skipped"}`` as ``evaluate_scores`` gives them."""
        self._count()
        ge_class, ge_all = self.reduce(self.ge_class), self.reduce(self.ge_all)
        m = np.bincount(self.cls, minlength=self.k)
        if not m.any():
            raise ValueError("no class has a positive target: mAP is undefined")
        ap = np.bincount(self.cls, weights=self.tp_class / ge_class, minlength=self.k)[m > 0] / m[m > 0]
        if not self.hits[1]:
            raise ValueError("no image has a positive target: top-1 is undefined")
        return {
            "mAP": float(ap.mean()),
            "AP_all": float(np.mean(self.tp_all / ge_all)),
            "top1": float(self.hits[0] / self.hits[1]),
            "classes_skipped": int((m == 0).sum()),
        }


MIN_POSITIVES = 5  # a threshold chosen on fewer validation positives of a class is mostly noise (issue 44)


def f1_thresholds(
    scores: Any, targets: Any, known: Any = None, *, default: float = 0.5, min_positives: int = MIN_POSITIVES
) -> np.ndarray:
    """(K,) per-class decision thresholds of multi-label predictions: each the score at which the class's
    F1 on ``targets`` is highest (a class is predicted when its score is >= its threshold).

    Chosen on validation, never on the test set. A class with fewer than ``min_positives`` known
    positive targets, or without a known negative, keeps ``default`` (``tunable_classes``): on a few
    positives the F1-best threshold is noise (one chosen on 2 positives labelled 47 of 50 photos).

    Args:
        scores: (N, K) probabilities (g's).
        targets: (N, K) multi-hot clean labels.
        known: optional (N, K) bool, the target entries that are known (the others are left out).
    """
    from sklearn.metrics import precision_recall_curve

    s, t = _as_2d(scores, targets)
    m = np.ones_like(t, dtype=bool) if known is None else np.asarray(known, dtype=bool)
    out = np.full(s.shape[1], default, dtype=np.float64)
    for k in np.flatnonzero(tunable_classes(t, m, min_positives)):
        precision, recall, thresholds = precision_recall_curve(t[m[:, k], k], s[m[:, k], k])
        f1 = 2 * precision * recall / np.clip(precision + recall, 1e-12, None)
        out[k] = thresholds[int(np.argmax(f1[:-1]))]  # the last point (recall 0) has no threshold
    return out


def tunable_classes(targets: Any, known: Any = None, min_positives: int = MIN_POSITIVES) -> np.ndarray:
    """(K,) bool: the classes whose threshold ``f1_thresholds`` chooses, those with at least
    ``min_positives`` known positive targets and at least one known negative in (N, K) ``targets``."""
    t = np.asarray(targets) > 0
    m = np.ones_like(t) if known is None else np.asarray(known, dtype=bool)
    return ((t & m).sum(0) >= max(min_positives, 1)) & ((~t & m).sum(0) >= 1)


def format_scores(scores: dict[str, Any]) -> str:
    """The paper's three metrics in one line, in percent: ``mAP 81.20  AP_all 79.85  top1 84.10``."""
    return "  ".join(f"{k} {100 * scores[k]:.2f}" for k in ("mAP", "AP_all", "top1"))


def _not_finite(scores: np.ndarray) -> UserError:
    """The error for scores that hold NaN or inf, naming the first such row (of this chunk) and class."""
    i, j = np.argwhere(~np.isfinite(scores))[0]
    return UserError(
        f"scores contain NaN or infinite values (first at row {i}, class {j}: {scores[i, j]}): the "
        "model's outputs or its input features are not finite"
    )

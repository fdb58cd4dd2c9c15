"""Evaluation metrics of the paper (sec. 4.3): mAP, AP_all and top-1 accuracy.

All take scores and multi-hot targets of shape (N, K) as numpy arrays or tensors and return
floats in [0, 1]. Average precision follows eq. (8); tied scores are ranked as one group, the
convention of ``sklearn.metrics.average_precision_score``, so results match it exactly.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def _as_2d(scores: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores.detach().cpu() if hasattr(scores, "detach") else scores, dtype=np.float64)
    t = np.asarray(targets.detach().cpu() if hasattr(targets, "detach") else targets)
    if s.ndim == 1:
        s, t = s[:, None], t.reshape(-1, 1)
    if s.shape != t.shape or s.ndim != 2:
        raise ValueError(f"scores {s.shape} and targets {t.shape} must both be (N, K)")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
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
        warnings.warn(f"mAP: {skipped} of {len(ap)} classes have no positive target and were skipped",
                      UserWarning, stacklevel=2)
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
        return {"mAP": mean_average_precision(scores, targets), "AP_all": ap_all(scores, targets),
                "top1": top1_accuracy(scores, targets),
                "classes_skipped": classes_without_positives(np.asarray(targets))}


def f1_thresholds(scores: Any, targets: Any, known: Any = None, *, default: float = 0.5) -> np.ndarray:
    """(K,) per-class decision thresholds of multi-label predictions: each the score at which the class's
    F1 on ``targets`` is highest (a class is predicted when its score is >= its threshold).

    Chosen on validation, never on the test set. A class without both a positive and a negative
    known target cannot be tuned and keeps ``default``.

    Args:
        scores: (N, K) probabilities (g's).
        targets: (N, K) multi-hot clean labels.
        known: optional (N, K) bool, the target entries that are known (the others are left out).
    """
    from sklearn.metrics import precision_recall_curve
    s, t = _as_2d(scores, targets)
    m = np.ones_like(t) if known is None else np.asarray(known, dtype=bool)
    out = np.full(s.shape[1], default, dtype=np.float64)
    for k in range(s.shape[1]):
        y, score = t[m[:, k], k], s[m[:, k], k]
        if y.all() or not y.any():
            continue
        precision, recall, thresholds = precision_recall_curve(y, score)
        f1 = 2 * precision * recall / np.clip(precision + recall, 1e-12, None)
        out[k] = thresholds[int(np.argmax(f1[:-1]))]  # the last point (recall 0) has no threshold
    return out

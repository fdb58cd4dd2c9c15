"""A scikit-learn estimator around ``fit``: ``NoiseRegClassifier(**TrainConfig fields)``.

It follows scikit-learn's conventions (``get_params`` / ``set_params`` / ``clone``, learned
attributes ending in ``_``), so it plugs into scikit-learn tools and into cleanlab's
``CleanLearning``, which clones it for cross-validation. ``fit(X, y)`` trains on features ``X``
(N, D) with labels ``y`` taken as noisy labels; a small trusted set is given as
``clean=(X_clean, y_clean)``. Single-label ``predict_proba`` rows sum to one: g's per-class
probabilities sigmoid(c) divided by their sum.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .config import TrainConfig
from .errors import UserError

_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _default(name: str) -> Any:
    f = _FIELDS[name]
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


class NoiseRegClassifier(ClassifierMixin, BaseEstimator):
    """Any registered method as a scikit-learn classifier (keywords: every ``TrainConfig`` field).

    The defaults differ from ``TrainConfig`` in one place: ``quiet=True``.
    """

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(_FIELDS))
        if unknown:
            raise UserError(f"unknown option(s) {unknown}; expected TrainConfig fields")
        for name in _FIELDS:
            setattr(self, name, options.get(name, True if name == "quiet" else _default(name)))

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return sorted(_FIELDS)

    def config(self) -> TrainConfig:
        """The ``TrainConfig`` of the current parameters (validated)."""
        return TrainConfig.from_dict({name: getattr(self, name) for name in _FIELDS})

    def fit(self, X: Any, y: Any, *, clean: Optional[tuple[Any, Any]] = None) -> "NoiseRegClassifier":
        """Train on features ``X`` (N, D) whose labels ``y`` (N,) are noisy, plus an optional trusted
        set ``clean=(X_clean, y_clean)``; a share of it validates (``val_fraction``)."""
        from .data.labelset import LabelledSet, one_hot
        from .train import fit
        x, labels = _features(X), np.asarray(y)
        if len(x) != len(labels):
            raise UserError(f"X has {len(x)} rows but y has {len(labels)}")
        xc, yc = (_features(clean[0]), np.asarray(clean[1])) if clean is not None else (x[:0], labels[:0])
        self.classes_ = np.unique(np.concatenate([labels, yc]))
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        k, n, m = len(self.classes_), len(x), len(xc)
        codes = np.asarray([index[v] for v in labels.tolist()] + [index[v] for v in yc.tolist()], dtype=np.int64)
        data = LabelledSet(images=np.concatenate([x, xc]), classes=[str(c) for c in self.classes_],
                           noisy=one_hot(codes, k), clean=one_hot(codes, k),
                           has_noisy=np.r_[np.ones(n, bool), np.zeros(m, bool)],
                           has_clean=np.r_[np.zeros(n, bool), np.ones(m, bool)])
        cfg = self.config()
        result = fit(data, cfg if m else cfg.replace(val_fraction=0.0))
        self.model_, self.preprocess_, self.history_ = result.model, result.preprocess, result.history
        self.n_features_in_ = x.shape[1]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """g's logits c (N, K)."""
        from .distributed import resolve_device
        from .train import predict_logits
        if not hasattr(self, "model_"):
            raise UserError("this NoiseRegClassifier is not fitted yet: call fit first")
        x = _features(X)
        if x.shape[1] != self.n_features_in_:
            raise UserError(f"X has {x.shape[1]} features, the model was fitted on {self.n_features_in_}")
        return predict_logits(self.model_, x, self.preprocess_, device=resolve_device(self.device))["logits"].numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """(N, K) class probabilities: g's sigmoid(c), each row divided by its sum (rows sum to one)."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X).astype(np.float64)))
        return p / np.clip(p.sum(1, keepdims=True), 1e-12, None)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(1)]


def _features(X: Any) -> np.ndarray:
    x = np.asarray(X, dtype=np.float32)
    if x.ndim != 2:
        raise UserError(f"X must be an (N, D) array of features, got shape {x.shape}")
    return x

"""What a fitted ``NoiseRegClassifier`` predicts: ``Predicting``, the half of the estimator that reads ``model_``.

Probabilities come from the final classifier g = sigmoid(c) (eq. 2; for softmax methods g =
softmax(c)). For single-label data ``predict_proba`` divides each row of g by its sum, so rows sum to
one and the argmax is g's (for softmax methods g already sums to one). For multi-label data it is g
itself, per class, and ``predict`` compares it with per-class thresholds chosen on validation to
maximise F1 (``thresholds_``, stored with the model).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.exceptions import NotFittedError

from ..errors import UserError

if TYPE_CHECKING:
    import pandas as pd
    import torch


class NotFitted(UserError, NotFittedError):
    """Predicting before ``fit``: a ``UserError`` that scikit-learn's tools know as ``NotFittedError``."""


class Predicting(ClassifierMixin):
    """``predict`` & co. of a fitted classifier (``NoiseRegClassifier`` sets the learned attributes below)."""

    classes_: np.ndarray
    multi_label_: bool
    thresholds_: np.ndarray | None
    model_: Any
    preprocess_: Any
    n_features_in_: int
    last_paths_: list[str]
    device: str
    batch_size: int

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFitted("this NoiseRegClassifier is not fitted yet: call fit (or NoiseRegClassifier.load)")

    def _device(self) -> torch.device:
        from ..distributed import resolve_device

        return resolve_device(self.device)

    def _outputs(self, X: Any) -> dict[str, torch.Tensor]:
        """Every output's logits (``logits`` = g's) for the rows of ``X``."""
        from ..data.inputs import checked_features, is_path, prediction_inputs
        from ..data.labelset import LabelledSet
        from ..train import predict_logits

        self._check_fitted()
        paths = is_path(X) or isinstance(X, (list, tuple)) and bool(X) and all(is_path(p) for p in X)
        if hasattr(self, "n_features_in_") and not (paths or isinstance(X, LabelledSet)):
            X = checked_features(X)
        images, _ = prediction_inputs(X)
        self._remember_paths(images)
        features = isinstance(images, np.ndarray)
        if features != hasattr(self, "n_features_in_"):
            raise UserError(
                "this model reads features (N, D), not images"
                if hasattr(self, "n_features_in_")
                else f"this model reads images, not a features array of shape {images.shape}"
            )
        if features and images.shape[1] != self.n_features_in_:
            raise UserError(
                f"X has {images.shape[1]} features, but NoiseRegClassifier is expecting "
                f"{self.n_features_in_} features as input"
            )
        return predict_logits(
            self.model_, images, self.preprocess_, device=self._device(), batch_size=max(64, self.batch_size)
        )

    def _remember_paths(self, images: Any) -> None:
        """Set ``last_paths_`` to the image files this call reads, in row order (folders and globs expanded), so
        that rows can be matched to files; drop it for pixels or features, so it never names another call's rows."""
        if isinstance(images, (list, tuple)):
            self.last_paths_ = [str(p) for p in images]
        else:  # (scikit-learn's checks: predicting on arrays leaves the estimator's attributes as they were)
            self.__dict__.pop("last_paths_", None)

    def decision_function(self, X: Any) -> np.ndarray:
        """g's logits c (N, K) (log-probabilities for softmax methods). Two classes, one label per image:
        scikit-learn's binary form, (N,) log(p_1 / p_0) of ``predict_proba``'s columns, > 0 where ``predict``
        says ``classes_[1]``."""
        logits = self._outputs(X)["logits"]
        if self.multi_label_ or len(self.classes_) != 2:
            return logits.numpy()
        p = np.clip(self._proba(logits), 1e-300, None)
        return np.log(p[:, 1]) - np.log(p[:, 0])

    def _proba(self, logits: torch.Tensor) -> np.ndarray:
        """predict_proba from g's logits (see the module docstring)."""
        g = self.model_.method.probabilities(logits.float()).double().numpy()
        return g if self.multi_label_ else g / np.clip(g.sum(1, keepdims=True), 1e-12, None)

    def predict_proba(self, X: Any) -> np.ndarray:
        """(N, K) class probabilities: g's rows normalised to sum to one (single-label), or g (multi-label).

        For image files (paths, a folder, a glob) row i is the file ``last_paths_[i]``, which this call sets: a
        folder is expanded in ``ImageFolder``'s order (folders, then files, sorted by name) or its metadata
        file's, so ``predict_proba(folder)`` equals ``predict_proba(clf.last_paths_)``."""
        return self._proba(self._outputs(X)["logits"])

    def chosen(self, proba: np.ndarray, *, top_k: int | None = None, threshold: float | None = None) -> np.ndarray:
        """(N, K) bool: the classes predicted from ``predict_proba`` rows: the ``top_k`` best, those at or
        above ``threshold`` (both: the best ``top_k`` of those); by default the best class
        (single-label) or those at or above ``thresholds_`` (multi-label)."""
        proba = np.nan_to_num(np.asarray(proba, dtype=np.float64), nan=-np.inf)
        out = np.ones(proba.shape, bool)
        if top_k is None and threshold is None:
            if self.multi_label_:
                return proba >= self.thresholds_
            top_k = 1
        if top_k is not None:
            if top_k < 1:
                raise UserError(f"top-k must be >= 1, got {top_k}")
            rank = np.argsort(np.argsort(-proba, 1, kind="stable"), 1)
            out &= rank < top_k
        return out & (proba >= threshold) if threshold is not None else out

    def predict(self, X: Any) -> np.ndarray:
        """Class values (N,) for single-label data; an (N, K) 0/1 indicator over ``classes_`` for multi-label."""
        proba = self.predict_proba(X)
        return self.chosen(proba).astype(int) if self.multi_label_ else self.classes_[proba.argmax(1)]

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Accuracy (multi-label: exact match of the predicted label set), scikit-learn's classifier score.
        ``y`` may be left out when ``X`` carries labels (a ``LabelledSet`` or a labelled folder)."""
        return super().score(X, self._targets(X) if y is None else y, sample_weight)

    def _targets(self, X: Any) -> np.ndarray:
        """The labels a labelled ``X`` carries, in the form ``predict`` returns."""
        from ..data.classes import unknown_class
        from ..data.inputs import label_matrix, prediction_labels

        self._check_fitted()
        names = prediction_labels(X)
        if names is None:
            raise UserError("score needs labels: give y, or a LabelledSet / labelled folder as X")
        value = {str(c): c for c in self.classes_.tolist()}
        for n in (n for row in names for n in row if n not in value):
            raise unknown_class(n, list(value), "score")
        rows = [[value[n] for n in row] for row in names]
        if self.multi_label_:
            return label_matrix(rows, self.classes_, "score").astype(int)
        return np.asarray([row[0] if row else None for row in rows], dtype=self.classes_.dtype)

    def predictions(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        top_k: int | None = None,
        threshold: float | None = None,
        show_h: bool = False,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> pd.DataFrame:
        """One row per image file of ``paths`` (files, folders and globs, expanded as ``last_paths_`` is):
        ``path``, ``predicted`` (``;``-joined classes, best first, as ``chosen`` picks them), one column of
        ``predict_proba`` per class (``h:<class>`` columns of h = sigmoid(r + c) with ``show_h``), and
        ``error``: why a file could not be read (its scores are left empty); the other files are still
        predicted."""
        import pandas as pd

        from ..data.folders import image_paths
        from ..data.inputs import is_path
        from ..train import predict_files

        self._check_fitted()
        paths = image_paths([paths] if is_path(paths) else list(paths))
        outs, errors = predict_files(
            self.model_,
            list(paths),
            self.preprocess_,
            device=self._device(),
            batch_size=batch_size,
            num_workers=num_workers,
        )
        proba = self._proba(outs["logits"])
        pick, order = self.chosen(proba, top_k=top_k, threshold=threshold), np.argsort(-proba, 1, kind="stable")
        names = [str(c) for c in self.classes_.tolist()]
        frame = pd.DataFrame(
            {
                "path": list(paths),
                "predicted": [
                    "" if errors[i] else ";".join(names[j] for j in order[i] if pick[i, j]) for i in range(len(proba))
                ],
            }
        )
        columns = {c: proba[:, k] for k, c in enumerate(names)}
        if show_h and "h_logits" in outs:
            h = self.model_.method.probabilities(outs["h_logits"].float()).double().numpy()
            columns.update({f"h:{c}": h[:, k] for k, c in enumerate(names)})
        return pd.concat([frame, pd.DataFrame(columns), pd.DataFrame({"error": errors})], axis=1)

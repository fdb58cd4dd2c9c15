"""A scikit-learn estimator around ``fit``: ``NoiseRegClassifier(...)``, keywords: the ``TrainConfig`` fields.

It follows scikit-learn's conventions (``get_params`` / ``set_params`` / ``clone``, learned attributes ending
in ``_``), so it plugs into scikit-learn tools and into cleanlab's ``CleanLearning``, which clones it.

Data: ``fit(noisy=..., clean=...)`` takes image folders (ImageFolder or Hugging Face ``imagefolder`` layout),
manifests, ``LabelledSet``s or (features, labels) pairs; ``fit(X, y, clean=(X_clean, y_clean))`` trains on
features ``X`` whose labels ``y`` are noisy. ``predict`` & co. take image paths, a folder, a glob, a
``LabelledSet`` or a feature array.

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
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from .config import TrainConfig
from .errors import UserError

if TYPE_CHECKING:
    import pandas as pd
    import torch


class NotFitted(UserError, NotFittedError):
    """Predicting before ``fit``: a ``UserError`` that scikit-learn's tools know as ``NotFittedError``."""


class NoiseRegClassifier(ClassifierMixin, BaseEstimator):
    """Any registered method as a scikit-learn classifier.

    Its parameters are the ``TrainConfig`` fields, by keyword: the same names, meanings (``TrainConfig``,
    ``noisereg train --help``) and defaults, except ``quiet=True`` (no progress bars and no line per
    validation). As scikit-learn asks, ``__init__`` only stores them; ``fit`` checks them (``UserError``
    naming the first bad value). ``tests/test_estimator_checks.py`` keeps the list in step with ``TrainConfig``.

    Attributes (after ``fit`` or ``load``):
        classes_: the K classes, as given (label values, or folder / manifest class names).
        multi_label_: whether the training labels had several classes per image.
        thresholds_: (K,) thresholds on g for multi-label ``predict`` (None for single-label data).
        model_, preprocess_, history_, meta_: the network, its preprocessing, per-step records, checkpoint record.
        tuned_: with ``tune_trials``, the values the search chose (also in the saved config).
        last_paths_: after ``predict`` & co. on image files (paths, a folder or a glob), those files in row
            order, a folder expanded: row i of the result is ``last_paths_[i]``. Absent after a call on
            pixels or features. ``predictions`` gives the same as a table with a ``path`` column.
    """

    def __init__(
        self,
        *,
        method: str = TrainConfig.method,  # the paper's (method ids: registry and config only)
        scheme: str = "frozen",
        backbone: str = TrainConfig.backbone,
        pretrained: bool = True,
        weights: str | None = None,
        image_size: int = 0,
        augment: bool = False,
        activation: str = "sigmoid",
        hidden: int | None = None,
        alpha: float | None = None,
        clean_ratio: float | None = None,
        batch_size: int = 0,
        steps: int = 0,
        epochs: float | None = None,
        backbone_steps: int | None = TrainConfig.backbone_steps,
        optimizer: str = "adam",
        momentum: float = 0.9,
        grad_clip: float = 0.0,
        pos_weight: str = "none",
        sampler: str = "uniform",
        lr: float | None = None,
        backbone_lr: float | None = None,
        schedule: str = "cosine",
        warmup: float = 0.05,
        lr_decay: float = 1.0,
        decay_every: int = 0,
        weight_decay: float | None = None,
        seed: int = 0,
        device: str = "auto",
        amp: bool = True,
        amp_dtype: str = "bfloat16",
        compile: bool = False,
        val_fraction: float = 0.2,
        val_metric: str = "auto",
        eval_every: int = 0,
        patience: float = 5.0,
        keep_last: bool = False,
        tune_trials: int = 0,
        train_blocks: int = 0,
        save_every: int = 0,
        num_workers: int = 0,
        skip_unreadable: bool = False,
        cache_dir: str | None = None,
        tensorboard: bool = False,
        quiet: bool = True,
    ) -> None:
        for name, value in list(locals().items()):
            if name != "self":
                setattr(self, name, value)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True  # an (N, K) indicator y trains g per class
        return tags

    def config(self) -> TrainConfig:
        """The ``TrainConfig`` of the current parameters (validated)."""
        return TrainConfig.from_dict(self.get_params(deep=False))

    # ------------------------------------------------------------------ training
    def fit(
        self,
        X: Any = None,
        y: Any = None,
        *,
        noisy: Any = None,
        clean: Any = None,
        eval_set: Any = None,
        classes: Sequence[Any] | None = None,
        image_root: str | None = None,
    ) -> NoiseRegClassifier:
        """Train on D_n ∪ D_c.

        Args:
            X, y: features (N, D) and their noisy labels (scikit-learn's form; same as ``noisy=(X, y)``);
                ``X`` alone may be a folder, a manifest, a ``LabelTable`` or a ``LabelledSet`` (same as ``noisy=X``).
            noisy, clean: the noisy-labelled and the clean-labelled images: a folder, a manifest (which
                may hold both, and a ``val`` split), a ``LabelTable`` from ``open_dataset`` (any dataset layout),
                a ``LabelledSet``, or a (features, labels) pair with labels as values (single-label), an (N, K)
                indicator or lists of values (multi-label).
            eval_set: the validation set (same kinds). Default: a manifest's ``val`` split, else a
                seeded ``val_fraction`` of the clean set is held out.
            classes: fixes the class list; a label outside it is refused (with a did-you-mean).
            image_root: the folder a manifest's image paths are relative to (default: the manifest's folder),
                as ``--image-root``.
        """
        from .data.decode import drop_unreadable
        from .data.inputs import array_sets, checked_features, checked_labels, is_arrays, is_path, training_sets
        from .data.labelset import LabelledSet
        from .data.table import LabelTable
        from .train import fit

        if X is not None:
            if noisy is not None:
                raise UserError("give the noisy data either as X, y or as noisy=..., not both")
            noisy = X if y is None and (is_path(X) or isinstance(X, (LabelledSet, LabelTable))) else (X, y)
        given = [s for s in (noisy, clean, eval_set) if s is not None]
        if any(is_arrays(s) for s in given):
            if not all(is_arrays(s) for s in given):
                raise UserError("give every part as a (features, labels) pair, or none of them")
            noisy, clean, eval_set = (
                (checked_features(s[0]), checked_labels(s[1], role)) if s else None
                for s, role in ((noisy, "noisy"), (clean, "clean"), (eval_set, "eval_set"))
            )
            train, val, self.classes_ = array_sets(noisy, clean, eval_set, classes=classes)
        else:
            train, val = training_sets(noisy, clean, eval_set, classes=classes, image_root=image_root)
            self.classes_ = np.asarray(train.classes)
        cfg = self.config()
        train, val = drop_unreadable(train, val, cfg)  # skip_unreadable: once, before tuning's trials and fit
        cfg = cfg if train.has_clean.any() else cfg.replace(val_fraction=0.0)
        if cfg.tune_trials:  # the search on validation first; ``tuned_`` holds what it chose
            from .tuning import tuned_config

            cfg, search = tuned_config(train, cfg, val)
            self.tuned_ = search.params
        result = fit(train, cfg, eval_set=val, print_evaluations=not self.quiet)
        self._fitted(result.model, result.meta)
        return self

    def _fitted(self, model: Any, meta: dict[str, Any]) -> None:
        """Set the learned attributes from a trained model and its checkpoint record."""
        from .data.images import Preprocess

        self.model_, self.meta_ = model.eval(), meta
        self.preprocess_ = Preprocess.from_dict(meta["preprocess"])
        self.history_ = meta.get("history", [])
        self.multi_label_ = bool(meta.get("multi_label", False))
        t = meta.get("thresholds")
        self.thresholds_ = (
            np.asarray(t if t else [0.5] * len(self.classes_), dtype=np.float64) if self.multi_label_ else None
        )
        if meta.get("backbone") == "features":
            self.n_features_in_ = int(meta["feature_dim"])

    # ------------------------------------------------------------------ saving
    def save(self, folder: str | Path) -> Path:
        """Write the model as a checkpoint folder (``model.safetensors`` + ``checkpoint.json``: config,
        classes, preprocessing, thresholds), read by ``load`` and by ``noisereg predict / evaluate / export``."""
        from .checkpoint import save_checkpoint

        self._check_fitted()
        meta = {
            **self.meta_,
            "class_values": self.classes_.tolist(),
            "thresholds": None if self.thresholds_ is None else self.thresholds_.tolist(),
        }
        return save_checkpoint(folder, self.model_, meta)

    @classmethod
    def load(cls, folder: str | Path) -> NoiseRegClassifier:
        """A fitted classifier from a folder written by ``save`` or by ``noisereg train`` (no pickle)."""
        from .train import load_classifier

        model, meta = load_classifier(folder)
        est = cls(**{**meta["config"], **{n: None for n in meta.get("method_defaults", [])}})  # as given: unset
        est.classes_ = np.asarray(meta.get("class_values", meta["classes"]))
        est._fitted(model, meta)
        return est

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFitted("this NoiseRegClassifier is not fitted yet: call fit (or NoiseRegClassifier.load)")

    def _device(self) -> torch.device:
        from .distributed import resolve_device

        return resolve_device(self.device)

    def _outputs(self, X: Any) -> dict[str, torch.Tensor]:
        """Every output's logits (``logits`` = g's) for the rows of ``X``."""
        from .data.inputs import checked_features, is_path, prediction_inputs
        from .data.labelset import LabelledSet
        from .train import predict_logits

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
        from .data.classes import unknown_class
        from .data.inputs import label_matrix, prediction_labels

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

        from .data.folders import image_paths
        from .data.inputs import is_path
        from .train import predict_files

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

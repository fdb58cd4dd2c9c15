"""``NoiseRegClassifier``: its parameters (the ``TrainConfig`` fields), ``fit``, ``save`` and ``load``; what a
fitted one predicts is ``prediction.py``'s ``Predicting``, which it inherits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ..config import TrainConfig
from ..errors import UserError
from .prediction import Predicting


class NoiseRegClassifier(Predicting, BaseEstimator):
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
        from ..data.decode import drop_unreadable
        from ..data.inputs import array_sets, checked_features, checked_labels, is_arrays, is_path, training_sets
        from ..data.labelset import LabelledSet
        from ..data.table import LabelTable
        from ..train import fit

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
            from ..tuning import tuned_config

            cfg, search = tuned_config(train, cfg, val)
            self.tuned_ = search.params
        result = fit(train, cfg, eval_set=val, print_evaluations=not self.quiet)
        self._fitted(result.model, result.meta)
        return self

    def _fitted(self, model: Any, meta: dict[str, Any]) -> None:
        """Set the learned attributes from a trained model and its checkpoint record."""
        from ..data.images import Preprocess

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
        from ..checkpoint import save_checkpoint

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
        from ..train import load_classifier

        model, meta = load_classifier(folder)
        est = cls(**{**meta["config"], **{n: None for n in meta.get("method_defaults", [])}})  # as given: unset
        est.classes_ = np.asarray(meta.get("class_values", meta["classes"]))
        est._fitted(model, meta)
        return est

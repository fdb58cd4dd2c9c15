"""cleanlab's CleanLearning set up as strongly as the methods it is compared with.

- the classifier it wraps is ``mixed``: the clean net's MLP head trained on every given label, with
  ``mixed``'s tuned values (the head ``proposed`` has, without the residual net);
- every training of that head (the cross-validation folds and the final fit) stops early on the
  same validation images as every other method (a share of the clean budget, never the test set);
- the clean rows train as clean rows and are never pruned: only noisy labels can be label issues;
- cleanlab's own settings (``filter_by``, ``frac_noise``) get the trial budget every method gets,
  scored on validation; the cross-validated probabilities are computed once and shared by the trials.

The clean rows travel through CleanLearning as a last column of X (1 = clean), so that its folds and
its pruning keep them apart without knowing about them.

Multi-label data (``MultiHead``, ``multilabel_clean_learning``): cleanlab's ``CleanLearning`` takes one
label per row, so its multi-label recipe is followed by hand, as cleanlab documents it: out-of-fold
probabilities of the same head (5-fold), ``cleanlab.multilabel_classification.filter.find_label_issues``
on them, the flagged noisy images left out and the head fitted again on the rest; the same settings
are tuned, on validation mAP.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given")


class SameHead(ClassifierMixin, BaseEstimator):
    """The ``mixed`` head as a scikit-learn classifier for CleanLearning (X's last column flags clean rows)."""

    def __init__(
        self,
        params: dict | None = None,
        val: tuple | None = None,
        num_classes: int = 10,
        seed: int = 0,
        train: dict | None = None,
    ) -> None:
        self.params, self.val, self.num_classes, self.seed, self.train = params, val, num_classes, seed, train

    def fit(self, X: np.ndarray, y: np.ndarray) -> SameHead:
        from noisereg import NoiseRegClassifier

        flag, x = X[:, -1] > 0.5, np.ascontiguousarray(X[:, :-1])
        self.head_ = NoiseRegClassifier(
            method="mixed",
            scheme="frozen",
            backbone_steps=0,
            seed=self.seed,
            **{**(self.train or {}), **(self.params or {})},
        )
        self.head_.fit(
            noisy=(x[~flag], y[~flag]),
            clean=(x[flag], y[flag]),
            eval_set=self.val,
            classes=list(range(self.num_classes)),
        )
        self.classes_ = np.arange(self.num_classes)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.head_.predict_proba(np.ascontiguousarray(X[:, :-1]))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(1)


def training_rows(train: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X with the clean flag as last column, y, clean flag): the labelled training rows, clean rows with
    their clean label (validation rows are not in ``train``)."""
    use = train.has_clean | train.has_noisy
    feats = np.asarray(train.images, dtype=np.float32)[use]
    clean = train.has_clean[use]
    y = np.where(train.has_clean, train.clean.argmax(1), train.noisy.argmax(1))[use]
    return np.hstack([feats, clean[:, None].astype(np.float32)]), y, clean


def clean_learning(
    head: SameHead, x: np.ndarray, y: np.ndarray, clean: np.ndarray, pred_probs: np.ndarray, settings: dict, seed: int
):
    """CleanLearning fitted with ``settings`` from shared cross-validated ``pred_probs``; clean rows kept."""
    from cleanlab.classification import CleanLearning

    cl = CleanLearning(head, seed=seed, find_label_issues_kwargs={**settings, "n_jobs": 1})
    issues = cl.find_label_issues(x, y, pred_probs=pred_probs)
    issues.loc[clean, "is_label_issue"] = False
    return cl.fit(x, y, label_issues=issues), float(issues["is_label_issue"].mean())


def cv_probabilities(head: SameHead, x: np.ndarray, y: np.ndarray, seed: int, folds: int = 5) -> np.ndarray:
    """Out-of-fold probabilities of ``head`` (cleanlab's own cross-validation)."""
    from cleanlab.count import estimate_cv_predicted_probabilities

    return estimate_cv_predicted_probabilities(x, y, clf=head, cv_n_folds=folds, seed=seed)


def tune_settings(
    head: SameHead, x: np.ndarray, y: np.ndarray, clean: np.ndarray, val: tuple, trials: int, seed: int = 0
) -> tuple[dict, list[dict]]:
    """cleanlab's settings chosen with ``trials`` seeded Optuna trials on validation top-1 (one final fit
    each, from one set of cross-validated probabilities). Returns (best settings, one row per trial)."""
    pred_probs = cv_probabilities(head, x, y, seed)

    def score(settings: dict) -> tuple[float, float]:
        cl, pruned = clean_learning(head, x, y, clean, pred_probs, settings, seed)
        return float((cl.predict(np.hstack([val[0], np.zeros((len(val[0]), 1), np.float32)])) == val[1]).mean()), pruned

    return search(score, trials, seed)


def search(score, trials: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """``filter_by`` and ``frac_noise`` chosen by ``trials`` seeded Optuna trials maximising ``score(settings)``
    -> (validation score, share pruned), cleanlab's defaults first. Returns (best settings, one row per trial)."""
    import optuna

    rows: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        settings = {
            "filter_by": trial.suggest_categorical("filter_by", FILTERS),
            "frac_noise": trial.suggest_float("frac_noise", 0.3, 1.0),
        }
        value, pruned = score(settings)
        rows.append(
            {"method": "cleanlab-cl", "trial": trial.number, "value": value, "pruned": round(pruned, 4), **settings}
        )
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({"filter_by": "prune_by_noise_rate", "frac_noise": 1.0})  # cleanlab's defaults first
    study.optimize(objective, n_trials=trials)
    return dict(study.best_params), rows


class MultiHead(ClassifierMixin, BaseEstimator):
    """The same head as ``SameHead`` on multi-hot labels (``NoiseRegClassifier`` takes one label per row):
    ``mixed``, the clean net's MLP on every given label, X's last column flagging the clean rows, each fit
    stopping early on ``val`` (a ``LabelledSet``)."""

    def __init__(self, params: dict | None = None, val: Any = None, seed: int = 0, train: dict | None = None) -> None:
        self.params, self.val, self.seed, self.train = params, val, seed, train

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (self.predict_proba(x) >= 0.5).astype(int)

    def fit(self, x: np.ndarray, y: np.ndarray) -> MultiHead:
        from noisereg.config import TrainConfig
        from noisereg.data.labelset import LabelledSet
        from noisereg.train import fit

        flag, feats = x[:, -1] > 0.5, np.ascontiguousarray(x[:, :-1])
        data = LabelledSet(
            images=feats,
            classes=[str(k) for k in range(y.shape[1])],
            has_noisy=~flag,
            has_clean=flag,
            noisy=np.where(flag[:, None], 0, y),
            clean=np.where(flag[:, None], y, 0),
        )
        cfg = {"scheme": "frozen", "backbone_steps": 0, **(self.train or {}), **(self.params or {}), "quiet": True}
        self.result_ = fit(data, TrainConfig(method="mixed", seed=self.seed, **cfg), eval_set=self.val)
        self.classes_ = np.arange(y.shape[1])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import torch

        from noisereg.train import predict_logits

        feats = np.ascontiguousarray(x[:, :-1])
        z = predict_logits(self.result_.model, feats, self.result_.preprocess, device=torch.device("cpu"))["logits"]
        return torch.sigmoid(z).numpy()


def multilabel_rows(train: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X with the clean flag as last column, (N, K) multi-hot y, clean flag): every labelled training row,
    a clean row with its clean labels."""
    use = train.has_clean | train.has_noisy
    feats = np.asarray(train.images, dtype=np.float32)[use]
    clean = train.has_clean[use]
    y = np.where(train.has_clean[:, None], train.clean, train.noisy)[use].astype(int)
    return np.hstack([feats, clean[:, None].astype(np.float32)]), y, clean


def multilabel_cv_probabilities(head: MultiHead, x: np.ndarray, y: np.ndarray, seed: int, folds: int = 5) -> np.ndarray:
    """Out-of-fold (N, K) probabilities of ``head`` (plain K-fold: multi-hot rows have no strata)."""
    from sklearn.base import clone
    from sklearn.model_selection import KFold, cross_val_predict

    return cross_val_predict(
        clone(head), x, y, cv=KFold(folds, shuffle=True, random_state=seed), method="predict_proba"
    )


def multilabel_clean_learning(
    head: MultiHead, x: np.ndarray, y: np.ndarray, clean: np.ndarray, pred_probs: np.ndarray, settings: dict
) -> tuple[MultiHead, float]:
    """The head fitted again without the noisy images cleanlab flags under ``settings`` (clean rows are never
    flagged); returns (the head, share of rows left out)."""
    from cleanlab.multilabel_classification.filter import find_label_issues
    from sklearn.base import clone

    issues = find_label_issues([np.flatnonzero(r).tolist() for r in y], pred_probs, n_jobs=1, **settings)
    issues = np.asarray(issues, bool) & ~clean
    return clone(head).fit(x[~issues], y[~issues]), float(issues.mean())


def tune_multilabel_settings(
    head: MultiHead, x: np.ndarray, y: np.ndarray, clean: np.ndarray, val: Any, trials: int, seed: int = 0
) -> tuple[dict, list[dict]]:
    """cleanlab's settings chosen on validation mAP (``val``: a ``LabelledSet``), ``trials`` trials."""
    from noisereg.metrics import mean_average_precision

    pred_probs = multilabel_cv_probabilities(head, x, y, seed)
    val_x = np.hstack([np.asarray(val.images, np.float32), np.zeros((len(val), 1), np.float32)])

    def score(settings: dict) -> tuple[float, float]:
        fitted, pruned = multilabel_clean_learning(head, x, y, clean, pred_probs, settings)
        return float(mean_average_precision(fitted.predict_proba(val_x), np.asarray(val.clean))), pruned

    return search(score, trials, seed)

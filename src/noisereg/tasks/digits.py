"""The built-in demo tasks on scikit-learn's bundled digits images (real 8x8 scans, no download).

- single-label: digits with class-dependent noise (each class flipped to its most confusable
  class; about 40% noisy), 10% of the training images clean;
- multi-label: 2x2 mosaics of digits labelled with the set of digits present; noisy labels are the
  top-k predictions of a weak annotator trained on a few images (the paper's MS COCO recipe).
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.labelset import LabelledSet, clean_subset, one_hot
from ..data.noise import class_flip_rates, flip_to_confusable, most_confusable_classes, noise_rates, top_k_labels
from .base import Task
from .mosaics import mosaics, union_labels

DIGIT_CLASSES = [str(d) for d in range(10)]


def _digits(test_fraction: float = 1 / 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images scaled to [0, 1] (N, 8, 8) and labels, split into train/test by one fixed permutation: the
    same test images for every seed, so that tuning at seed 0 never trains on another seed's test images."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images, labels = (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    n_test = int(len(labels) * test_fraction)
    te, tr = order[:n_test], order[n_test:]
    return images[tr], labels[tr], images[te], labels[te]


def _train_set(
    images: np.ndarray, clean: np.ndarray, noisy: np.ndarray, clean_fraction: float, seed: int
) -> LabelledSet:
    """D_c = a seeded clean fraction (clean labels only); D_n = the rest (noisy labels only)."""
    is_clean = clean_subset(len(images), clean_fraction, seed, stream=7)
    return LabelledSet(
        images=torch.from_numpy(images).unsqueeze(1),
        classes=DIGIT_CLASSES,
        noisy=noisy,
        clean=clean,
        has_noisy=~is_clean,
        has_clean=is_clean,
    )


def _test_set(images: np.ndarray, clean: np.ndarray) -> LabelledSet:
    n = len(images)
    return LabelledSet(
        images=torch.from_numpy(images).unsqueeze(1),
        classes=DIGIT_CLASSES,
        noisy=np.zeros_like(clean),
        clean=clean,
        has_noisy=np.zeros(n, bool),
        has_clean=np.ones(n, bool),
    )


def confusable_flips(x_tr: np.ndarray, y_tr: np.ndarray, noise_rate: float, seed: int) -> np.ndarray:
    """Human-like single-label noise: each class relabelled as its most confusable class at a
    class-dependent rate averaging ``noise_rate`` (half the classes above it, so their noisy majority
    is wrong)."""
    target = most_confusable_classes(x_tr.reshape(len(x_tr), -1), y_tr, 10)
    return flip_to_confusable(y_tr, target, class_flip_rates(10, noise_rate, seed=seed), seed=seed)


def digits_single_label(*, noise_rate: float = 0.4, clean_fraction: float = 0.1, seed: int = 0) -> Task:
    """Single-label digits with class-dependent noise; ``noise`` holds the measured rates."""
    x_tr, y_tr, x_te, y_te = _digits()
    y_noisy = confusable_flips(x_tr, y_tr, noise_rate, seed)
    clean, noisy = one_hot(y_tr, 10), one_hot(y_noisy, 10)
    train = _train_set(x_tr, clean, noisy, clean_fraction, seed)
    return Task(
        "single-label",
        train,
        _test_set(x_te, one_hot(y_te, 10)),
        noise_rates(noisy[train.has_noisy], clean[train.has_noisy]),
        single_label=True,
    )


def weak_annotator_scores(
    x_tr: np.ndarray, y_tr: np.ndarray, tiles_images: np.ndarray, *, per_class: int, seed: int
) -> np.ndarray:
    """Class scores of mosaics by a weak annotator: logistic regression fit on ``per_class`` images
    per class, applied to every tile, the mosaic's score for a class is its best tile's."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng([seed, 5])
    few = np.concatenate([rng.choice(np.flatnonzero(y_tr == k), per_class, replace=False) for k in range(10)])
    clf = LogisticRegression(max_iter=2000).fit(x_tr[few].reshape(len(few), -1), y_tr[few])
    n = len(tiles_images)
    probs = clf.predict_proba(tiles_images.reshape(n * 4, -1)).reshape(n, 4, 10)
    return probs.max(1)


def digits_multi_label(
    *,
    n_train: int = 3000,
    n_test: int = 600,
    k: int = 3,
    clean_fraction: float = 0.1,
    annotator_per_class: int = 2,
    noise: str = "annotator",
    noise_rate: float = 0.4,
    seed: int = 0,
) -> Task:
    """Multi-label mosaics (clean labels: the union of the tiles' classes) with one of two noises:

    - ``annotator``: the top-``k`` classes of a weak annotator (the paper's machine-labelled recipe;
      missing and spurious labels, mostly random);
    - ``flips``: the union of the tiles' human-like labels (``confusable_flips``, the CIFAR-10N mosaic
      recipe): systematic, class-dependent missing and spurious labels.
    """
    x_tr, y_tr, x_te, y_te = _digits()
    m_tr, tiles, clean = mosaics(x_tr, y_tr, n_train, seed=seed)
    m_te, _, clean_te = mosaics(x_te, y_te, n_test, seed=1)  # one test set for every seed
    if noise == "flips":
        noisy = union_labels(confusable_flips(x_tr, y_tr, noise_rate, seed), tiles, 10)
    else:
        scores = weak_annotator_scores(x_tr, y_tr, x_tr[tiles], per_class=annotator_per_class, seed=seed)
        noisy = top_k_labels(scores, k)
    train = _train_set(m_tr, clean, noisy, clean_fraction, seed)
    return Task(
        "multi-label",
        train,
        _test_set(m_te, clean_te),
        noise_rates(noisy[train.has_noisy], clean[train.has_noisy]),
        single_label=False,
    )

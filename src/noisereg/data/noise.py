"""Seeded generators of realistic label noise, and the measured noise they produce.

- ``flip_to_confusable``: single-label, class-dependent: each class is relabelled as its most
  confusable class at a class-specific rate (annotators mix up some pairs far more than others).
- ``top_k_labels``: multi-label, the paper's MS COCO recipe: the top-k classes of a weak annotator
  model become the noisy labels, so true labels go missing and spurious ones appear.
"""

from __future__ import annotations

import numpy as np

from .check import label_noise


def most_confusable_classes(features: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """For each class, the other class whose mean feature vector is closest. Returns (K,) indices."""
    means = np.stack([features[labels == k].mean(0) for k in range(num_classes)])
    dist = ((means[:, None, :] - means[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    return dist.argmin(1)


def class_flip_rates(num_classes: int, noise_rate: float, *, skew: float = 0.5, seed: int = 0) -> np.ndarray:
    """Per-class flip rates averaging ``noise_rate``: a seeded half of the classes get
    ``noise_rate * (1 + skew)``, the rest ``noise_rate * (1 - skew)``.

    With the default 0.4 and skew 0.5 half the classes are flipped 60% of the time, so their
    noisy majority label is wrong, which is what makes class-dependent noise hard.
    """
    rng = np.random.default_rng(seed)
    high = rng.permutation(num_classes) < num_classes // 2
    rates = np.where(high, noise_rate * (1 + skew), noise_rate * (1 - skew))
    return np.clip(rates, 0.0, 1.0)


def flip_to_confusable(labels: np.ndarray, target: np.ndarray, rates: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Relabel each sample of class k as ``target[k]`` with probability ``rates[k]`` (seeded).

    Args:
        labels: (N,) true class indices.
        target: (K,) the class each class is confused with (``most_confusable_classes``).
        rates: (K,) flip probability per class (``class_flip_rates``).
    Returns:
        (N,) noisy class indices; the realised rate is ``(noisy != labels).mean()``, about
        ``rates[labels].mean()``.
    """
    rng = np.random.default_rng(seed)
    flip = rng.random(len(labels)) < rates[labels]
    return np.where(flip, target[labels], labels)


def top_k_labels(scores: np.ndarray, k: int) -> np.ndarray:
    """(N, K) annotator scores -> (N, K) multi-hot of each row's k highest classes (ties: lower index)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    out = np.zeros(scores.shape, dtype=np.float32)
    np.put_along_axis(out, order, 1.0, axis=1)
    return out


def noise_rates(noisy: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """Measured noise between paired multi-hot label matrices (N, K).

    Returns:
        ``image``: share of images whose label set differs; ``missing``: share of true labels absent
        from the noisy labels; ``spurious``: share of noisy labels that are not true; for one-hot
        data all three equal the usual flip rate.
    """
    r = label_noise(np.asarray(clean) > 0.5, np.asarray(noisy) > 0.5)
    return {"image": r["overall"] or 0.0, "missing": r["missing"] or 0.0, "spurious": r["spurious"] or 0.0}

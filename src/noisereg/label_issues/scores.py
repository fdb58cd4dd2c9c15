"""How much to trust each given noisy label, from what a trained model learned (numpy, no training).

Every score is a *label quality* in [0, 1], high for labels that look right, computed for each given
entry: single-label, the image's one noisy label y; multi-label, every class k of the image, given
(y_k = 1) or not (y_k = 0). With ``p`` the clean net's g and ``T`` the noise transition:

- ``g``: the clean net's belief in the given label: softmax(c)_y (single-label), sigmoid(c_k) for a given
  class and 1 - sigmoid(c_k) for an absent one (multi-label);
- ``residual``: sigmoid(-r_y), r = h_logits - c the residual net's correction (multi-label: sigmoid(-r_k)
  for a given class, sigmoid(r_k) for an absent one): the residual net pushes towards labels the clean
  net alone would not give, i.e. towards the noise;
- ``posterior`` (the default where the method has h): the probability that the given label is the clean
  one, P(v = y | x, noisy label y) = p_y T[y, y] / sum_v p_v T[v, y] (Bayes' rule under class-conditional
  noise), with T[i] = the mean of h = the noisy-label model over the clean images of class i, as in Gold
  Loss Correction. g says what the image is; h, through T, says how often each class keeps its label,
  so a doubtful image of a class whose labels are often flipped is more suspect than one of a class
  whose labels are reliable. Multi-label: the same per class, with a 2 x 2 transition per class
  (P(y_k = 1 | v_k = 1) and P(y_k = 1 | v_k = 0) = the mean of h_k over clean images with and without k);
- ``method``: the method's own learned trust (``Method.label_trust``: CleanNet's verification score,
  Meta-Weight-Net's weight).

How each score ranks CIFAR-10N's known wrong labels beside cleanlab, CleanNet and Meta-Weight-Net is
measured in benchmarks/RESULTS.md ("Label issues"), generated from benchmarks/results/label_issues.csv; the
figures live there only, so that none here can drift from them.
"""

from __future__ import annotations

import numpy as np

SCORES = ("auto", "posterior", "g", "residual", "method")
MARGIN = 0.05  # the contradiction default's margin: least worst-case F1 regret (benchmarks/bench_issue_cutoff.py)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits (log-probabilities give the probabilities back)."""
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for large |z|


def transition_single(h_logits: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """(K, K) T[i, j] = mean softmax(h)_j over the clean images of class i (identity row without any).

    Args:
        h_logits: (M, K) logits of h on the clean images; clean: (M, K) their one-hot clean labels.
    """
    k = clean.shape[1]
    t, probs, labels = np.eye(k), softmax(h_logits), clean.argmax(1)
    for i in range(k):
        if (labels == i).any():
            t[i] = probs[labels == i].mean(0)
    return t


def transition_multi(h_logits: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per class k: (keep_k, spurious_k) = mean sigmoid(h_k) over clean images with / without class k
    (1 and 0 where no clean image is in that case)."""
    h, v = sigmoid(h_logits), clean > 0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        keep = np.nan_to_num((h * v).sum(0) / v.sum(0), nan=1.0)
        spurious = np.nan_to_num((h * ~v).sum(0) / (~v).sum(0), nan=0.0)
    return keep, spurious


def posterior_single(p: np.ndarray, given: np.ndarray, t: np.ndarray) -> np.ndarray:
    """P(v = y | x, y) = p_y T[y, y] / (p T)_y for (N, K) class probabilities p and given classes y (N,)."""
    rows = np.arange(len(given))
    return p[rows, given] * t[given, given] / np.clip((p @ t)[rows, given], 1e-12, None)


def posterior_multi(p: np.ndarray, given: np.ndarray, keep: np.ndarray, spurious: np.ndarray) -> np.ndarray:
    """(N, K) P(v_k = y_k | x, y_k) for per-class probabilities p and a given multi-hot y."""
    right_pos, wrong_pos = p * keep, (1 - p) * spurious  # y_k = 1
    right_neg, wrong_neg = (1 - p) * (1 - spurious), p * (1 - keep)  # y_k = 0
    pos = right_pos / np.clip(right_pos + wrong_pos, 1e-12, None)
    neg = right_neg / np.clip(right_neg + wrong_neg, 1e-12, None)
    return np.where(given > 0.5, pos, neg)


def entry_scores(
    logits: np.ndarray,
    given: np.ndarray,
    *,
    single_label: bool,
    h_logits: np.ndarray | None = None,
    h_clean: tuple[np.ndarray, np.ndarray] | None = None,
    trust: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every score available, as label qualities: (N,) per image for single-label, (N, K) per entry for
    multi-label, plus the raw ``residual_logit`` r of the given entries.

    Args:
        logits: (N, K) g's logits c; given: (N, K) the noisy labels.
        h_logits: (N, K) h's logits r + c when the method has h.
        h_clean: (h's logits, clean labels) on clean images, to estimate T for ``posterior``.
        trust: (N, K) ``Method.label_trust`` when the method has one.
    """
    rows, y = np.arange(len(given)), given.argmax(1)
    pick = (lambda m: m[rows, y]) if single_label else (lambda m: m)
    sign = 1.0 if single_label else np.where(given > 0.5, 1.0, -1.0)
    p = g_probs(logits, single_label)
    out = {"g": pick(p) if single_label else np.where(given > 0.5, p, 1 - p)}
    if h_logits is not None:
        r = h_logits - logits
        out["residual"] = sigmoid(-sign * pick(r))
        out["residual_logit"] = pick(r)
        if h_clean is not None:
            out["posterior"] = (
                posterior_single(p, y, transition_single(*h_clean))
                if single_label
                else posterior_multi(p, given, *transition_multi(*h_clean))
            )
    if trust is not None:
        out["method"] = pick(trust)
    return out


def g_probs(logits: np.ndarray, single_label: bool) -> np.ndarray:
    """(N, K) the clean net's probabilities g: softmax(c) (single-label) or sigmoid(c_k) (multi-label)."""
    return softmax(logits) if single_label else sigmoid(logits)


def best_other(probs: np.ndarray, given: np.ndarray) -> np.ndarray:
    """(N, K) one-hot: g's most probable class other than the given one (single-label), the suggestion for
    a label judged wrong, which must not be the label itself."""
    rows, y = np.arange(len(given)), given.argmax(1)
    other = np.array(probs, dtype=np.float64, copy=True)
    other[rows, y] = -np.inf
    return np.eye(probs.shape[1], dtype=np.float32)[other.argmax(1)]


def contradicted(probs: np.ndarray, given: np.ndarray, *, single_label: bool, margin: float = MARGIN) -> np.ndarray:
    """Where g contradicts the given label with ``margin``: the cut-off's default when no validation images
    can choose one (no score has a calibrated cut-off: the posterior rarely falls below 0.5 because h,
    through T, learned the very noise it explains).

    Single-label, (N,): g's top class is not the given label y and g_top - g_y > ``margin``. Multi-label,
    (N, K) per (image, class) entry, the same rule on the two outcomes "class k present / absent": g's
    side differs from the given one by more than ``margin``, i.e. g_k < (1 - margin) / 2 for a given class
    and g_k > (1 + margin) / 2 for an absent one (for K = 2 the single-label rule says the same).

    Args:
        probs: (N, K) g (``g_probs``); given: (N, K) the noisy labels (one-hot or multi-hot).
        margin: in [0, 1); 0 flags every label g's top class (or side) disagrees with.
    """
    if single_label:
        rows = np.arange(len(given))
        p_given = probs[rows, given.argmax(1)]
        return (best_other(probs, given) * probs).sum(1) - p_given > margin
    p_side = np.where(given > 0.5, probs, 1.0 - probs)  # g's belief in the given side of each entry
    return (1.0 - p_side) - p_side > margin


def resolve_score(score: str, available: dict[str, np.ndarray]) -> str:
    """The score to rank by: ``auto`` is the posterior where the method has h, else the method's own
    trust where it learns one, else g."""
    from ..errors import UserError

    if score not in SCORES:
        raise UserError(f"score '{score}' is not one of {list(SCORES)}")
    if score == "auto":
        return next(s for s in ("posterior", "method", "g") if s in available)
    if score not in available:
        raise UserError(
            f"score '{score}' needs what this checkpoint's method does not learn; "
            f"available: {[s for s in SCORES[1:] if s in available]}"
        )
    return score

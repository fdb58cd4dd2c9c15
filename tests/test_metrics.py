import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from noisereg.metrics import (ap_all, average_precision, evaluate_scores, mean_average_precision,
                              top1_accuracy)


def _sk_map(scores, targets):
    aps = [average_precision_score(targets[:, k], scores[:, k]) for k in range(targets.shape[1])
           if targets[:, k].any()]
    return float(np.mean(aps))


@pytest.mark.parametrize("seed", range(5))
def test_map_and_ap_all_match_sklearn_on_random_data(seed):
    rng = np.random.default_rng(seed)
    scores = rng.random((80, 6))
    targets = (rng.random((80, 6)) < 0.3).astype(int)
    assert mean_average_precision(scores, targets) == pytest.approx(_sk_map(scores, targets), abs=1e-12)
    assert ap_all(scores, targets) == pytest.approx(
        average_precision_score(targets.ravel(), scores.ravel()), abs=1e-12)


def test_ties_are_handled_like_sklearn():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 3, (60, 4)) / 2.0  # many tied scores
    targets = (rng.random((60, 4)) < 0.4).astype(int)
    assert mean_average_precision(scores, targets) == pytest.approx(_sk_map(scores, targets), abs=1e-12)
    assert average_precision([0.5, 0.5], [1, 0]) == pytest.approx(0.5)


def test_eq8_on_a_hand_worked_ranking():
    # positives at ranks 1 and 3 of 4: AP = (1/1 + 2/3) / 2
    assert average_precision([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)


def test_class_without_positives_is_skipped_and_counted():
    scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.4], [0.7, 0.3, 0.2]])
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    with pytest.warns(UserWarning, match="1 of 3 classes"):
        m = mean_average_precision(scores, targets)
    assert m == pytest.approx(1.0)
    assert evaluate_scores(scores, targets)["classes_skipped"] == 1


def test_top1_counts_a_hit_when_the_top_class_is_any_positive():
    scores = np.array([[0.9, 0.8, 0.1], [0.1, 0.2, 0.9], [0.3, 0.9, 0.1]])
    targets = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 1]])
    assert top1_accuracy(scores, targets) == pytest.approx(2 / 3)


def test_tensors_in_floats_out_in_unit_interval():
    s, t = torch.rand(20, 3), (torch.rand(20, 3) < 0.5).float()
    t[0] = 1
    for f in (mean_average_precision, ap_all, top1_accuracy):
        v = f(s, t)
        assert isinstance(v, float) and 0 <= v <= 1


def test_bad_shapes_and_nan_scores_are_rejected():
    with pytest.raises(ValueError, match="must both be"):
        ap_all(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        ap_all(np.array([[np.nan, 1.0]]), np.array([[1, 0]]))


def test_f1_thresholds_maximise_f1_per_class():
    from sklearn.metrics import f1_score
    from noisereg.metrics import f1_thresholds
    rng = np.random.default_rng(0)
    targets = (rng.random((60, 3)) < 0.3).astype(int)
    targets[:, 2] = 0  # a class without positives keeps the default
    scores = np.clip(targets * 0.3 + rng.random((60, 3)) * 0.7, 0, 1)
    t = f1_thresholds(scores, targets)
    assert t[2] == 0.5
    for k in range(2):  # no candidate threshold (any score) does better
        best = max(f1_score(targets[:, k], scores[:, k] >= c) for c in scores[:, k])
        assert f1_score(targets[:, k], scores[:, k] >= t[k]) == pytest.approx(best)
    known = np.ones_like(targets, bool)
    known[:30, 0] = False  # unknown entries are left out
    assert f1_thresholds(scores, targets, known)[0] == f1_thresholds(scores[30:], targets[30:])[0]

import threading

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.metrics import average_precision_score

from noisereg import metrics
from noisereg.metrics import (
    StreamingMetrics,
    ap_all,
    average_precision,
    evaluate_scores,
    mean_average_precision,
    top1_accuracy,
)


def _sk_map(scores, targets):
    aps = [average_precision_score(targets[:, k], scores[:, k]) for k in range(targets.shape[1]) if targets[:, k].any()]
    return float(np.mean(aps))


@pytest.mark.parametrize("seed", range(5))
def test_map_and_ap_all_match_sklearn_on_random_data(seed):
    rng = np.random.default_rng(seed)
    scores = rng.random((80, 6))
    targets = (rng.random((80, 6)) < 0.3).astype(int)
    assert mean_average_precision(scores, targets) == pytest.approx(_sk_map(scores, targets), abs=1e-12)
    assert ap_all(scores, targets) == pytest.approx(average_precision_score(targets.ravel(), scores.ravel()), abs=1e-12)


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


# ------------------------------------------------------------------ streaming evaluation
def _stream(scores, targets, chunks, reduce=None, rows=None, seed=0):
    """Feed ``rows`` (default: all) of the scores to a StreamingMetrics in shuffled chunks, twice."""
    rng = np.random.default_rng(seed)
    rows = np.arange(len(scores)) if rows is None else rows
    m = StreamingMetrics(targets, reduce)
    for part in np.array_split(rng.permutation(rows), chunks):
        m.add_positives(part, scores[part])
    m.end_positives()
    for part in np.array_split(rng.permutation(rows), chunks + 1):
        m.add_counts(part, scores[part])
    return m.result()


def _random_case(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(2, 90)), int(rng.integers(1, 9))
    scores = rng.integers(0, 4, (n, k)) / 3.0 - 0.5 if seed % 2 else rng.standard_normal((n, k))  # ties / none
    targets = (rng.random((n, k)) < 0.3).astype(np.float32)
    targets[0, 0] = 1
    return scores, targets


@pytest.mark.parametrize("seed", range(12))
def test_streaming_metrics_equal_the_in_memory_ones_and_sklearn(seed, monkeypatch):
    scores, targets = _random_case(seed)
    monkeypatch.setattr(metrics, "CHUNK_ENTRIES", 1 + seed * 7)  # counting chunks of every size
    got = _stream(scores, sp.csr_matrix(targets) if seed % 3 else targets, chunks=1 + seed % 4, seed=seed)
    want = evaluate_scores(scores, targets)
    for key in ("mAP", "AP_all", "top1"):
        assert got[key] == pytest.approx(want[key], abs=1e-12), key
    assert got["classes_skipped"] == want["classes_skipped"]
    assert got["mAP"] == pytest.approx(_sk_map(scores, targets), abs=1e-12)
    assert got["AP_all"] == pytest.approx(average_precision_score(targets.ravel(), scores.ravel()), abs=1e-12)


def test_streaming_float32_scores_keep_their_ties_and_signed_zeros():
    scores = np.array([[0.0, 0.5], [-0.0, 0.5], [0.25, np.float32(1 / 3)], [0.0, 0.5]], np.float32)
    targets = np.array([[1, 0], [0, 1], [0, 0], [1, 1]])
    m = StreamingMetrics(targets, dtype=np.float32)
    m.add_positives(np.arange(4), scores)
    m.end_positives()
    m.add_counts(np.arange(4), scores)
    got, want = m.result(), evaluate_scores(scores, targets)
    assert all(got[k] == pytest.approx(want[k], abs=1e-12) for k in ("mAP", "AP_all", "top1"))


def test_processes_scoring_their_own_rows_reach_the_single_process_numbers():
    """Two threads stand for two ranks: each scores half the rows; ``reduce`` sums their accumulators."""
    scores, targets = _random_case(3)
    gate, shared, results = threading.Barrier(2, timeout=60), [None, None], [None, None]  # no hang on a failure

    def reduce(rank):
        def f(a):
            shared[rank] = a
            gate.wait()
            total = shared[0] + shared[1]
            gate.wait()
            return total

        return f

    halves = np.array_split(np.arange(len(scores)), 2)
    threads = [
        threading.Thread(
            target=lambda r=r: results.__setitem__(r, _stream(scores, targets, 2, reduce(r), rows=halves[r]))
        )
        for r in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    want = evaluate_scores(scores, targets)
    assert None not in results
    for got in results:
        assert all(got[k] == pytest.approx(want[k], abs=1e-12) for k in ("mAP", "AP_all", "top1"))


def test_streaming_checks_its_input_and_its_order():
    m = StreamingMetrics(np.eye(3))
    with pytest.raises(ValueError, match="do not match"):
        m.add_positives(np.arange(2), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        m.add_positives(np.arange(1), np.array([[np.nan, 0, 0]]))
    with pytest.raises(RuntimeError, match="end_positives"):
        m.add_counts(np.arange(3), np.zeros((3, 3)))
    empty = StreamingMetrics(np.zeros((2, 2)))
    empty.end_positives()
    with pytest.raises(ValueError, match="no class has a positive"):
        empty.result()


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


def test_f1_thresholds_keep_the_default_on_few_validation_positives():
    """Issue 44: a threshold chosen on 2 positives came out at 0.026 and labelled 47 of 50 photos."""
    from noisereg.metrics import MIN_POSITIVES, f1_thresholds, tunable_classes

    rng = np.random.default_rng(1)
    targets = np.zeros((40, 2), int)
    targets[: MIN_POSITIVES - 1, 0] = 1  # one positive short
    targets[:MIN_POSITIVES, 1] = 1
    scores = np.clip(rng.random((40, 2)) * 0.1 + targets * 0.02, 0, 1)  # every score far below 0.5
    t = f1_thresholds(scores, targets)
    assert t[0] == 0.5 and t[1] < 0.2
    assert tunable_classes(targets).tolist() == [False, True]
    assert f1_thresholds(scores, targets, min_positives=1)[0] < 0.2

"""Streaming evaluation: the model's mAP / AP_all / top-1 / BCE equal those of its whole score matrix."""

import importlib

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet
from noisereg.metrics import evaluate_scores
from noisereg.train import evaluate, fit, predict_logits

evaluate_module = importlib.import_module("noisereg.train.evaluate")  # the name ``evaluate`` is the function

CPU = torch.device("cpu")


def _multi_label(n: int = 300, k: int = 12, seed: int = 0) -> LabelledSet:
    """Features that carry their labels, CSR labels, every fourth row clean with half its classes verified."""
    rng = np.random.default_rng(seed)
    clean = (rng.random((n, k)) < 0.2).astype(np.float32)
    x = (rng.normal(size=(n, 24)) + clean @ rng.normal(size=(k, 24))).astype(np.float16)
    noisy = np.where(rng.random((n, k)) < 0.1, 1 - clean, clean)
    is_clean = np.arange(n) % 4 == 0
    verified = rng.random((n, k)) < 0.5
    return LabelledSet(
        images=x,
        classes=[f"c{i}" for i in range(k)],
        noisy=sp.csr_matrix(noisy),
        clean=sp.csr_matrix(clean * is_clean[:, None]),
        has_noisy=~is_clean,
        has_clean=is_clean,
        clean_mask=sp.csr_matrix(verified),
    )


def _in_memory(model, data, pre, which):
    """The reference: every row's logits at once, metrics and masked BCE on the whole clean matrix."""
    rows = data.clean_indices
    z = predict_logits(model, data.images, pre, device=CPU)[which][rows]
    targets = data.clean_rows(rows)
    want = evaluate_scores(torch.sigmoid(z).numpy(), targets)
    known = torch.from_numpy(data.known_rows(rows).astype(np.float32))
    bce = F.binary_cross_entropy_with_logits(z, torch.from_numpy(targets), reduction="none")
    want["bce"] = float((bce * known).sum() / known.sum())
    return want


@pytest.mark.parametrize("replay", [True, False])
def test_streaming_evaluation_equals_the_whole_matrix(replay, monkeypatch):
    data = _multi_label()
    r = fit(data, TrainConfig(steps=40, hidden=16, lr=1e-2, quiet=True, val_fraction=0))
    if not replay:  # the second pass recomputes the logits instead of keeping the first pass's
        monkeypatch.setattr(evaluate_module, "REPLAY_BYTES", 0)
    for which in ("logits", "h_logits"):
        got = evaluate(r.model, data, r.preprocess, device=CPU, which=which, batch_size=32)
        want = _in_memory(r.model, data, r.preprocess, which)
        for key in ("mAP", "AP_all", "top1"):
            assert got[key] == pytest.approx(want[key], abs=1e-12), (which, key)
        assert got["classes_skipped"] == want["classes_skipped"]
        assert got["bce"] == pytest.approx(want["bce"], rel=1e-5)
    assert 0.4 < got["mAP"] < 1  # a trained model, not a constant: ranking is exercised

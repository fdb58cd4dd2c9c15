"""NoiseRegClassifier follows scikit-learn's conventions and works inside cleanlab's CleanLearning."""
import numpy as np
import pytest
from sklearn.base import clone

from noisereg import NoiseRegClassifier
from noisereg.errors import UserError


def _data(n: int = 400, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = (rng.normal(size=(n, 6)) + 2.5 * np.eye(k, 6)[y]).astype(np.float32)
    noisy = np.where(rng.random(n) < 0.25, (y + 1) % k, y)
    names = np.array(["cat", "dog", "emu"])
    return x, names[noisy], names[y]


def test_params_clone_and_probabilities():
    est = NoiseRegClassifier(method="noisy", steps=150, lr=1e-2, hidden=16)
    assert est.get_params()["method"] == "noisy" and est.get_params()["quiet"] is True
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    x, y_noisy, y = _data()
    est.fit(x[:300], y_noisy[:300], clean=(x[300:330], y[300:330]))
    proba = est.predict_proba(x[330:])
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert list(est.classes_) == ["cat", "dog", "emu"]
    assert est.score(x[330:], y[330:]) > 0.8 and est.predict(x[330:]).dtype.kind == "U"
    with pytest.raises(UserError, match="unknown option"):
        NoiseRegClassifier(colour="red")
    with pytest.raises(UserError, match="features"):
        est.predict(np.zeros((2, 4)))


def test_clean_learning_runs_cross_validation_with_it():
    cleanlab = pytest.importorskip("cleanlab.classification")
    x, y_noisy, y = _data()
    codes = {"cat": 0, "dog": 1, "emu": 2}  # cleanlab wants class indices
    y_noisy, y = np.vectorize(codes.get)(y_noisy), np.vectorize(codes.get)(y)
    head = NoiseRegClassifier(method="noisy", epochs=5, lr=1e-2, patience=0)
    cl = cleanlab.CleanLearning(head, cv_n_folds=3, seed=0).fit(x[:300], y_noisy[:300])
    issues = cl.get_label_issues()
    flagged = issues["is_label_issue"].to_numpy()
    wrong = y_noisy[:300] != y[:300]
    assert flagged[wrong].mean() > 2 * flagged[~wrong].mean()  # it finds the wrong labels
    assert (cl.predict(x[300:]) == y[300:]).mean() > 0.7  # chance: 1/3

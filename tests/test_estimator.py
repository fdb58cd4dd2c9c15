"""NoiseRegClassifier follows scikit-learn's conventions and works inside cleanlab's CleanLearning."""

from pathlib import Path

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
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        NoiseRegClassifier(colour="red")
    with pytest.raises(UserError, match="X has 4 features, but NoiseRegClassifier is expecting 6 features"):
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


def test_image_folder_round_trip(folder_model, tmp_path):
    """fit on folders, save, load: the same probabilities, from a folder, a list of paths or a LabelledSet."""
    from noisereg.data.folders import folders_table

    folders, est, _ = folder_model
    assert list(est.classes_) == ["0", "1", "7"] and not est.multi_label_ and est.thresholds_ is None
    proba = est.predict_proba(folders["test"])
    assert proba.shape == (18, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-9)

    est.save(tmp_path / "model")
    loaded = NoiseRegClassifier.load(tmp_path / "model")
    assert loaded.get_params() == est.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(folders["test"]), proba)
    paths = sorted(str(p) for p in folders["test"].rglob("*.png"))
    test = folders_table(test=folders["test"]).to_labelled_set("test")
    np.testing.assert_array_equal(loaded.predict_proba(paths), proba)
    assert (
        0.6
        < loaded.score(test)
        == est.score(folders["test"])
        == (est.classes_[proba.argmax(1)] == [p.split("/")[-2] for p in paths]).mean()
    )


def test_predict_proba_is_g_normalised(folder_model):
    """Single-label probabilities are g = sigmoid(c) divided by its row sum: same argmax as g."""
    import torch

    folders, est, _ = folder_model
    c = est.decision_function(folders["val"])
    g = torch.sigmoid(torch.as_tensor(c, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(est.predict_proba(folders["val"]), g / g.sum(1, keepdims=True), rtol=1e-6)
    assert (est.predict(folders["val"]) == est.classes_[g.argmax(1)]).all()


def _multi_label(n: int, seed: int, flip: float = 0.0):
    """Features that carry 1-3 of 4 classes each (a prototype per class, summed), with noisy labels."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 4)) < 0.4).astype(int)
    y[np.arange(n), rng.integers(0, 4, n)] = 1
    x = (y @ np.eye(4, 8) * 2.0 + rng.normal(size=(n, 8))).astype(np.float32)
    noisy = np.where(rng.random(y.shape) < flip, 1 - y, y)
    return x, y, noisy


def test_multi_label_thresholds_are_chosen_on_validation_and_stored(tmp_path):
    from sklearn.metrics import f1_score

    x, _, y_noisy = _multi_label(400, 0, flip=0.15)
    xc, yc, _ = _multi_label(60, 1)
    xv, yv, _ = _multi_label(80, 2)
    est = NoiseRegClassifier(steps=200, lr=1e-2, hidden=16, batch_size=32, patience=0)
    est.fit(noisy=(x, y_noisy), clean=(xc, yc), eval_set=(xv, yv))
    assert est.multi_label_ and list(est.classes_) == [0, 1, 2, 3] and est.thresholds_.shape == (4,)
    assert not np.allclose(est.thresholds_, 0.5)
    proba = est.predict_proba(xv)
    for k in range(4):  # on validation, each class's threshold is at least as good as 0.5
        assert f1_score(yv[:, k], proba[:, k] >= est.thresholds_[k]) >= f1_score(yv[:, k], proba[:, k] >= 0.5)
    np.testing.assert_array_equal(est.predict(xv), (proba >= est.thresholds_).astype(int))
    est.save(tmp_path / "ml")
    loaded = NoiseRegClassifier.load(tmp_path / "ml")
    np.testing.assert_array_equal(loaded.thresholds_, est.thresholds_)
    np.testing.assert_array_equal(loaded.predict(xv), est.predict(xv))
    assert 0.0 <= loaded.score(xv, yv) <= 1.0


def test_multi_label_thresholds_keep_the_default_where_validation_has_few_positives(tmp_path):
    """Issue 44: a class with under 5 validation positives keeps 0.5, and the checkpoint says which."""
    x, _, y_noisy = _multi_label(400, 0, flip=0.15)
    xc, yc, _ = _multi_label(60, 1)
    xv, yv, _ = _multi_label(80, 2)
    yv[:, 3] = 0
    yv[:2, 3] = 1  # 2 positives of class 3 on validation
    est = NoiseRegClassifier(steps=100, lr=1e-2, hidden=16, batch_size=32, patience=0, quiet=True)
    est.fit(noisy=(x, y_noisy), clean=(xc, yc), eval_set=(xv, yv))
    assert est.thresholds_[3] == 0.5 and not np.allclose(est.thresholds_[:3], 0.5)
    assert est.meta_["thresholds_from"] == ["validation"] * 3 + ["default"]
    from noisereg.train import describe_thresholds

    line = describe_thresholds(est.meta_)
    assert "for 3 of 4 classes" in line and "0.5 for 3 (under 5" in line and "\n" not in line


def test_the_package_keeps_its_names_and_scikit_learns_mixin_order():
    """``noisereg.estimator`` (classifier.py + prediction.py) exports both names; unfitted, every prediction
    method and ``save`` raise ``NotFitted``, which scikit-learn's tools catch as ``NotFittedError``."""
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import NotFittedError

    from noisereg.estimator import NoiseRegClassifier as Exported
    from noisereg.estimator import NotFitted

    assert Exported is NoiseRegClassifier
    mro = NoiseRegClassifier.__mro__
    assert mro.index(ClassifierMixin) < mro.index(BaseEstimator)  # scikit-learn's check_mixin_order
    x = np.zeros((2, 6), np.float32)
    for call in ("predict", "predict_proba", "decision_function", "score"):
        with pytest.raises(NotFitted, match="not fitted"):
            getattr(NoiseRegClassifier(), call)(x, *([[0, 1]] if call == "score" else []))
    with pytest.raises(NotFittedError):
        NoiseRegClassifier().save("unused")


def test_input_errors_are_user_errors(folder_model, tmp_path):
    folders, est, _ = folder_model
    with pytest.raises(UserError, match="not fitted"):
        NoiseRegClassifier().predict(folders["test"])
    with pytest.raises(UserError, match="reads images, not a features array"):
        est.predict(np.zeros((2, 1280)))
    with pytest.raises(UserError, match="no such image folder or manifest"):
        NoiseRegClassifier().fit(noisy=tmp_path / "nowhere.csv")
    x, y_noisy, _ = _data(40)
    with pytest.raises(UserError, match="or none of them"):
        NoiseRegClassifier().fit(noisy=(x, y_noisy), clean=folders["clean"])
    with pytest.raises(UserError, match="unknown class 'dgo'; did you mean 'dog'"):
        NoiseRegClassifier().fit(x, np.where(y_noisy == "dog", "dgo", y_noisy), classes=["cat", "dog", "emu"])


def test_predict_proba_on_a_folder_says_which_file_each_row_is(folder_model):
    """Issue 44 (15): ``last_paths_`` names the file of each row (the folder expanded); predicting those files
    in another order moves the rows with them; ``predictions`` takes the folder too, in the same order."""
    import torch

    folders, est, _ = folder_model
    proba = est.predict_proba(folders["test"])
    paths = est.last_paths_
    assert len(paths) == len(proba) == 18 and {Path(p).parent.name for p in paths} == {"0", "1", "7"}
    assert sorted(paths) == sorted(str(p) for p in folders["test"].rglob("*.png"))
    np.testing.assert_allclose(est.predict_proba(paths[::-1]), proba[::-1], rtol=1e-5, atol=1e-7)
    assert est.last_paths_ == paths[::-1]
    np.testing.assert_allclose(est.predict_proba(paths[5]), proba[5:6], rtol=1e-5, atol=1e-7)
    frame = est.predictions(folders["test"])
    assert frame["path"].tolist() == paths
    np.testing.assert_allclose(frame[["0", "1", "7"]].to_numpy(), proba, rtol=1e-5, atol=1e-7)
    est.predict_proba(torch.rand(2, 3, 32, 32))  # pixels: no files, so no paths of an earlier call are left
    assert not hasattr(est, "last_paths_")


def test_fit_on_a_manifest_validates_on_its_val_split(digit_folder):
    from noisereg.data.manifest import read_manifest

    est = NoiseRegClassifier(
        backbone="small-cnn", backbone_steps=0, image_size=16, steps=4, hidden=8, batch_size=8, eval_every=2
    )
    est.fit(noisy=str(digit_folder))
    assert [r["step"] for r in est.history_ if "val_top1" in r] == [2, 4]  # the manifest's 12 val images
    test = read_manifest(digit_folder, split="test")
    assert est.predict_proba(test).shape == (12, 3) and 0 <= est.score(test) <= 1


def test_feature_arrays_are_checked_before_training():
    """Bad feature arrays and labels are refused at fit, each in one line (scikit-learn's checks, as UserErrors)."""
    import scipy.sparse

    x, y_noisy, _ = _data(40)
    bad_x = {
        "Input X contains NaN": np.where(np.eye(40, 6, dtype=bool), np.nan, x),
        "Complex data": x + 1j,
        "Sparse data was passed": scipy.sparse.csr_matrix(x),
        "Expected 2D array, got 1D": x[:, 0],
    }
    for message, features in bad_x.items():
        with pytest.raises(UserError, match=message) as e:
            NoiseRegClassifier(method="noisy").fit(features, y_noisy)
        assert "\n" not in str(e.value)
    with pytest.raises(UserError, match=r"noisy: the labels are continuous \(e.g. 0.02564"):
        NoiseRegClassifier(method="noisy").fit(x, np.linspace(0, 1, 40))
    with pytest.raises(UserError, match="requires y to be passed"):
        NoiseRegClassifier(method="noisy").fit(x)
    est = NoiseRegClassifier(method="noisy", steps=5).fit(x, y_noisy)
    with pytest.raises(UserError, match="Input X contains infinity"):
        est.predict_proba(np.full((2, 6), np.inf))


def test_binary_decision_function_has_scikit_learns_form():
    """Two classes: (N,) log(p_1 / p_0), > 0 where predict says classes_[1], so calibration works on it."""
    from sklearn.calibration import CalibratedClassifierCV

    x, y_noisy, y = _data(300, k=2)
    params = dict(method="noisy", steps=100, lr=1e-2, hidden=16)
    est = NoiseRegClassifier(**params).fit(x[:200], y_noisy[:200])
    d, p = est.decision_function(x[200:]), est.predict_proba(x[200:])
    assert d.shape == (100,)
    np.testing.assert_allclose(d, np.log(p[:, 1] / p[:, 0]), rtol=1e-9)
    assert (est.classes_[(d > 0).astype(int)] == est.predict(x[200:])).all()
    calibrated = CalibratedClassifierCV(NoiseRegClassifier(**params), cv=3).fit(x[:200], y_noisy[:200])
    assert (calibrated.predict(x[200:]) == y[200:]).mean() > 0.8

"""What the Python API predicts on: every row of its input, a ``LabelledSet``'s noisy-only rows too."""

import numpy as np
import pytest

from noisereg import NoiseRegClassifier
from noisereg.data.inputs import prediction_inputs, prediction_labels
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.errors import UserError

CLASSES = ["cat", "dog", "emu"]


def _features(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return (rng.normal(size=(n, 6)) + 3 * np.eye(3, 6)[y]).astype(np.float32), y


def test_a_labelled_set_with_noisy_and_clean_rows_gets_one_prediction_per_row():
    x, y = _features(120, 0)
    names = np.asarray(CLASSES)
    est = NoiseRegClassifier(method="noisy", steps=30, lr=1e-2, hidden=8).fit(
        x[:90], names[y[:90]], clean=(x[90:], names[y[90:]])
    )
    xt, yt = _features(12, 1)
    clean = np.arange(12) % 4 == 0  # 3 clean-labelled rows, 9 with only a noisy label
    data = LabelledSet(
        images=xt, classes=CLASSES, noisy=one_hot(yt, 3), clean=one_hot(yt, 3), has_noisy=~clean, has_clean=clean
    )
    assert len(prediction_inputs(data)[0]) == 12
    np.testing.assert_array_equal(est.predict_proba(data), est.predict_proba(xt))  # every row, in order
    np.testing.assert_array_equal(est.predict(data), est.predict(xt))
    assert est.predict(data).shape == (12,)
    with pytest.raises(UserError, match="9 of the 12 rows of X have no clean label"):
        prediction_labels(data)  # a score over its rows would leave 9 of them out
    with pytest.raises(UserError, match="9 of the 12 rows of X have no clean label"):
        est.score(data)
    checked = data.subset(data.clean_indices)
    assert prediction_labels(checked) == [[CLASSES[k]] for k in yt[clean]]
    assert est.score(checked) == (est.predict(xt[clean]) == names[yt[clean]]).mean()

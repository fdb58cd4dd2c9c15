"""NoiseRegClassifier against scikit-learn's own estimator checks; its parameters against TrainConfig."""

import dataclasses
import inspect

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from noisereg import NoiseRegClassifier, TrainConfig

# The checks call fit(X, y) alone: y as the noisy labels and no clean set, which the paper's method needs
# (`proposed` refuses to train without one), so they run on `noisy` (Backbone (Noisy): a linear classifier
# trained on the noisy labels y), the same estimator otherwise. Settings small enough for about 30 s of
# checks that still learn scikit-learn's blobs (check_classifiers_train asks for 83% training accuracy);
# on the CPU, so a GPU machine runs the same.
CHECKED = NoiseRegClassifier(method="noisy", steps=40, lr=5e-2, hidden=8, device="cpu")

# check name -> why it cannot pass (strict: it fails the test if it starts passing)
EXPECTED_FAILURES = {
    "check_classifiers_multilabel_representation_invariance": (
        "noisereg reads a list of lists as N label sets of class values (its multi-label form: "
        "[['dog', 'person'], ['cat']]), so [[0, 1, 1], ...] means the classes 0 and 1, not indicator rows; "
        "an (N, K) indicator is given as an array"
    ),
}


@parametrize_with_checks([CHECKED], expected_failed_checks=lambda est: EXPECTED_FAILURES, xfail_strict=True)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def _default(f: dataclasses.Field):
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def test_the_parameters_are_the_train_config_fields_with_their_defaults():
    """A field added to TrainConfig (or a default changed) without the estimator's signature fails here."""
    params = inspect.signature(NoiseRegClassifier).parameters
    fields = dataclasses.fields(TrainConfig)
    assert list(params) == [f.name for f in fields]
    assert {p.kind for p in params.values()} == {inspect.Parameter.KEYWORD_ONLY}
    assert {n: p.default for n, p in params.items()} == {f.name: _default(f) for f in fields} | {"quiet": True}


def test_init_stores_and_fit_checks():
    """scikit-learn's convention: a bad value is stored as given and refused by fit, naming it."""
    import numpy as np

    from noisereg.errors import UserError

    est = NoiseRegClassifier(hidden=-3)
    assert est.get_params()["hidden"] == -3 and est.set_params(lr=0.5).lr == 0.5
    with pytest.raises(UserError, match="hidden must be an integer >= 1, got -3"):
        est.fit(np.zeros((4, 2)), [0, 1, 0, 1])
    with pytest.raises(TypeError, match="colour"):
        NoiseRegClassifier(colour="red")

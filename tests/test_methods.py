"""Every registered method trains on tiny seeded data and beats chance; baselines refuse data they cannot use."""

import numpy as np
import pytest
import torch

from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.errors import UserError
from noisereg.methods import Batch, Method, get_method_spec, list_methods, register_method
from noisereg.methods.forward_correction import anchor_transition_matrix, gold_transition_matrix
from noisereg.train import evaluate, fit
from noisereg.train.checks import check_method_data

K = 4
T_TRUE = np.array([[0.6, 0.4, 0.0, 0.0], [0.0, 0.8, 0.2, 0.0], [0.0, 0.0, 0.7, 0.3], [0.1, 0.0, 0.0, 0.9]])


def _features_task(n: int = 400, *, all_clean: bool = False, seed: int = 0) -> tuple[LabelledSet, LabelledSet]:
    """Gaussian clusters (features), noisy labels drawn from T_TRUE, 20% clean images that keep their
    noisy labels too (paired), and a clean test set."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n + 200)
    x = (rng.normal(size=(n + 200, 8)) + 2.5 * np.eye(K, 8)[y]).astype(np.float32)
    y_noisy = np.array([rng.choice(K, p=T_TRUE[c]) for c in y])
    is_clean = (np.arange(n) % 5 == 0) | all_clean
    train = LabelledSet(
        images=x[:n],
        classes=list("abcd"),
        noisy=one_hot(y_noisy[:n], K),
        clean=one_hot(y[:n], K),
        has_noisy=np.ones(n, bool),
        has_clean=is_clean,
    )
    test = LabelledSet(
        images=x[n:],
        classes=list("abcd"),
        noisy=np.zeros((200, K)),
        clean=one_hot(y[n:], K),
        has_noisy=np.zeros(200, bool),
        has_clean=np.ones(200, bool),
    )
    return train, test


@pytest.mark.parametrize("method", list_methods())
def test_every_method_trains_and_beats_chance(method):
    train, test = _features_task(all_clean=method == "gt")
    scheme = "end-to-end" if method == "ft-w" else "frozen"
    cfg = TrainConfig(method=method, scheme=scheme, steps=300, batch_size=32, hidden=16, lr=1e-2, quiet=True)
    result = fit(train, cfg)
    top1 = evaluate(result.model, test, result.preprocess, device=torch.device("cpu"))["top1"]
    assert top1 > 0.5, (method, top1)  # chance is 0.25
    assert all(np.isfinite(h["loss"]) for h in result.history)


def test_phases_are_recorded_in_order():
    train, _ = _features_task()
    r = fit(train, TrainConfig(method="forward-ft", steps=5, quiet=True))
    stages = list(dict.fromkeys(h["stage"] for h in r.history))
    assert stages == ["heads:noisy", "heads:corrected", "heads:fine-tune"]


def test_transition_matrix_estimators_recover_a_known_matrix():
    rng = np.random.default_rng(0)
    y = rng.integers(0, K, 4000)
    # a perfect noisy-label model: p(noisy | x) = T[true class of x], lightly perturbed
    probs = T_TRUE[y] + rng.uniform(0, 0.01, (4000, K))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(gold_transition_matrix(probs, y, K), T_TRUE, atol=0.02)
    np.testing.assert_allclose(anchor_transition_matrix(probs, quantile=0.97), T_TRUE, atol=0.02)


def test_transition_matrix_is_estimated_from_data_during_training():
    train, _ = _features_task(n=800)
    r = fit(train, TrainConfig(method="glc", steps=300, lr=1e-2, quiet=True))
    assert np.abs(r.model.method.transition.numpy() - T_TRUE).max() < 0.2


def _multi_label() -> LabelledSet:
    train, _ = _features_task()
    train.noisy[:, 0] = 1.0  # a second positive on every row
    train.clean[:, 1] = 1.0
    return train


SINGLE_ONLY = [m for m in list_methods() if get_method_spec(m).single_label_only]
PAIRS = [m for m in list_methods() if get_method_spec(m).needs_pairs]


def test_the_registry_declares_the_facts_the_refusals_are_tested_on():
    """The lists below come from the registry; each must name methods, or its tests test nothing."""
    assert {"proposed-softmax", "proposed-glc", "forward", "glc", "cleannet"} <= set(SINGLE_ONLY)
    assert "proposed" not in SINGLE_ONLY and set(PAIRS) == {"veit-wp", "veit-tj"}
    assert set(list_methods(multi_label=True)) == set(list_methods()) - set(SINGLE_ONLY)


@pytest.mark.parametrize("method", SINGLE_ONLY)
def test_single_label_methods_refuse_multi_label_data(method):
    with pytest.raises(UserError, match=f"method '{method}' assumes one label per image; this data is multi-label"):
        fit(_multi_label(), TrainConfig(method=method, steps=2, quiet=True))


def _own_scheme(method: str) -> str:
    return "end-to-end" if method == "ft-w" else "frozen"


@pytest.mark.parametrize("method", [m for m in list_methods() if m not in SINGLE_ONLY])
def test_the_other_methods_take_multi_label_data(method):
    train = _multi_label()
    if method == "gt":  # it needs a clean label for every image
        train.has_clean[:] = True
    check_method_data(train, TrainConfig(method=method, scheme=_own_scheme(method)))


@pytest.mark.parametrize("method", list_methods())
def test_unpaired_data_is_refused_exactly_by_the_methods_that_need_pairs(method):
    train, _ = _features_task(all_clean=method == "gt")
    train.has_noisy[train.has_clean] = False  # clean images lose their noisy labels: unpaired
    cfg = TrainConfig(method=method, scheme=_own_scheme(method))
    if method in PAIRS:
        with pytest.raises(UserError, match=f"method '{method}' needs clean images that also have noisy labels"):
            check_method_data(train, cfg)
    else:
        check_method_data(train, cfg)


def test_gt_refuses_partial_clean_labels():
    with pytest.raises(UserError, match="gt needs a clean label for every training image; 320 have none"):
        fit(_features_task()[0], TrainConfig(method="gt", steps=2, quiet=True))


def test_fine_tuning_baselines_name_their_scheme():
    train, _ = _features_task()
    with pytest.raises(UserError, match="ft-l fine-tunes the last layer; use --scheme frozen"):
        fit(train, TrainConfig(method="ft-l", scheme="end-to-end", steps=2, quiet=True))
    with pytest.raises(UserError, match="use --scheme end-to-end"):
        fit(train, TrainConfig(method="ft-w", scheme="frozen", steps=2, quiet=True))


@pytest.mark.parametrize("method", ["cleannet", "mw-net"])
def test_learned_label_trust_ranks_wrong_labels_low(method):
    """CleanNet's verification score and Meta-Weight-Net's weight of each noisy label: wrong labels get less."""
    from sklearn.metrics import roc_auc_score

    from noisereg.train import predict_logits

    train, _ = _features_task(n=800)
    train.has_noisy[train.has_clean] = False
    r = fit(train, TrainConfig(method=method, steps=300, batch_size=32, hidden=16, lr=1e-2, quiet=True))
    rows = train.noisy_indices
    out = predict_logits(r.model, train.images[rows], r.preprocess, device=torch.device("cpu"))
    given = torch.from_numpy(train.noisy[rows])
    trust = r.model.method.label_trust(out, given)
    assert trust.shape == given.shape and 0 <= float(trust.min()) and float(trust.max()) <= 1
    wrong = train.noisy[rows].argmax(1) != train.clean[rows].argmax(1)
    assert roc_auc_score(wrong, -trust.numpy()[np.arange(len(rows)), train.noisy[rows].argmax(1)]) > 0.75


def test_meta_weight_net_meta_step_reaches_only_the_weight_net_and_trains_on_multi_label_data():
    from noisereg.methods import create_method
    from noisereg.methods.base import Batch

    train, test = _features_task()
    m = create_method("mw-net", 8, K, TrainConfig(method="mw-net", hidden=16))
    x = torch.from_numpy(train.images[:40])
    batch = Batch(x, torch.from_numpy(train.noisy[:40]), torch.ones(40, K), torch.arange(40) < 8)
    m.meta_loss(x, batch).backward()
    assert all(p.grad is None for p in m.classifier.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.weight_net.parameters())
    multi = _multi_label()
    r = fit(multi, TrainConfig(method="mw-net", steps=200, batch_size=32, hidden=16, lr=1e-2, quiet=True))
    assert bool(r.model.method.multi_label)
    test.clean[:, 1] = 1.0
    assert evaluate(r.model, test, r.preprocess, device=torch.device("cpu"))["mAP"] > 0.6


# ------------------------------------------------------------------ a new baseline: one file + one line
class ToySoftmax(Method):
    """What a new baseline's file in methods/ holds: a ``Method`` whose forward returns g's logits and, given a
    batch, its loss (here softmax regression on every label of the batch, clean and noisy alike)."""

    g_form = "softmax"

    def __init__(self, feature_dim: int, num_classes: int, *, clean_ratio: float) -> None:
        super().__init__()
        self.fc, self.clean_ratio = torch.nn.Linear(feature_dim, num_classes), clean_ratio

    def forward(self, features: torch.Tensor, batch: Batch | None = None) -> dict[str, torch.Tensor]:
        out = {"logits": torch.log_softmax(self.fc(features), 1)}
        if batch is not None:
            out["loss"] = -(batch.targets * out["logits"]).sum(1).mean()
        return out


def test_a_baseline_is_one_file_and_one_registration(monkeypatch, capsys):
    """Registered with its facts and nothing else edited, a toy baseline trains, is listed, and is refused
    the data its facts rule out."""
    from noisereg.cli import main
    from noisereg.methods import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # the registration ends with the test
    register_method(
        "toy-softmax",
        lambda d, k, c: ToySoftmax(d, k, clean_ratio=c.clean_ratio),
        "a toy: softmax regression on every label",
        single_label_only=True,
        tunable=("lr",),
    )
    train, test = _features_task()
    result = fit(train, TrainConfig(method="toy-softmax", steps=300, batch_size=32, lr=1e-2, quiet=True))
    assert evaluate(result.model, test, result.preprocess, device=torch.device("cpu"))["top1"] > 0.5
    assert [p.name for p in result.model.method.phases()] == ["train"] and result.model.method.clean_ratio == 0.1
    with pytest.raises(UserError, match="method 'toy-softmax' assumes one label per image"):
        fit(_multi_label(), TrainConfig(method="toy-softmax", steps=2, quiet=True))
    assert "toy-softmax" in list_methods() and "toy-softmax" not in list_methods(multi_label=True)
    assert main(["methods"]) == 0
    assert "a toy: softmax regression on every label (single-label)" in capsys.readouterr().out


# ------------------------------------------------------------------ a task where each mechanism is needed
FLIP = np.array([[0.3, 0.7, 0, 0], [0, 1, 0, 0], [0, 0, 0.3, 0.7], [0, 0, 0, 1.0]])  # 0 -> 1, 2 -> 3 at 70%


@pytest.fixture(scope="module")
def flipped_task() -> tuple[LabelledSet, LabelledSet]:
    """Systematic flips for half the classes (the noisy majority wrong for 0 and 2), 10% clean rows apart:
    training on the noisy labels, or pooling the clean ones into them, scores about 0.5; only a method whose
    noise model works (the residual net, a transition matrix) gets far above it."""
    rng = np.random.default_rng(0)
    n = 1200
    y = rng.integers(0, K, n + 400)
    x = (rng.normal(size=(n + 400, 8)) + 2.5 * np.eye(K, 8)[y]).astype(np.float32)
    y_noisy = np.array([rng.choice(K, p=FLIP[c]) for c in y])
    is_clean = np.arange(n) % 10 == 0
    train = LabelledSet(
        images=x[:n],
        classes=list("abcd"),
        noisy=one_hot(y_noisy[:n], K),
        clean=one_hot(y[:n], K),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )
    test = LabelledSet(
        images=x[n:],
        classes=list("abcd"),
        noisy=np.zeros((400, K)),
        clean=one_hot(y[n:], K),
        has_noisy=np.zeros(400, bool),
        has_clean=np.ones(400, bool),
    )
    return train, test


def _top1_on(task: tuple[LabelledSet, LabelledSet], method: str) -> float:
    train, test = task
    result = fit(train, TrainConfig(method=method, steps=1000, batch_size=32, hidden=16, lr=1e-2, quiet=True))
    return evaluate(result.model, test, result.preprocess, device=torch.device("cpu"))["top1"]


@pytest.fixture(scope="module")
def noisy_top1(flipped_task) -> float:
    return _top1_on(flipped_task, "noisy")


MARGIN = 0.2  # measured: noisy 0.51; proposed 0.90, glc 0.89, forward 0.84; broken ones 0.50-0.52


@pytest.mark.slow
@pytest.mark.parametrize("method", ["proposed", "proposed-softmax", "proposed-glc", "glc", "forward"])
def test_noise_models_beat_noisy_where_the_noisy_majority_is_wrong(flipped_task, noisy_top1, method):
    assert noisy_top1 < 0.6
    assert _top1_on(flipped_task, method) > noisy_top1 + MARGIN, method


@pytest.mark.slow
def test_the_task_fails_a_disconnected_residual_net(flipped_task, noisy_top1, monkeypatch):
    """With r = 0 the paper's method is Backbone (Noisy) plus a little of L_clean: the task must tell."""
    from noisereg.models.heads import ResidualNet

    monkeypatch.setattr(ResidualNet, "forward", lambda self, f: torch.zeros(len(f), K))
    assert _top1_on(flipped_task, "proposed") < noisy_top1 + MARGIN


@pytest.mark.slow
@pytest.mark.parametrize("method", ["glc", "forward"])
def test_the_task_fails_an_ignored_transition_matrix(flipped_task, noisy_top1, monkeypatch, method):
    import noisereg.methods.forward_correction as fc

    monkeypatch.setattr(fc, "gold_transition_matrix", lambda probs, labels, k: np.eye(k))
    monkeypatch.setattr(fc, "anchor_transition_matrix", lambda probs, **kw: np.eye(probs.shape[1]))
    assert _top1_on(flipped_task, method) < noisy_top1 + MARGIN

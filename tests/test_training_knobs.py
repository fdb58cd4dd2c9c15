"""The usual training knobs: AdamW and SGD with momentum, gradient clipping, class imbalance
(``--pos-weight auto`` for multi-label BCE, ``--sampler balanced`` for single-label data) and devices."""

import numpy as np
import pytest
import torch

from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.data.sampler import MixedBatchSampler
from noisereg.devices import check_device_name
from noisereg.distributed import DistContext, resolve_device
from noisereg.errors import UserError
from noisereg.methods import Phase, list_methods, masked_bce
from noisereg.models.backbones import create_backbone
from noisereg.train import fit
from noisereg.train.imbalance import auto_pos_weight, balanced_row_weights, sampler_for
from noisereg.train.loop import make_optimizer, train_loop
from noisereg.train.model import with_method


def _multi_label_set(n: int = 120, k: int = 3, seed: int = 0) -> LabelledSet:
    """Features with multi-hot labels, class 2 rare (about 5% of rows); the clean rows keep noisy labels too."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < np.array([0.5, 0.3, 0.05])).astype(np.float32)
    y[y.sum(1) == 0, 0] = 1
    x = (rng.normal(size=(n, 6)) + 2 * y @ np.eye(k, 6)).astype(np.float32)
    is_clean = np.arange(n) % 4 == 0
    return LabelledSet(images=x, classes=list("abc"), noisy=y, clean=y, has_noisy=np.ones(n, bool), has_clean=is_clean)


def _single_label_set(n: int = 400, seed: int = 0) -> LabelledSet:
    """Features of two classes, the rare one on 10% of the rows (7% of the noisy rows, 20% of the clean)."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 10 == 1).astype(int)
    x = (rng.normal(size=(n, 4)) + 2 * np.eye(2, 4)[y]).astype(np.float32)
    is_clean = np.arange(n) % 4 == 1
    return LabelledSet(
        images=x,
        classes=["common", "rare"],
        noisy=one_hot(y, 2),
        clean=one_hot(y, 2),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )


# ------------------------------------------------------------------ optimizers and clipping
@pytest.mark.parametrize(
    "name, kind",
    [
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("sgd", torch.optim.SGD),
        ("rmsprop", torch.optim.RMSprop),
    ],
)
def test_optimizer_choice_builds_that_optimizer(name, kind):
    cfg = TrainConfig(optimizer=name, momentum=0.8, weight_decay=0.01, lr=0.05, quiet=True)
    model = with_method(create_backbone("features", in_chans=6), cfg, 3)
    opt = make_optimizer(model, cfg)
    assert type(opt) is kind
    assert opt.param_groups[0]["lr"] == 0.05 and opt.param_groups[0]["weight_decay"] == 0.01
    if name == "sgd":
        assert opt.param_groups[0]["momentum"] == 0.8


def _one_sgd_step(grad_clip: float) -> float:
    """The L2 norm of the weight change of one plain SGD step at lr 1 (= the norm of the gradient used)."""
    data = _multi_label_set()
    cfg = TrainConfig(
        optimizer="sgd",
        momentum=0.0,
        lr=1.0,
        warmup=0.0,
        schedule="constant",
        grad_clip=grad_clip,
        batch_size=16,
        quiet=True,
    )
    model = with_method(create_backbone("features", in_chans=6), cfg, 3)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    from noisereg.train.batches import iter_training_batches

    sampler = sampler_for(cfg, data, Phase("train", 0.25), DistContext())
    batches = iter_training_batches(data, torch.from_numpy(data.images), None, sampler, range(1))
    train_loop(model, batches, make_optimizer(model, cfg), cfg, range(1), device=torch.device("cpu"), desc="t")
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return float((after - before).norm())


def test_grad_clip_bounds_the_update_and_zero_leaves_it_alone():
    free = _one_sgd_step(0.0)
    assert free > 0.05
    assert _one_sgd_step(0.01) == pytest.approx(0.01, rel=1e-3)
    assert _one_sgd_step(1e6) == pytest.approx(free, rel=1e-6)


@pytest.mark.parametrize(
    "bad",
    [
        {"momentum": 1.0},
        {"momentum": -0.1},
        {"grad_clip": -1.0},
        {"optimizer": "lbfgs"},
        {"pos_weight": "yes"},
        {"sampler": "weighted"},
    ],
)
def test_bad_knob_values_are_refused_by_name(bad):
    with pytest.raises(UserError, match=next(iter(bad))):
        TrainConfig(**bad)


# ------------------------------------------------------------------ pos_weight
def test_auto_pos_weight_is_negatives_over_positives_of_the_noisy_rows_capped():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 0], [1, 1, 1]], np.float32)
    has_noisy = np.array([1, 1, 1, 1, 0], bool)  # the last row is clean only: its labels do not count
    data = LabelledSet(
        images=np.zeros((5, 2), np.float32),
        classes=list("abc"),
        noisy=y,
        clean=y,
        has_noisy=has_noisy,
        has_clean=~has_noisy,
    )
    assert auto_pos_weight(data, cap=50.0).tolist() == pytest.approx([1 / 3, 2 / 2, 4 / 1])  # c: counts one
    assert auto_pos_weight(data, cap=2.0).tolist() == pytest.approx([1 / 3, 1.0, 2.0])


def test_masked_bce_pos_weight_multiplies_the_positive_terms_only():
    logits, targets = torch.tensor([[0.3, -1.2]]), torch.tensor([[1.0, 0.0]])
    base = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    weighted = masked_bce(logits, targets, pos_weight=torch.tensor([4.0, 9.0]))
    assert float(weighted) == pytest.approx(float((base[0, 0] * 4 + base[0, 1]) / 2))


MULTI = [m for m in list_methods(multi_label=True) if m != "gt"]


@pytest.mark.parametrize("method", MULTI)
def test_every_multi_label_method_weighs_its_bce_by_pos_weight(method):
    data = _multi_label_set()
    scheme = "end-to-end" if method == "ft-w" else "frozen"
    runs = [
        fit(
            data,
            TrainConfig(
                method=method,
                scheme=scheme,
                steps=2,
                batch_size=16,
                hidden=8,
                val_fraction=0.0,
                quiet=True,
                pos_weight=pw,
            ),
        ).history
        for pw in ("none", "auto")
    ]
    assert runs[0][-1]["loss"] != pytest.approx(runs[1][-1]["loss"], rel=1e-4), method  # the last phase's BCE


def test_pos_weight_auto_is_refused_on_single_label_data():
    with pytest.raises(UserError, match="multi-label.*--sampler balanced"):
        fit(_single_label_set(), TrainConfig(steps=2, pos_weight="auto", quiet=True))


# ------------------------------------------------------------------ balanced sampler
def test_balanced_sampler_fills_batches_equally_and_stays_a_function_of_seed_and_step():
    data = _single_label_set()
    rare = data.noisy[:, 1] > 0
    share = {}
    for kind in ("uniform", "balanced"):
        cfg = TrainConfig(sampler=kind, batch_size=40, clean_ratio=0.25)
        s = sampler_for(cfg, data, Phase("train", 0.25), DistContext())
        draws = [s.batch(t) for t in range(200)]
        share[kind] = (np.mean([rare[b.noisy].mean() for b in draws]), np.mean([rare[b.clean].mean() for b in draws]))
        again = sampler_for(cfg, data, Phase("train", 0.25), DistContext())
        assert all(
            (again.batch(t).noisy == draws[t].noisy).all() and (again.batch(t).clean == draws[t].clean).all()
            for t in (0, 57, 199)
        )
    assert share["uniform"][0] == pytest.approx(rare[data.noisy_indices].mean(), abs=0.02)
    assert share["uniform"][1] == pytest.approx(rare[data.clean_indices].mean(), abs=0.04)
    assert share["balanced"][0] == pytest.approx(0.5, abs=0.04)
    assert share["balanced"][1] == pytest.approx(0.5, abs=0.06)


def test_balanced_sampler_ranks_split_the_global_batch():
    data = _single_label_set()
    w = {
        "clean_weights": balanced_row_weights(data.clean, data.clean_indices, 2),
        "noisy_weights": balanced_row_weights(data.noisy, data.noisy_indices, 2),
    }
    whole = MixedBatchSampler(data.clean_indices, data.noisy_indices, batch_size=20, seed=3, **w).batch(5)
    parts = [
        MixedBatchSampler(
            data.clean_indices, data.noisy_indices, batch_size=20, seed=3, rank=r, world_size=2, **w
        ).batch(5)
        for r in range(2)
    ]
    assert (np.concatenate([p.noisy for p in parts]) == whole.noisy).all()
    assert (np.concatenate([p.clean for p in parts]) == whole.clean).all()


def test_balanced_sampler_helps_the_rare_class():
    data, rng = _single_label_set(n=600, seed=1), np.random.default_rng(5)
    y_test = np.r_[np.zeros(200, int), np.ones(200, int)]
    x_test = (rng.normal(size=(400, 4)) + 2 * np.eye(2, 4)[y_test]).astype(np.float32)
    recall = {}
    for kind in ("uniform", "balanced"):
        res = fit(
            data,
            TrainConfig(
                method="noisy", sampler=kind, steps=150, batch_size=32, hidden=8, lr=0.01, val_fraction=0.0, quiet=True
            ),
        )
        with torch.no_grad():
            g = res.model(torch.from_numpy(x_test))["logits"]
        recall[kind] = float((g.argmax(1).numpy()[y_test == 1] == 1).mean())
    assert recall["balanced"] > recall["uniform"] + 0.05, recall


def test_balanced_sampler_is_refused_on_multi_label_data():
    with pytest.raises(UserError, match="single-label.*--pos-weight auto"):
        fit(_multi_label_set(), TrainConfig(steps=2, sampler="balanced", quiet=True))


# ------------------------------------------------------------------ devices
@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_device_names_people_pass_are_accepted(name):
    assert check_device_name(name) == name
    assert TrainConfig(device=name).device == name


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "cpu:0", "mps:1", ""])
def test_misspelt_devices_are_refused_by_name(name):
    with pytest.raises(UserError, match="device '"):
        TrainConfig(device=name)


def test_devices_this_machine_lacks_are_refused_in_one_line():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        for name in ("cuda", "cuda:1"):
            with pytest.raises(UserError, match="no CUDA GPU"):
                resolve_device(name)
    else:
        n = torch.cuda.device_count()
        assert resolve_device(f"cuda:{n - 1}") == torch.device("cuda", n - 1)
        with pytest.raises(UserError, match=f"has {n} CUDA"):
            resolve_device(f"cuda:{n}")
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        with pytest.raises(UserError, match="mps"):
            resolve_device("mps")

import numpy as np
import pytest
import torch

from noisereg.config import TrainConfig, load_config
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.errors import UserError
from noisereg.methods import NoiseRegularization
from noisereg.train import Classifier, fit, make_optimizer, set_lr


def _data(n: int = 64) -> LabelledSet:
    y = np.arange(n) % 2
    images = torch.rand(n, 1, 8, 8) * 0.2
    images[y == 1, 0, :4] += 0.8
    is_clean = np.arange(n) % 8 == 0
    return LabelledSet(
        images=images,
        classes=["top", "none"],
        noisy=one_hot(y, 2),
        clean=one_hot(y, 2),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )


def test_epochs_set_the_number_of_steps_from_the_noisy_set():
    data = _data()
    r = fit(
        data,
        TrainConfig(
            scheme="end-to-end",
            backbone="small-cnn",
            epochs=2,
            batch_size=10,
            image_size=8,
            hidden=4,
            quiet=True,
            patience=0,
        ),
    )
    # 56 noisy samples, 9 noisy per batch of 10 (1:9) -> 7 steps an epoch
    assert r.history[-1]["step"] == 14


def test_rmsprop_and_step_decay():
    cfg = TrainConfig(optimizer="rmsprop", lr=1e-2, schedule="step", warmup=0.0, lr_decay=0.5, decay_every=10)
    model = Classifier(torch.nn.Identity(), NoiseRegularization(4, 2, hidden=3))
    opt = make_optimizer(model, cfg)
    assert isinstance(opt, torch.optim.RMSprop)
    set_lr(opt, cfg, 25, 100)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.25)


def test_adam_is_fused_and_steps_like_the_reference_loop():
    torch.manual_seed(0)
    cfg = TrainConfig(lr=1e-2, weight_decay=1e-3)
    model = Classifier(torch.nn.Identity(), NoiseRegularization(6, 3, hidden=5))
    reference = [p.detach().clone().requires_grad_() for p in model.method.parameters()]
    opt = make_optimizer(model, cfg)
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["fused"]
    ref = torch.optim.Adam(reference, lr=1e-2, weight_decay=1e-3, foreach=False)
    for _ in range(5):
        for p, q in zip(model.method.parameters(), reference):
            g = torch.randn_like(p)
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        ref.step()
    for p, q in zip(model.method.parameters(), reference):
        assert torch.allclose(p, q, atol=1e-6)


def test_training_learns_a_simple_task_in_both_schemes():
    data = _data()
    for scheme in ("end-to-end", "frozen"):
        r = fit(
            data,
            TrainConfig(
                scheme=scheme,
                backbone="small-cnn",
                steps=60,
                backbone_steps=30,
                batch_size=16,
                image_size=8,
                hidden=8,
                lr=3e-3,
                quiet=True,
            ),
        )
        for stage in {h["stage"] for h in r.history}:
            losses = [h["loss"] for h in r.history if h["stage"] == stage]
            assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), (scheme, stage, losses)


def test_config_yaml_round_trip_and_unknown_keys(tmp_path):
    data = _data()
    fit(
        data,
        TrainConfig(scheme="end-to-end", backbone="small-cnn", steps=2, image_size=8, hidden=4, quiet=True, alpha=0.1),
        out=tmp_path,
    )
    cfg = load_config(tmp_path / "config.yaml", steps=5)
    assert cfg.alpha == 0.1 and cfg.steps == 5
    (tmp_path / "bad.yaml").write_text("alpah: 0.3\n")
    with pytest.raises(UserError, match=r"unknown config key\(s\) \['alpah'\]"):
        load_config(tmp_path / "bad.yaml")


def test_quiet_silences_progress_but_never_the_data_warnings(capsys):
    x = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    y = np.arange(40) % 3
    is_clean = (np.arange(40) < 36) & (y != 2)  # class 2 has no clean example; 24 clean, 16 noisy
    data = LabelledSet(
        images=x,
        classes=["a", "b", "c"],
        noisy=one_hot(y, 3),
        clean=one_hot(y, 3),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )
    fit(
        data,
        TrainConfig(scheme="frozen", backbone_steps=0, steps=3, batch_size=8, hidden=4, quiet=True, val_fraction=0.0),
    )
    captured = capsys.readouterr()
    assert "1 of 3 classes have no clean example (['c'])" in captured.err
    assert "is smaller than the clean set" in captured.err
    assert captured.out == ""

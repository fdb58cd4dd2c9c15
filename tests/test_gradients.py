"""Where the paper's losses may and may not send gradient (sec. 3.2-3.3)."""

import numpy as np
import torch

from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.methods import Batch, NoiseRegularization
from noisereg.train import fit


def _batch(n_clean: int, n_noisy: int, k: int = 3, d: int = 6) -> Batch:
    n = n_clean + n_noisy
    targets = torch.from_numpy(one_hot(np.arange(n) % k, k))
    return Batch(torch.randn(n, d), targets, torch.ones(n, k), torch.arange(n) < n_clean)


def _grads(model: torch.nn.Module, loss: torch.Tensor) -> dict[str, float]:
    model.zero_grad()
    loss.backward()
    return {n: float(p.grad.abs().sum()) if p.grad is not None else 0.0 for n, p in model.named_parameters()}


def test_l_clean_never_reaches_the_residual_net():
    m = NoiseRegularization(6, 3, hidden=4)
    b = _batch(4, 4)
    out = m(b.x, b)
    clean_only = m.alpha * torch.nn.functional.binary_cross_entropy_with_logits(
        m(b.x)["logits"][b.is_clean], b.targets[b.is_clean]
    )
    g = _grads(m, clean_only)
    assert all(v == 0 for n, v in g.items() if n.startswith("residual_net"))
    assert all(v > 0 for n, v in g.items() if n.startswith("clean_net"))
    # and the total loss on clean-only batches (g-alone) leaves the residual net untouched too
    g = _grads(m, m(b.x[:4], Batch(b.x[:4], b.targets[:4], b.mask[:4], b.is_clean[:4]))["loss"])
    assert all(v == 0 for n, v in g.items() if n.startswith("residual_net"))
    assert out["l_clean"] > 0 and out["l_noise"] > 0


def test_l_noise_reaches_both_heads():
    m = NoiseRegularization(6, 3, hidden=4)
    b = _batch(0, 6)
    g = _grads(m, m(b.x, b)["loss"])
    assert all(v > 0 for v in g.values())


def test_frozen_scheme_leaves_the_backbone_unchanged():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    images = torch.rand(60, 1, 8, 8)
    is_clean = np.arange(60) % 5 == 0
    data = LabelledSet(
        images=images,
        classes=["a", "b", "c"],
        noisy=one_hot(y, 3),
        clean=one_hot(y, 3),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )
    cfg = TrainConfig(
        scheme="frozen", backbone="small-cnn", backbone_steps=3, steps=5, image_size=8, hidden=8, quiet=True
    )
    stage_one = fit(data, cfg.replace(method="noisy")).model
    before = {k: v.clone() for k, v in stage_one.backbone.state_dict().items()}
    result = fit(data, cfg, stage_one=stage_one)
    assert result.model.backbone is stage_one.backbone
    for k, v in result.model.backbone.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    assert not any(p.requires_grad for p in result.model.backbone.parameters())

"""Meta-Weight-Net (Shu, Xie, Yi, Zhao, Zhou, Xu, Meng, NeurIPS 2019): per-sample loss weights learned by
meta-learning on a small trusted set (``mw-net``).

The classifier f(x; w) (a head like the clean net: Linear -> activation -> Linear) learns from the noisy
labels with weights V(l_i; theta) given by the weight net V, an MLP 1 -> 100 -> 1 with a sigmoid on
each sample's loss l_i. Every training step (Algorithm 1 of the paper):

1. virtual step: w'(theta) = w - eta * grad_w (1/n) sum_i V(l_i(w); theta) l_i(w) on the noisy rows;
2. meta step: theta moves along -grad_theta of the loss of f(.; w'(theta)) on the batch's clean rows
   (the meta data), differentiated through the virtual step;
3. actual step: w moves along -grad_w (1/n) sum_i V(l_i(w); theta) l_i(w), weights held fixed.

The virtual step runs the head functionally (``torch.func.functional_call``) on detached copies of its
weights and of the features, so the meta loss reaches theta only; steps 2 and 3 are one backward
pass of ``loss = meta loss + weighted loss``, taken by the trainer's optimizer (Adam: the
meta-gradient's scale, set by eta, does not matter, its direction does). The authors' code updates
theta before computing step 3's weights; here step 3 uses theta of the same step (a one-step lag).

Single-label data uses the softmax cross-entropy of each image, as in the paper; multi-label data the
binary cross-entropy of each (image, class) entry, each entry weighted on its own. As in the paper the
clean rows serve as meta data only; the classifier does not train on them directly.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..models.heads import make_head
from .base import PAPER_CLEAN_RATIO, Batch, Method, masked_bce


class WeightNet(nn.Module):
    """V(l; theta): a loss value -> its weight in (0, 1); MLP 1 -> hidden -> 1 (the paper's 100)."""

    def __init__(self, hidden: int = 100) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        """Weights of the same shape as ``losses`` (any shape)."""
        return torch.sigmoid(self.net(losses.unsqueeze(-1).float())).squeeze(-1)


def normalised_mean(weights: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    """sum_i w_i l_i / sum_i w_i: the weighted loss with the weights normalised over the batch, as in the
    authors' code; without it the meta step learns to raise every weight (a larger virtual step lowers the
    clean loss early on) and the weights saturate instead of ranking the samples."""
    return (weights * losses).sum() / weights.sum().clamp_min(1e-8)


class MetaWeightNet(Method):
    """A head trained on noisy labels with weights from a weight net meta-learned on the clean rows.

    Args:
        hidden, activation: the classifier head's width and activation.
        meta_step: eta, the virtual SGD step of the meta step. The paper uses the classifier's SGD rate
            (0.1); with the trainer's Adam steps, 1.0 gives a virtual step of a comparable effect: at 0.1
            the meta-gradient is too weak against its noise and the weight net learned to raise the
            weight of high-loss samples (its ranking of the wrong labels of tests/test_methods.py's task
            fell below chance; at 1.0 it is well above it).
        clean_ratio: clean (meta) share of each batch.
    """

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        *,
        hidden: int = 256,
        activation: str = "sigmoid",
        meta_step: float = 1.0,
        clean_ratio: float = PAPER_CLEAN_RATIO,
    ) -> None:
        super().__init__()
        self.classifier = make_head(feature_dim, hidden, num_classes, activation)
        self.weight_net = WeightNet()
        self.meta_step, self.clean_ratio = meta_step, clean_ratio
        self.register_buffer("multi_label", torch.zeros((), dtype=torch.bool))  # the loss form, saved with it

    @property
    def single_label(self) -> bool:
        return not bool(self.multi_label)

    def check_data(self, data: Any, where: str) -> None:
        data.require(clean=True, noisy=True, where=where)
        self.multi_label.fill_(not data.is_single_label)  # the loss form follows the data: CE per image, BCE per entry
        super().check_data(data, where)

    def losses(
        self, logits: torch.Tensor, targets: torch.Tensor, pos_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-sample losses: (N,) cross-entropy (single-label) or (N, K) binary cross-entropy entries
        (positives weighed by ``pos_weight``)."""
        if self.single_label:
            return -(targets * F.log_softmax(logits.float(), 1)).sum(1)
        return F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="none", pos_weight=pos_weight)

    def label_trust(self, outputs: dict[str, torch.Tensor], given: torch.Tensor) -> torch.Tensor | None:
        """(N, K) the weight V would give each label entry: single-label, the weight of the image's loss were
        class k its label; multi-label, the weight of each given entry's loss."""
        z = outputs["logits"].float()
        with torch.no_grad():
            if self.single_label:
                return self.weight_net(-F.log_softmax(z, 1))
            return self.weight_net(F.binary_cross_entropy_with_logits(z, given.float(), reduction="none"))

    def meta_loss(self, features: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Steps 1-2: the clean rows' loss after a virtual weighted step; differentiable in theta only."""
        clean, noisy = batch.is_clean, ~batch.is_clean
        x = features.detach().float()
        weights = {k: v.detach().requires_grad_(True) for k, v in self.classifier.named_parameters()}
        z_noisy = functional_call(self.classifier, weights, (x[noisy],))
        losses = self.losses(z_noisy, batch.targets[noisy], batch.pos_weight)
        inner = normalised_mean(self.weight_net(losses.detach()), losses)
        grads = torch.autograd.grad(inner, list(weights.values()), create_graph=True)
        fast = {k: w - self.meta_step * g for (k, w), g in zip(weights.items(), grads)}
        z = functional_call(self.classifier, fast, (x[clean],))
        if self.single_label:
            return self.losses(z, batch.targets[clean]).mean()
        return masked_bce(z, batch.targets[clean], batch.mask[clean], batch.pos_weight)

    def forward(self, features: torch.Tensor, batch: Batch | None = None) -> dict[str, torch.Tensor]:
        logits = self.classifier(features)
        out = {"logits": logits}
        if batch is None:
            return out
        noisy = ~batch.is_clean
        l_meta = self.meta_loss(features, batch) if batch.is_clean.any() and noisy.any() else logits.sum() * 0
        losses = self.losses(logits[noisy], batch.targets[noisy], batch.pos_weight)
        with torch.no_grad():
            weights = self.weight_net(losses)
        l_weighted = normalised_mean(weights, losses) if losses.numel() else logits.sum() * 0  # step 3
        out.update(loss=l_weighted + l_meta, l_weighted=l_weighted.detach(), l_meta=l_meta.detach())
        return out

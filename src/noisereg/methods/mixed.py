"""Clean + noisy mixed: the clean net's head trained on every label it is given, clean and noisy alike.

The reference a practitioner reaches for first (pool the clean set with the noisy one and train one
classifier), with the very head of the paper's clean net F_c (Linear -> activation -> Linear), so that
it differs from ``proposed`` only in having no residual net and no separate L_clean. It is also the
classifier that cleanlab's CleanLearning wraps in the benchmark, so both see the same head.
"""

from __future__ import annotations

import torch

from ..models.heads import CleanNet
from .base import PAPER_CLEAN_RATIO, Batch, Method, masked_bce


class MixedLabels(Method):
    """logits = F_c(f(x)), BCE on the batch's labels (clean rows: clean labels; the rest: noisy)."""

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        *,
        hidden: int = 256,
        activation: str = "sigmoid",
        clean_ratio: float = PAPER_CLEAN_RATIO,
    ) -> None:
        super().__init__()
        self.clean_net = CleanNet(feature_dim, hidden, num_classes, activation)
        self.clean_ratio = clean_ratio

    def forward(self, features: torch.Tensor, batch: Batch | None = None) -> dict[str, torch.Tensor]:
        logits = self.clean_net(features)
        out = {"logits": logits}
        if batch is not None:
            out["loss"] = masked_bce(logits, batch.targets, batch.mask, batch.pos_weight)
        return out

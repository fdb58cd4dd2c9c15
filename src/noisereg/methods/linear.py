"""Backbone (Noisy): one linear classifier on f(x) trained on every noisy label (paper sec. 4.4).

With the frozen scheme this is stage one, the fine-tuning of the backbone on the noisy labels.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Batch, Method, masked_bce


class LinearClassifier(Method):
    """logits = W f(x) + b, trained with BCE on whatever labels the batch carries."""

    def __init__(self, feature_dim: int, num_classes: int, *, clean_ratio: float = 0.0) -> None:
        super().__init__()
        self.fc = nn.Linear(feature_dim, num_classes)
        self.clean_ratio = clean_ratio

    def forward(self, features: torch.Tensor, batch: Batch | None = None) -> dict[str, torch.Tensor]:
        logits = self.fc(features)
        out = {"logits": logits}
        if batch is not None:
            out["loss"] = masked_bce(logits, batch.targets, batch.mask, batch.pos_weight)
        return out

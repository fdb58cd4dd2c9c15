"""Veit et al., CVPR 2017: a label cleaning network learns to map (image features, noisy labels) to
clean labels on the clean images that also have noisy labels; the classifier learns from clean
labels where they exist and from the cleaned labels elsewhere.

``veit-wp`` pre-trains the cleaner on the paired clean set, then trains both jointly; ``veit-tj``
trains them jointly from the start.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import PAPER_CLEAN_RATIO, Batch, Method, Phase, masked_bce


class LabelCleaningNetwork(nn.Module):
    """cleaned = clip(y + W [P_f f ; P_y y], 0, 1): a residual correction of the noisy label vector y."""

    def __init__(self, feature_dim: int, num_classes: int, hidden: int) -> None:
        super().__init__()
        self.project_features = nn.Linear(feature_dim, hidden)
        self.project_labels = nn.Linear(num_classes, hidden)
        self.residual = nn.Linear(2 * hidden, num_classes)

    def forward(self, features: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
        z = torch.cat([self.project_features(features), self.project_labels(noisy)], dim=1)
        return (noisy + self.residual(z)).clamp(0.0, 1.0)


class LabelCleaning(Method):
    """Classifier (linear, sigmoid) + label cleaning network, trained with alpha-free sum of losses."""

    def __init__(
        self, feature_dim: int, num_classes: int, *, hidden: int, pretrain: bool, clean_ratio: float = PAPER_CLEAN_RATIO
    ) -> None:
        super().__init__()
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.cleaner = LabelCleaningNetwork(feature_dim, num_classes, hidden)
        self.pretrain, self.clean_ratio = pretrain, clean_ratio

    def phases(self) -> list[Phase]:
        return ([Phase("cleaner", 1.0, select=False)] if self.pretrain else []) + [Phase("joint", self.clean_ratio)]

    def forward(self, features: torch.Tensor, batch: Batch | None = None) -> dict[str, torch.Tensor]:
        logits = self.classifier(features)
        out = {"logits": logits}
        if batch is None:
            return out
        clean, noisy = batch.is_clean, ~batch.is_clean
        paired = clean & batch.has_noisy
        cleaned = self.cleaner(features, batch.noisy)
        l_cleaner = (cleaned[paired] - batch.targets[paired]).abs().mean() if paired.any() else cleaned.sum() * 0
        if self.phase == "cleaner":
            out.update(loss=l_cleaner, l_cleaner=l_cleaner.detach())
            return out
        pw = batch.pos_weight
        l_class = (
            masked_bce(logits[clean], batch.targets[clean], batch.mask[clean], pw) * clean.float().mean()
            + masked_bce(logits[noisy], cleaned[noisy].detach(), pos_weight=pw) * noisy.float().mean()
        )
        out.update(loss=l_cleaner + l_class, l_cleaner=l_cleaner.detach(), l_classifier=l_class.detach())
        return out


def with_pairs(train: Any, known_clean: np.ndarray | None = None) -> Any:
    """The label cleaning network's training set: the clean images keep their noisy labels too, so they
    carry (noisy, clean) pairs for the cleaner to learn from (rows in neither set, e.g. held out for
    validation, stay out)."""
    return dataclasses.replace(train, has_noisy=train.has_noisy | train.has_clean)

"""The paper's method (sec. 3.2-3.3): a clean net and a residual net on shared features.

c = F_c(f(x)), g = sigmoid(c)            eqs. (1)-(2), the final classifier
r = F_r(f(x)), h = sigmoid(r + c)        eqs. (3)-(4), fits the noisy labels
loss = alpha * L_clean + L_noise         eqs. (5)-(7)
"""
from __future__ import annotations

from typing import Optional

import torch

from ..models.heads import CleanNet, ResidualNet
from .base import Batch, Method, masked_bce


class NoiseRegularization(Method):
    """Clean net + residual net trained jointly; L_clean only reaches the clean net.

    Args:
        feature_dim: D, size of f(x).
        num_classes: K.
        hidden: hidden width of both heads.
        activation: ``sigmoid`` | ``tanh`` | ``relu`` between the two linear layers.
        alpha: weight of L_clean (0.2 on MS COCO / Clothing1M, 0.1 on OpenImages).
        clean_ratio: share of clean samples per batch (0.1 is the paper's 1:9).
    """

    def __init__(self, feature_dim: int, num_classes: int, *, hidden: int = 256, activation: str = "sigmoid",
                 alpha: float = 0.2, clean_ratio: float = 0.1) -> None:
        super().__init__()
        self.clean_net = CleanNet(feature_dim, hidden, num_classes, activation)
        self.residual_net = ResidualNet(feature_dim, hidden, num_classes, activation)
        self.alpha = alpha
        self.clean_ratio = clean_ratio

    def forward(self, features: torch.Tensor, batch: Optional[Batch] = None) -> dict[str, torch.Tensor]:
        c = self.clean_net(features)          # eq. (1)
        r = self.residual_net(features)       # eq. (3)
        out = {"logits": c, "h_logits": r + c}  # g = sigmoid(c), eq. (2); h = sigmoid(r + c), eq. (4)
        if batch is None:
            return out
        clean, noisy = batch.is_clean, ~batch.is_clean
        l_clean = masked_bce(c[clean], batch.targets[clean], batch.mask[clean])    # eq. (6)
        l_noise = masked_bce((r + c)[noisy], batch.targets[noisy])                 # eq. (5)
        out.update(loss=self.alpha * l_clean + l_noise, l_clean=l_clean.detach(), l_noise=l_noise.detach())
        return out

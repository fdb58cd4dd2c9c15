"""What every method shares: the batch it trains on, the loss it returns, the masked BCE."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Batch:
    """One mixed batch. Rows with ``is_clean`` carry clean labels v, the others noisy labels y.

    Attributes:
        x: images (N, C, H, W) or cached features (N, D).
        targets: (N, K) float multi-hot labels.
        mask: (N, K) float, 1 where the label entry is known (clean rows may be partial).
        is_clean: (N,) bool, True for rows drawn from D_c.
    """

    x: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    is_clean: torch.Tensor

    def to(self, device: torch.device) -> "Batch":
        nb = device.type == "cuda"
        return Batch(*(t.to(device, non_blocking=nb) for t in (self.x, self.targets, self.mask, self.is_clean)))


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Binary cross-entropy from logits (numerically stable), averaged over known entries.

    Entries where ``mask`` is 0 contribute nothing; with no known entry the loss is an exact 0
    that still belongs to the graph, so a batch without clean rows trains the rest as usual.
    """
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if mask is None:
        return loss.mean() if loss.numel() else logits.sum() * 0.0
    known = mask.sum()
    return (loss * mask).sum() / known.clamp_min(1.0)


class Method(nn.Module):
    """A trainable part on top of features f(x).

    ``forward(features, batch)`` returns ``{"logits": final classifier logits (N, K)}`` and, when a
    batch with targets is given, ``"loss"`` plus named parts of it for logging. Class attributes say
    how the sampler mixes each batch and which sets the method needs.
    """

    clean_ratio: float = 0.1
    needs_clean: bool = True
    needs_noisy: bool = True

    def forward(self, features: torch.Tensor, batch: Optional[Batch] = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

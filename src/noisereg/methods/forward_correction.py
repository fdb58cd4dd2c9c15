"""Loss correction with a noise transition matrix, for single-label data (softmax).

- ``forward`` / ``forward-ft``: Patrini et al., CVPR 2017. A classifier trained on the noisy labels
  estimates T[i, j] = p(noisy j | true i) from anchor points (for class i, the sample whose
  p(i | x) is at the 97th percentile); a fresh classifier is then trained with the forward-corrected
  loss -log((softmax(z) T)[y]); ``forward-ft`` fine-tunes it on the clean set afterwards.
- ``glc``: Gold Loss Correction, Hendrycks et al., NeurIPS 2018. C[i, j] is the noisy model's mean
  p(j | x) over the trusted (clean) samples of class i; the fresh classifier is trained with the
  corrected loss on noisy samples and the plain loss on clean ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import PAPER_CLEAN_RATIO, Batch, Method, Phase, PhaseContext


def anchor_transition_matrix(probs: np.ndarray, *, quantile: float = 0.97) -> np.ndarray:
    """Patrini's estimator: row i of T is p(. | x_i*) at the anchor x_i* of class i.

    Args:
        probs: (N, K) softmax outputs of a model trained on the noisy labels.
        quantile: the anchor is the sample whose p(i | x) is at this quantile (1.0 = the argmax);
            below 1 it skips outliers, as in the authors' code.
    """
    k = probs.shape[1]
    t = np.zeros((k, k))
    for i in range(k):
        col = probs[:, i]
        thresh = np.quantile(col, quantile, method="higher")
        anchor = np.flatnonzero(col >= thresh)[np.argmin(col[col >= thresh])]
        t[i] = probs[anchor]
    return t / t.sum(1, keepdims=True)


def gold_transition_matrix(probs: np.ndarray, clean_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """GLC's estimator: C[i] = mean noisy-model p(. | x) over trusted samples of true class i
    (the identity row for a class without trusted samples)."""
    c = np.eye(num_classes)
    for i in range(num_classes):
        rows = clean_labels == i
        if rows.any():
            c[i] = probs[rows].mean(0)
    return c / c.sum(1, keepdims=True)


def soft_ce(log_probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of (N, K) log-probabilities against (N, K) target distributions (0 for no rows)."""
    if not len(targets):
        return log_probs.sum() * 0.0
    return -(targets * log_probs).sum(1).mean()


class TransitionCorrected(Method):
    """A linear softmax classifier trained in phases: noisy, corrected (with T), optionally fine-tune.

    Args:
        estimator: ``anchor`` (Patrini forward) or ``gold`` (GLC, uses the clean set as trusted data).
        finetune: add a last phase of plain cross-entropy on the clean set (``forward-ft``).
        clean_ratio: clean share of GLC's corrected phase batches.
    """

    g_form = "softmax"  # its logits are log-softmax outputs

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        *,
        estimator: str,
        finetune: bool = False,
        clean_ratio: float = PAPER_CLEAN_RATIO,
    ) -> None:
        super().__init__()
        self.fc = nn.Linear(feature_dim, num_classes)
        self.register_buffer("transition", torch.eye(num_classes))  # saved with the checkpoint
        self.estimator, self.finetune, self.clean_ratio = estimator, finetune, clean_ratio

    def phases(self) -> list[Phase]:
        corrected = Phase("corrected", self.clean_ratio if self.estimator == "gold" else 0.0)
        # the noisy model estimates p(noisy label | x): not chosen by clean validation accuracy
        return [Phase("noisy", 0.0, select=False), corrected] + ([Phase("fine-tune", 1.0)] if self.finetune else [])

    def check_data(self, data: Any, where: str) -> None:
        if self.estimator == "gold":
            data.require(clean=True, noisy=True, where=where)
        super().check_data(data, where)

    def start_phase(self, name: str, ctx: PhaseContext) -> None:
        super().start_phase(name, ctx)
        if name != "corrected":
            return
        data = ctx.data
        if self.estimator == "anchor":
            probs = ctx.logits(data.noisy_indices).exp().numpy()
            t = anchor_transition_matrix(probs)
        else:
            rows = data.clean_indices
            t = gold_transition_matrix(
                ctx.logits(rows).exp().numpy(), data.clean_rows(rows).argmax(1), data.num_classes
            )
        self.transition.copy_(torch.as_tensor(t, dtype=self.transition.dtype))
        self.fc.reset_parameters()  # a fresh classifier learns through the correction

    def forward(self, features: torch.Tensor, batch: Batch | None = None) -> dict[str, torch.Tensor]:
        log_p = F.log_softmax(self.fc(features).float(), dim=1)
        out = {"logits": log_p}  # log-probabilities: sigmoid of them ranks like the probabilities
        if batch is None:
            return out
        clean, noisy = batch.is_clean, ~batch.is_clean
        if self.phase == "corrected":
            log_noisy = torch.log((log_p.exp() @ self.transition).clamp_min(1e-12))
            out["loss"] = (
                soft_ce(log_noisy[noisy], batch.targets[noisy]) * noisy.float().mean()
                + soft_ce(log_p[clean], batch.targets[clean]) * clean.float().mean()
            )
        else:
            out["loss"] = soft_ce(log_p, batch.targets)
        return out

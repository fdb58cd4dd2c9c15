"""The paper's method (sec. 3.2-3.3): a clean net and a residual net on shared features.

c = F_c(f(x)), g = sigmoid(c)            eqs. (1)-(2), the final classifier
r = F_r(f(x)), h = sigmoid(r + c)        eqs. (3)-(4), fits the noisy labels
loss = alpha * L_clean + L_noise         eqs. (5)-(7)

Two options the paper leaves open, measured against its form as ``proposed-<variant>``:

- ``form="softmax"`` (single-label): g = softmax(c), h = softmax(r + c), cross-entropy losses;
- ``correct=True`` (single-label): a second phase adds Gold Loss Correction on the clean net,
  L_corr = CE(softmax(c) T, y) on the noisy rows, with T[i] = mean of h's class probabilities over
  the clean images of class i: the residual net's own model of the noise corrects g's noisy loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.heads import CleanNet, ResidualNet
from .base import PAPER_CLEAN_RATIO, Batch, Method, Phase, PhaseContext, masked_bce
from .forward_correction import gold_transition_matrix, soft_ce


class NoiseRegularization(Method):
    """Clean net + residual net trained jointly; L_clean only reaches the clean net.

    Args:
        feature_dim: D, size of f(x).
        num_classes: K.
        hidden: hidden width of both heads.
        activation: ``sigmoid`` | ``tanh`` | ``relu`` between the two linear layers.
        alpha: weight of L_clean (0.2 on MS COCO / Clothing1M, 0.1 on OpenImages).
        clean_ratio: share of clean samples per batch (``PAPER_CLEAN_RATIO``, 0.1, is the paper's 1:9).
        form: ``sigmoid`` (the paper: per-class BCE) or ``softmax`` (single-label cross-entropy).
        correct: add the corrected loss on g in a second phase (see the module docstring).
    """

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        *,
        hidden: int = 256,
        activation: str = "sigmoid",
        alpha: float = 0.2,
        clean_ratio: float = PAPER_CLEAN_RATIO,
        form: str = "sigmoid",
        correct: bool = False,
    ) -> None:
        super().__init__()
        self.clean_net = CleanNet(feature_dim, hidden, num_classes, activation)
        self.residual_net = ResidualNet(feature_dim, hidden, num_classes, activation)
        self.alpha, self.clean_ratio, self.form, self.correct = alpha, clean_ratio, form, correct
        self.g_form = "softmax" if form == "softmax" else "sigmoid"
        if correct:
            self.register_buffer("transition", torch.eye(num_classes))  # saved with the checkpoint

    def phases(self) -> list[Phase]:
        return [Phase("train", self.clean_ratio)] + ([Phase("corrected", self.clean_ratio)] if self.correct else [])

    def start_phase(self, name: str, ctx: PhaseContext) -> None:
        super().start_phase(name, ctx)
        if name == "corrected":  # T from h, the residual net's model of the noisy labels, on D_c
            rows = ctx.data.clean_indices
            h = ctx.outputs(rows)["h_logits"]
            probs = F.softmax(h, 1) if self.form == "softmax" else torch.sigmoid(h)
            probs = probs / probs.sum(1, keepdim=True).clamp_min(1e-12)
            t = gold_transition_matrix(probs.numpy(), ctx.data.clean_rows(rows).argmax(1), ctx.data.num_classes)
            self.transition.copy_(torch.as_tensor(t, dtype=self.transition.dtype))

    def forward(self, features: torch.Tensor, batch: Batch | None = None) -> dict[str, torch.Tensor]:
        c = self.clean_net(features)  # eq. (1)
        r = self.residual_net(features)  # eq. (3)
        if self.form == "softmax":  # log-probabilities: sigmoid of them ranks like the probabilities
            out = {"logits": F.log_softmax(c.float(), 1), "h_logits": F.log_softmax((r + c).float(), 1)}
        else:
            out = {"logits": c, "h_logits": r + c}  # g = sigmoid(c), eq. (2); h = sigmoid(r + c), eq. (4)
        if batch is None:
            return out
        clean, noisy = batch.is_clean, ~batch.is_clean
        if self.form == "softmax":
            l_clean = soft_ce(out["logits"][clean], batch.targets[clean])
            l_noise = soft_ce(out["h_logits"][noisy], batch.targets[noisy])
        else:
            l_clean = masked_bce(c[clean], batch.targets[clean], batch.mask[clean], batch.pos_weight)  # eq. (6)
            l_noise = masked_bce((r + c)[noisy], batch.targets[noisy], pos_weight=batch.pos_weight)  # eq. (5)
        loss = self.alpha * l_clean + l_noise  # eq. (7)
        out.update(l_clean=l_clean.detach(), l_noise=l_noise.detach())
        if self.correct and self.phase == "corrected":
            p_noisy = F.softmax(c[noisy].float(), 1) @ self.transition
            l_corr = soft_ce(torch.log(p_noisy.clamp_min(1e-12)), batch.targets[noisy])
            loss = loss + l_corr
            out["l_corrected"] = l_corr.detach()
        out["loss"] = loss
        return out

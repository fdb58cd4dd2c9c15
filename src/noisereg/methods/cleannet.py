"""CleanNet (Lee, He, Zhang, Yang, CVPR 2018): label verification against a reference set, its
verification scores weighting the classifier's loss (``cleannet``; the paper's CleanNet-w_soft).

- reference set: for each class c, ``references`` k-means centres of the features of the clean images of
  class c (the CleanNet paper clusters noisy images to avoid human labelling; a trusted subset gives clean
  references directly);
- query encoder f_q: phi_q = P(ReLU(W_q f(x))); reference-set encoder f_s: each reference v_i gives
  u_i = ReLU(W_s v_i), attention a = softmax_i(w^T tanh(A u_i)) pools them, phi_s(c) = P(sum_i a_i u_i);
  the last projection P is shared, so both embeddings live in one space;
- verification score s(x, y) = cos(phi_q(x), phi_s(y)): is label y right for image x?
- L_verify = l (1 - s) + (1 - l) max(0, s - margin), l = 1 for a correct label (the paper's L_sup);
  positive pairs are the clean labels, negative pairs the clean images' own wrong noisy labels where
  they have one, else the most similar wrong class (a hard negative, like the confusions of real noise);
- the classifier (linear, softmax) learns from every clean label and from the noisy labels with
  per-sample weight w = max(0, s(x, y)), the paper's soft weighting.

Phases: ``verify`` trains the verification network alone on the clean set (it does not train g);
``classify`` trains the classifier with the weights while the verifier keeps learning on the clean rows.
Single-label only, as in its paper.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import PAPER_CLEAN_RATIO, Batch, Method, Phase, PhaseContext


class ReferenceVerifier(nn.Module):
    """The verification network: query encoder, attentive reference-set encoder, shared projection.

    Buffers ``reference`` (K, m, D) and ``reference_mask`` (K, m) hold the reference set; they are
    saved with the checkpoint, so a loaded model verifies exactly as it did in training.
    """

    def __init__(self, feature_dim: int, num_classes: int, hidden: int, references: int) -> None:
        super().__init__()
        self.query = nn.Linear(feature_dim, hidden)
        self.reference_embed = nn.Linear(feature_dim, hidden)
        self.attention = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.project = nn.Linear(hidden, hidden)  # shared by f_q and f_s
        self.register_buffer("reference", torch.zeros(num_classes, references, feature_dim))
        self.register_buffer("reference_mask", torch.zeros(num_classes, references, dtype=torch.bool))

    def class_embeddings(self) -> torch.Tensor:
        """phi_s for every class (K, hidden): attention-pooled embedded references."""
        u = F.relu(self.reference_embed(self.reference))  # (K, m, H)
        scores = self.attention(u).squeeze(-1).masked_fill(~self.reference_mask, float("-inf"))
        a = torch.softmax(scores, dim=1).nan_to_num(0.0)  # a class without references: 0
        return self.project((a.unsqueeze(-1) * u).sum(1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Verification scores s(x, c) = cos(phi_q(x), phi_s(c)) of every class (N, K), in [-1, 1]."""
        q = self.project(F.relu(self.query(features)))
        return F.normalize(q, dim=1) @ F.normalize(self.class_embeddings(), dim=1).T


def kmeans_references(
    features: np.ndarray, labels: np.ndarray, num_classes: int, references: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(K, m, D) reference features and their (K, m) mask: per class, ``m`` k-means centres of its clean
    images' features (all of them when a class has at most ``m``)."""
    from sklearn.cluster import KMeans

    ref = np.zeros((num_classes, references, features.shape[1]), np.float32)
    mask = np.zeros((num_classes, references), bool)
    for c in range(num_classes):
        x = features[labels == c]
        if len(x) > references:
            x = KMeans(n_clusters=references, n_init=1, random_state=seed).fit(x).cluster_centers_
        ref[c, : len(x)], mask[c, : len(x)] = x, True
    return ref, mask


def verification_loss(scores: torch.Tensor, labels: torch.Tensor, correct: torch.Tensor, margin: float) -> torch.Tensor:
    """The paper's L_sup on the scores (N, K) of pairs (image, ``labels``) with ``correct`` in {0, 1}."""
    s = scores.gather(1, labels[:, None]).squeeze(1)
    return (correct * (1 - s) + (1 - correct) * (s - margin).clamp_min(0)).mean()


class CleanNetWeighting(Method):
    """A linear softmax classifier whose noisy-label loss is weighted by CleanNet's verification scores.

    Args:
        hidden: width of the verification embedding.
        references: reference images (k-means centres) per class.
        margin: the verification loss's margin for wrong labels.
        clean_ratio: clean share of the ``classify`` phase's batches.
        seed: seeds the k-means of the reference set.
    """

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        *,
        hidden: int = 256,
        references: int = 32,
        margin: float = 0.1,
        clean_ratio: float = PAPER_CLEAN_RATIO,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.verifier = ReferenceVerifier(feature_dim, num_classes, hidden, references)
        self.references, self.margin, self.clean_ratio, self.seed = references, margin, clean_ratio, seed
        self._emit_features = False

    def phases(self) -> list[Phase]:
        return [Phase("verify", 1.0, select=False), Phase("classify", self.clean_ratio)]

    def check_data(self, data: Any, where: str) -> None:
        data.require(clean=True, noisy=True, where=where)
        super().check_data(data, where)

    def start_phase(self, name: str, ctx: PhaseContext) -> None:
        super().start_phase(name, ctx)
        if name != "verify":
            return
        rows = ctx.data.clean_indices
        self._emit_features = True
        try:
            features = ctx.outputs(rows)["features"].numpy()
        finally:
            self._emit_features = False
        ref, mask = kmeans_references(
            features, ctx.data.clean_rows(rows).argmax(1), ctx.data.num_classes, self.references, self.seed
        )
        self.verifier.reference.copy_(torch.from_numpy(ref))
        self.verifier.reference_mask.copy_(torch.from_numpy(mask))

    def label_trust(self, outputs: dict[str, torch.Tensor], given: torch.Tensor) -> torch.Tensor | None:
        """(N, K) trust in each class as the image's label: the verification score mapped to [0, 1]."""
        return (outputs["verification"] + 1) / 2

    def forward(self, features: torch.Tensor, batch: Batch | None = None) -> dict[str, torch.Tensor]:
        log_p = F.log_softmax(self.classifier(features).float(), dim=1)
        scores = self.verifier(features.float())
        out = {"logits": log_p, "verification": scores}  # log-probabilities: sigmoid ranks like probabilities
        if self._emit_features:
            out["features"] = features
        if batch is None:
            return out
        clean, noisy = batch.is_clean, ~batch.is_clean
        l_verify = self._verify_loss(scores[clean], batch, clean)
        if self.phase == "verify":
            out.update(loss=l_verify, l_verify=l_verify.detach())
            return out
        given = batch.targets[noisy].argmax(1)
        w = scores[noisy].detach().gather(1, given[:, None]).squeeze(1).clamp_min(0)  # w_soft
        per_row = -(batch.targets * log_p).sum(1)
        weights = torch.ones_like(per_row).masked_scatter(noisy, w)
        l_class = (weights * per_row).sum() / weights.sum().clamp_min(1e-6)
        out.update(loss=l_class + l_verify, l_classifier=l_class.detach(), l_verify=l_verify.detach())
        return out

    def _verify_loss(self, scores: torch.Tensor, batch: Batch, clean: torch.Tensor) -> torch.Tensor:
        """L_sup on the clean rows: their clean label (positive) and one wrong label each (negative)."""
        if not len(scores):
            return scores.sum() * 0.0
        truth = batch.targets[clean].argmax(1)
        hard = scores.detach().scatter(1, truth[:, None], float("-inf")).argmax(1)
        negative = hard
        if batch.noisy is not None and batch.has_noisy is not None:
            own = batch.noisy[clean].argmax(1)
            real = batch.has_noisy[clean] & (own != truth)
            negative = torch.where(real, own, hard)
        ones = torch.ones_like(truth, dtype=scores.dtype)
        return (
            verification_loss(scores, truth, ones, self.margin)
            + verification_loss(scores, negative, torch.zeros_like(ones), self.margin)
        ) / 2

"""What every method shares: the batch it trains on, the loss it returns, the masked BCE."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.sampler import MixedBatchSampler

PAPER_CLEAN_RATIO = 0.1  # the paper's batches: clean:noisy 1:9 (sec. 3.3), for a method or config that sets none


@dataclass
class Batch:
    """One mixed batch. Rows with ``is_clean`` carry clean labels v, the others noisy labels y.

    Attributes:
        x: images (N, C, H, W) or cached features (N, D).
        targets: (N, K) float multi-hot labels.
        mask: (N, K) float, 1 where the label entry is known (clean rows may be partial).
        is_clean: (N,) bool, True for rows drawn from D_c.
        noisy: optional (N, K) noisy labels of every row (zeros where absent), for methods that use
            clean and noisy labels of the same image (label cleaning).
        has_noisy: optional (N,) bool, which rows have a noisy label.
        pos_weight: optional (K,) weight of each class's positive labels in every BCE (``--pos-weight``).
    """

    x: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    is_clean: torch.Tensor
    noisy: torch.Tensor | None = None
    has_noisy: torch.Tensor | None = None
    pos_weight: torch.Tensor | None = None

    def to(self, device: torch.device) -> Batch:
        nb = device.type == "cuda"
        return Batch(
            *(
                None if t is None else t.to(device, non_blocking=nb)
                for t in (self.x, self.targets, self.mask, self.is_clean, self.noisy, self.has_noisy, self.pos_weight)
            )
        )


def masked_bce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Binary cross-entropy from logits (numerically stable), averaged over known entries.

    Entries where ``mask`` is 0 contribute nothing; with no known entry the loss is an exact 0
    that still belongs to the graph, so a batch without clean rows trains the rest as usual.
    ``pos_weight`` (K,) multiplies each class's positive term (rare classes of a multi-label set).
    """
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none", pos_weight=pos_weight)
    if mask is None:
        return loss.mean() if loss.numel() else logits.sum() * 0.0
    known = mask.sum()
    return (loss * mask).sum() / known.clamp_min(1.0)


@dataclass(frozen=True)
class Phase:
    """One training phase of a method: its name, the clean share of its batches, and whether its
    weights are chosen by validation (False for a phase that does not train the classifier g).

    Most methods have one phase; two-step baselines (fine-tuning, loss correction) have several,
    run one after the other by the trainer, each for ``steps`` steps, with ``Method.start_phase``
    called before each. The phase builds its own batches (``sampler``): the mix is the method's fact.
    """

    name: str
    clean_ratio: float
    select: bool = True

    def sampler(
        self,
        data: Any,
        *,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        clean_weights: np.ndarray | None = None,
        noisy_weights: np.ndarray | None = None,
    ) -> MixedBatchSampler:
        """The phase's batches over ``data`` (a ``LabelledSet``): ``clean_ratio`` of each drawn from D_c, the rest
        from D_n (1:9 at the paper's 0.1), seeded, this rank's block of the global batch; ``*_weights`` per row
        of D_c / D_n draw some rows more often (``--sampler balanced``)."""
        return MixedBatchSampler(
            data.clean_indices,
            data.noisy_indices,
            batch_size=batch_size,
            clean_ratio=self.clean_ratio,
            seed=seed,
            rank=rank,
            world_size=world_size,
            clean_weights=clean_weights,
            noisy_weights=noisy_weights,
        )


@dataclass
class PhaseContext:
    """What ``Method.start_phase`` may look at: the training set and the current model's outputs for
    any rows of it (``outputs(rows)``: the method's ``forward`` dict, e.g. ``logits`` of g and
    ``h_logits``), e.g. to estimate a transition matrix."""

    data: Any
    outputs: Callable[[np.ndarray], dict[str, torch.Tensor]]

    def logits(self, rows: np.ndarray) -> torch.Tensor:
        """The final classifier's logits for ``rows``."""
        return self.outputs(rows)["logits"]


class Method(nn.Module):
    """A trainable part on top of features f(x).

    ``forward(features, batch)`` returns ``{"logits": final classifier logits (N, K)}`` (``probabilities``
    turns them into g) and, when a
    batch with targets is given, ``"loss"`` plus named parts of it for logging. ``phases()`` says how
    the sampler mixes each batch; ``check_data`` refuses data the method cannot use.
    """

    clean_ratio: float = PAPER_CLEAN_RATIO
    phase: str = "train"
    g_form: str = "sigmoid"  # "sigmoid": g = sigmoid(logits); "softmax": the logits are log-probabilities

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """g's class probabilities from its ``logits`` (N, K): sigmoid(c), eq. (2), per class; for a
        softmax method the logits are log-softmax outputs and g = exp of them (rows sum to one)."""
        return logits.exp() if self.g_form == "softmax" else torch.sigmoid(logits)

    def phases(self) -> list[Phase]:
        return [Phase("train", self.clean_ratio)]

    def start_phase(self, name: str, ctx: PhaseContext) -> None:
        """Called before phase ``name`` starts (not when a run resumes inside it)."""
        self.phase = name

    def check_data(self, data: Any, where: str) -> None:
        """Raise ``UserError`` when ``data`` lacks what the phases need (clean set, noisy set, ...)."""
        ratios = [p.clean_ratio for p in self.phases()]
        data.require(clean=any(r > 0 for r in ratios), noisy=any(r < 1 for r in ratios), where=where)

    def label_trust(self, outputs: dict[str, torch.Tensor], given: torch.Tensor) -> torch.Tensor | None:
        """The method's own trust in labels, when it learns one (label verification, sample weights): an
        (N, K) tensor in [0, 1] from its ``outputs`` on N images with ``given`` (N, K) labels, entry k the
        trust in class k as a label of the image (single-label) or in the given entry k (multi-label).
        None: the method learns no such score (label issues then come from its classifiers)."""
        return None

    def forward(self, features: torch.Tensor, batch: Batch | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

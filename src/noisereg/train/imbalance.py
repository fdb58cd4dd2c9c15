"""Class imbalance, two ways: ``--pos-weight auto`` weighs the positive labels of rare classes in every BCE
of a multi-label task; ``--sampler balanced`` draws the rows of a single-label task so that every class
fills the batches equally (any method, any loss)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..config import MAX_POS_WEIGHT, TrainConfig
from ..data.labelset import LabelledSet
from ..data.sampler import MixedBatchSampler
from ..distributed import DistContext
from ..errors import UserError
from ..methods.base import Phase


def auto_pos_weight(data: LabelledSet, cap: float = MAX_POS_WEIGHT) -> torch.Tensor:
    """(K,) float32: each class's negatives / positives among the noisy labels of D_n, at most ``cap``
    (a class without a noisy positive counts one), so a class named on 1% of the images weighs 99."""
    rows = data.has_noisy.astype(np.float32)
    positives = np.asarray(data.noisy.T @ rows, dtype=np.float64).ravel()
    ratio = (rows.sum() - positives) / np.maximum(positives, 1.0)
    return torch.from_numpy(np.minimum(ratio, cap).astype(np.float32))


def balanced_row_weights(labels: Any, rows: np.ndarray, num_classes: int) -> np.ndarray:
    """(len(rows),) the inverse frequency of each row's class among ``rows`` (single-label rows)."""
    if not len(rows):
        return np.empty(0)
    classes = np.asarray(labels[rows].argmax(1)).ravel()
    counts = np.bincount(classes, minlength=num_classes).astype(np.float64)
    return 1.0 / counts[classes]


def pos_weight_for(cfg: TrainConfig, data: LabelledSet) -> torch.Tensor | None:
    """The BCE's per-class positive weight that ``cfg.pos_weight`` asks for (None: every label weighs 1)."""
    if cfg.pos_weight == "none":
        return None
    if data.is_single_label:
        raise UserError(
            "--pos-weight auto is for multi-label data; for single-label class imbalance use --sampler balanced"
        )
    return auto_pos_weight(data)


def sampler_for(cfg: TrainConfig, data: LabelledSet, phase: Phase, ctx: DistContext) -> MixedBatchSampler:
    """The mixed clean:noisy batches of one of the method's phases (its ``Phase.sampler``: the mix is the
    method's), uniform or class-balanced (``cfg.sampler``)."""
    weights: dict[str, np.ndarray | None] = {"clean_weights": None, "noisy_weights": None}
    if cfg.sampler == "balanced":
        if not data.is_single_label:
            raise UserError(
                "--sampler balanced is for single-label data; for rare classes of multi-label data "
                "use --pos-weight auto"
            )
        weights = {
            "clean_weights": balanced_row_weights(data.clean, data.clean_indices, data.num_classes),
            "noisy_weights": balanced_row_weights(data.noisy, data.noisy_indices, data.num_classes),
        }
    return phase.sampler(
        data, batch_size=cfg.batch_size, seed=cfg.seed, rank=ctx.rank, world_size=ctx.world_size, **weights
    )

"""Mixed clean:noisy training batches as the methods see them (``Batch``)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import tee
from typing import Any

import numpy as np
import torch

from ..data.images import Preprocess, iter_inputs
from ..data.labelset import LabelledSet
from ..data.sampler import MixedBatchSampler
from ..methods import Batch


def batch_targets(
    data: LabelledSet, clean: np.ndarray, noisy: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """targets, mask, is_clean, and every row's noisy label with its presence flag (see ``Batch``)."""
    rows = np.concatenate([clean, noisy])
    noisy_labels = data.noisy_rows(rows)
    targets = np.concatenate([data.clean_rows(clean), noisy_labels[len(clean) :]])
    mask = np.concatenate([data.known_rows(clean), np.ones((len(noisy), data.num_classes), dtype=bool)])
    is_clean = np.r_[np.ones(len(clean), bool), np.zeros(len(noisy), bool)]
    return (
        torch.from_numpy(targets),
        torch.from_numpy(mask.astype(np.float32)),
        torch.from_numpy(is_clean),
        torch.from_numpy(noisy_labels),
        torch.from_numpy(data.has_noisy[rows]),
    )


def iter_training_batches(
    data: LabelledSet,
    images: Any,
    pre: Preprocess,
    sampler: MixedBatchSampler,
    steps: range,
    num_workers: int = 0,
    pin: bool = False,
    augment_seed: int | None = None,
    pos_weight: torch.Tensor | None = None,
) -> Iterator[Batch]:
    """Mixed batches for ``steps``: the clean rows first, then the noisy rows.

    Batches are drawn as they are consumed (a phase of a million steps holds none in advance).

    Args:
        images: what the model reads for ``data``'s rows (its images, or their cached features).
        augment_seed: augment images (not features) with ``train_transform``, seeded by
            (``augment_seed``, step, row of the global batch) so that a batch stays a pure function of the
            step, and a rank's block under torchrun is augmented as one process augments those rows.
        pos_weight: (K,) weight of each class's positive labels in the methods' BCE (``Batch.pos_weight``).
    """
    parts, ahead = tee(sampler.batch(t) for t in steps)  # ``ahead`` runs ahead by the loader's prefetch
    index_batches = (np.concatenate([p.clean, p.noisy]) for p in ahead)
    seeds = (
        None
        if augment_seed is None
        else [int(np.random.SeedSequence([augment_seed, t]).generate_state(1)[0]) for t in steps]
    )
    inputs = iter_inputs(
        images, pre, index_batches, num_workers=num_workers, pin=pin, augment_seeds=seeds, first_row=sampler.block[0]
    )  # a rank's block: its rows' seeds in the global batch
    for p, x in zip(parts, inputs):
        yield Batch(x, *batch_targets(data, p.clean, p.noisy), pos_weight=pos_weight)

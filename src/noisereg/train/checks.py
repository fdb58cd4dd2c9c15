"""Degenerate tasks, refused or warned about before any training step (issue: nothing silent).

A task with one class trains to a trivial 100%; a class with no clean example gets no L_clean
signal at all; a noisy set smaller than the clean set is not the regime the method is for (the
residual net learns the noise from D_n, which is then the smaller part).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..data.labelset import LabelledSet
from ..errors import UserError


def check_task(train: LabelledSet, warn: Callable[[str], None]) -> None:
    """Refuse a task with fewer than two classes; ``warn`` (one line each) about classes without a clean
    example and a noisy set smaller than the clean set.

    Raises:
        UserError: one class (or none).
    """
    k = train.num_classes
    if k < 2:
        raise UserError(f"the task has {k} class(es) {train.classes}: a classifier needs at least 2 classes "
                        "(a one-class task always scores 100%)")
    if train.has_clean.any():
        counts = np.asarray(train.clean[train.clean_indices].sum(0)).ravel()
        missing = [train.classes[j] for j in np.flatnonzero(counts == 0)]
        if missing:
            warn(f"warning: {len(missing)} of {k} classes have no clean example ({missing[:5]}"
                 f"{' ...' if len(missing) > 5 else ''}): the clean net learns them from the noisy labels only")
    n_clean, n_noisy = int(train.has_clean.sum()), int(train.has_noisy.sum())
    if 0 < n_noisy < n_clean:
        warn(f"warning: the noisy set ({n_noisy} images) is smaller than the clean set ({n_clean}); noise "
             "regularization is meant for a large noisy set and a small clean one")

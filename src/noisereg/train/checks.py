"""Degenerate tasks, refused or warned about before any training step (issue: nothing silent).

A task with one class trains to a trivial 100%; a class with no clean example gets no L_clean
signal at all; a noisy set smaller than the clean set is not the regime the method is for (the
residual net learns the noise from D_n, which is then the smaller part); a validation set of tens of
images chooses weights and stops training on a score that moves by several points between equally good
steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

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
        raise UserError(
            f"the task has {k} class(es) {train.classes}: a classifier needs at least 2 classes "
            "(a one-class task always scores 100%)"
        )
    if train.has_clean.any():
        counts = np.asarray(train.clean[train.clean_indices].sum(0)).ravel()
        missing = [train.classes[j] for j in np.flatnonzero(counts == 0)]
        if missing:
            warn(
                f"warning: {len(missing)} of {k} classes have no clean example ({missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''}): the clean net learns them from the noisy labels only"
            )
    n_clean, n_noisy = int(train.has_clean.sum()), int(train.has_noisy.sum())
    if 0 < n_noisy < n_clean:
        warn(
            f"warning: the noisy set ({n_noisy} images) is smaller than the clean set ({n_clean}); noise "
            "regularization is meant for a large noisy set and a small clean one"
        )


def check_method_data(train: LabelledSet, cfg: Any) -> None:
    """Refuse, before any feature is extracted or any file written, a training set that lacks what
    ``cfg.method`` declares it needs (``MethodSpec.check_data``: one label per image, paired labels) or its
    phases need (an empty clean set for a method with a clean phase, ...): the same check each stage makes,
    on a throwaway instance of the method over 1-dimensional features.

    Raises:
        UserError: multi-label data for a single-label method, no pairs for one that needs them, the clean or
            the noisy set empty but needed.
    """
    from ..methods import get_method_spec

    spec, where = get_method_spec(cfg.method), f"method '{cfg.method}'"
    spec.check_data(train, where)
    spec.factory(1, max(train.num_classes, 2), cfg.resolved()).check_data(train, where)


SMALL_VALIDATION = 200  # below this many images one validation top-1 has a standard error over 3 points


def small_validation(val: LabelledSet | None) -> str | None:
    """The line a run starts with when its validation set is small: its score's standard error (at 70%
    accuracy) and what selection does about it (early stopping only after a fifth of the phase; the heads
    kept by the validation loss for single-label data, ``selection.selects_by_loss``); None otherwise."""
    if val is None or len(val) >= SMALL_VALIDATION:
        return None
    n = len(val)
    se = 100 * math.sqrt(0.7 * 0.3 / max(n, 1))
    kept = (
        "keeps the heads of the lowest validation loss, which few images measure more steadily"
        if val.is_single_label
        else "also counts the validation loss"
    )
    return (
        f"note: the validation set has {n} images: a score on it moves by about ±{se:.0f} points between "
        f"equally good weights, so the kept step and early stopping are noisy (selection waits a fifth of each "
        f"phase and {kept}); more clean images for validation (--val-dir, --val-fraction) choose better"
    )

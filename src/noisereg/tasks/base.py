"""What every task hands the trainer: a training set D_c ∪ D_n, a clean-labelled test set, the noise."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..data.labelset import LabelledSet


@dataclass
class Task:
    """A train set (D_c + D_n), a clean-labelled test set, and the noise measured on the train set.

    Attributes:
        known_clean: train rows whose clean label exists at all (None: every row), for methods that
            train on every clean label there is (Backbone (GT)).
    """

    name: str
    train: LabelledSet
    test: LabelledSet
    noise: dict[str, float] = field(default_factory=dict)
    single_label: bool = True
    known_clean: Optional[np.ndarray] = None

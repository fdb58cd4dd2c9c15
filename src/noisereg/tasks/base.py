"""What every task hands the trainer: a training set D_c ∪ D_n, a clean-labelled test set, the noise."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.labelset import LabelledSet, split_validation, validation_rows


@dataclass
class Task:
    """A train set (D_c + D_n), a clean-labelled test set, and the noise measured on the train set.

    Attributes:
        known_clean: train rows whose clean label exists at all (None: every row), for methods that
            train on every clean label there is (Backbone (GT)).
        photos: the image files of the test rows where the sets hold their features (the report's
            figures show them); None where the test set holds its images itself.
    """

    name: str
    train: LabelledSet
    test: LabelledSet
    noise: dict[str, float] = field(default_factory=dict)
    single_label: bool = True
    known_clean: np.ndarray | None = None
    photos: list[str] | None = None

    def holdout(self, fraction: float, seed: int) -> tuple[LabelledSet, LabelledSet | None, np.ndarray]:
        """(training set, validation set, known clean rows of the training set): validation is a seeded
        share of the clean set, the same for every method of a comparison; the test set is never touched."""
        rows = validation_rows(self.train, fraction, seed)
        train, val = split_validation(self.train, fraction, seed)
        known = np.ones(len(self.train), bool) if self.known_clean is None else self.known_clean
        return train, val, known & ~rows

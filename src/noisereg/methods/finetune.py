"""Fine-tuning baselines of the paper (sec. 4.4) and Backbone (GT).

- ``ft-l``: Backbone (Noisy)'s last layer fine-tuned on the clean set (Noisy-FT-L);
- ``ft-m``: the same with mixed clean:noisy labels 1:9 (Noisy-FT-M);
- ``ft-w``: the whole network fine-tuned on the clean set (Noisy-FT-W; end-to-end scheme);
- ``gt``: a linear classifier on all clean labels, when every training image has one (upper bound).

Each first trains the linear classifier on the noisy labels (phase ``noisy``), then fine-tunes it
(phase ``fine-tune``), each phase for the configured number of steps.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import UserError
from .base import Phase
from .linear import LinearClassifier


class FineTune(LinearClassifier):
    """A linear classifier trained on the noisy labels, then fine-tuned with a clean share ``ft_ratio``.

    Args:
        whole: fine-tune the whole network (ft-w) rather than the last layer (ft-l / ft-m).
        scheme: ``frozen`` (last layer on frozen features: ft-l / ft-m) or ``end-to-end`` (whole
            network: ft-w); the method refuses the other one.
    """

    def __init__(
        self, feature_dim: int, num_classes: int, *, ft_ratio: float, scheme: str, whole: bool, name: str
    ) -> None:
        super().__init__(feature_dim, num_classes, clean_ratio=0.0)
        self.ft_ratio, self.scheme, self.whole, self.name = ft_ratio, scheme, whole, name

    def phases(self) -> list[Phase]:
        return [Phase("noisy", 0.0), Phase("fine-tune", self.ft_ratio)]

    def check_data(self, data: Any, where: str) -> None:
        whole = self.whole
        if whole != (self.scheme == "end-to-end"):
            raise UserError(
                f"{where}: {self.name} fine-tunes the {'whole network' if whole else 'last layer'}; "
                f"use --scheme {'end-to-end' if whole else 'frozen'}"
            )
        super().check_data(data, where)


class BackboneGT(LinearClassifier):
    """Backbone (GT): every training image's clean label (an upper bound, not a weakly supervised method)."""

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__(feature_dim, num_classes, clean_ratio=1.0)

    def check_data(self, data: Any, where: str) -> None:
        missing = int((data.has_noisy & ~data.has_clean).sum())
        if missing:
            raise UserError(f"{where}: gt needs a clean label for every training image; {missing} have none")
        super().check_data(data, where)


def every_clean_label(train: Any, known_clean: np.ndarray | None = None) -> Any:
    """Backbone (GT)'s training set: every training image whose clean label exists, with it
    (``known_clean``; None = every row), whatever share the other methods may use."""
    rows = np.ones(len(train), bool) if known_clean is None else np.asarray(known_clean, bool)
    n = int(rows.sum())
    subset = train if rows.all() else train.subset(np.flatnonzero(rows))
    return dataclasses.replace(subset, has_clean=np.ones(n, bool), has_noisy=np.zeros(n, bool))

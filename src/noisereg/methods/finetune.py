"""Fine-tuning baselines of the paper (sec. 4.4) and Backbone (GT).

- ``ft-l``: Backbone (Noisy)'s last layer fine-tuned on the clean set (Noisy-FT-L);
- ``ft-m``: the same with mixed clean:noisy labels 1:9 (Noisy-FT-M);
- ``ft-w``: the whole network fine-tuned on the clean set (Noisy-FT-W; end-to-end scheme);
- ``gt``: a linear classifier on all clean labels, when every training image has one (upper bound).

Each first trains the linear classifier on the noisy labels (phase ``noisy``), then fine-tunes it
(phase ``fine-tune``), each phase for the configured number of steps.
"""
from __future__ import annotations

from typing import Any

from ..errors import UserError
from .base import Phase
from .linear import LinearClassifier


class FineTune(LinearClassifier):
    """A linear classifier trained on the noisy labels, then fine-tuned with a clean share ``ft_ratio``.

    Args:
        scheme: ``frozen`` (last layer on frozen features: ft-l / ft-m) or ``end-to-end`` (whole
            network: ft-w); the method refuses the other one.
    """

    def __init__(self, feature_dim: int, num_classes: int, *, ft_ratio: float, scheme: str, name: str) -> None:
        super().__init__(feature_dim, num_classes, clean_ratio=0.0)
        self.ft_ratio, self.scheme, self.name = ft_ratio, scheme, name

    def phases(self) -> list[Phase]:
        return [Phase("noisy", 0.0), Phase("fine-tune", self.ft_ratio)]

    def check_data(self, data: Any, where: str) -> None:
        whole = self.name == "ft-w"
        if whole != (self.scheme == "end-to-end"):
            raise UserError(f"{where}: {self.name} fine-tunes the {'whole network' if whole else 'last layer'}; "
                            f"use --scheme {'end-to-end' if whole else 'frozen'}")
        super().check_data(data, where)


class BackboneGT(LinearClassifier):
    """Backbone (GT): every training image's clean label (an upper bound, not a weakly supervised method)."""

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__(feature_dim, num_classes, clean_ratio=1.0)

    def check_data(self, data: Any, where: str) -> None:
        missing = int((~data.has_clean).sum())
        if missing:
            raise UserError(f"{where}: gt needs a clean label for every training image; {missing} have none")
        super().check_data(data, where)

"""Choosing the weights to keep by validation: the best evaluation so far, and early stopping."""
from __future__ import annotations

from typing import Any, Optional

import torch


def metric_name(val_metric: str, data: Any) -> str:
    """The metric that selects weights: ``val_metric``, or for ``auto`` top-1 on single-label data and
    mAP on multi-label data."""
    if val_metric != "auto":
        return val_metric
    return "top1" if data is None or data.is_single_label else "mAP"


class Selection:
    """Best-by-validation weights and early stopping of one training phase.

    The best weights are those of the highest ``metric`` (on a tie the later ones). The patience
    counts evaluations in which neither the metric nor the validation loss (``bce``) improved: a
    coarse metric on a small validation set (top-1 of a few dozen images) plateaus while the
    model still improves, and the loss sees that.

    Args:
        metric: the validation score to maximise (``top1``, ``mAP`` or ``AP_all``).
        patience: evaluations without improvement after which the phase stops (0 = never).
        select: keep the best weights (False: the last ones; the phase still records its scores).
    """

    def __init__(self, metric: str, patience: int, select: bool = True) -> None:
        self.metric, self.patience, self.select = metric, patience, select
        self.best: Optional[float] = None
        self.best_loss: Optional[float] = None
        self.best_step = 0
        self.bad = 0
        self.weights: Optional[dict[str, torch.Tensor]] = None

    def update(self, step: int, scores: dict[str, float], module: torch.nn.Module) -> bool:
        """Record an evaluation at ``step``; snapshot ``module`` when it is at least as good as the best
        (on a tie the later, longer-trained weights win), reset the patience only on a strict
        improvement. True = stop now."""
        value, loss = scores[self.metric], scores.get("bce")
        improved = self.best is None or value > self.best
        if loss is not None and (self.best_loss is None or loss < self.best_loss):
            self.best_loss = loss
            improved = True
        if self.best is None or value >= self.best:
            self.best, self.best_step = value, step
            if self.select:
                self.weights = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
        self.bad = 0 if improved else self.bad + 1
        return bool(self.patience) and self.bad >= self.patience

    def selected(self, full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The full model's weights with the best snapshot of the trained part in place."""
        return {**full, **self.weights} if self.weights is not None else full

    def restore(self, module: torch.nn.Module) -> None:
        """Load the best snapshot into the trained part (no-op without one)."""
        if self.weights is not None:
            module.load_state_dict(self.weights)  # copies onto the module's own device

    def state(self) -> dict[str, Any]:
        """What a checkpoint records to resume the selection (the weights are the checkpoint's model)."""
        return {"metric": self.metric, "best": self.best, "best_loss": self.best_loss, "best_step": self.best_step,
                "bad": self.bad}

    def load_state(self, state: dict[str, Any], weights: Optional[dict[str, torch.Tensor]]) -> None:
        self.best, self.best_loss = state.get("best"), state.get("best_loss")
        self.best_step, self.bad = int(state.get("best_step", 0)), int(state.get("bad", 0))
        self.weights = weights if self.best is not None and self.select else None

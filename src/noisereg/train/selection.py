"""Choosing the weights to keep by validation: the best evaluation so far, and early stopping."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .checks import SMALL_VALIDATION


def metric_name(val_metric: str, data: Any) -> str:
    """The metric that selects weights: ``val_metric``, or for ``auto`` top-1 on single-label data and
    mAP on multi-label data."""
    if val_metric != "auto":
        return val_metric
    return "top1" if data is None or data.is_single_label else "mAP"


def selects_by_loss(val_metric: str, data: Any) -> bool:
    """Whether the weights kept are those of the lowest validation loss rather than the best ``metric``: for
    ``auto`` on a single-label validation set under ``SMALL_VALIDATION`` images, whose top-1 moves in steps of
    1/n so that its best evaluation is mostly chance. Measured (``benchmarks/bench_selection.py``, RESULTS.md
    "Selection with a small validation set", has the figures): at 10-100 validation images the loss-chosen
    weights score higher on test than the best top-1's and vary less; at 200-500 the two are level. Measured on
    heads over frozen features, so ``fit`` applies it to the heads phases only: a backbone being fine-tuned
    can see its validation loss climb and fall back while its top-1 recovers, and there the loss kept a
    barely trained backbone (``tests/test_cli.py``'s tiny frozen run)."""
    return val_metric == "auto" and data is not None and data.is_single_label and len(data) < SMALL_VALIDATION


class Selection:
    """Best-by-validation weights and early stopping of one training phase.

    The best weights are those of the highest ``metric`` (on a tie the later ones), or with ``by_loss`` those
    of the lowest validation loss (``bce``; on a tie the later ones). The patience counts evaluations in which
    neither the metric nor the validation loss improved: a coarse metric on a small validation set (top-1 of
    a few dozen images) plateaus while the model still improves, and the loss sees that.

    Args:
        metric: the validation score to maximise (``top1``, ``mAP`` or ``AP_all``).
        patience: evaluations without improvement after which the phase stops (0 = never).
        select: keep the best weights (False: the last ones; the phase still records its scores).
        by_loss: keep the lowest-loss weights (``selects_by_loss``); ``best`` is then their ``metric``.
    """

    def __init__(self, metric: str, patience: int, select: bool = True, by_loss: bool = False) -> None:
        self.metric, self.patience, self.select, self.by_loss = metric, patience, select, by_loss
        self.best: float | None = None  # the kept weights' metric
        self.top: float | None = None  # the best metric seen (the patience's signal)
        self.best_loss: float | None = None
        self.best_step = 0
        self.bad = 0
        self.weights: dict[str, torch.Tensor] | None = None

    def update(self, step: int, scores: dict[str, float], module: torch.nn.Module) -> bool:
        """Record an evaluation at ``step``; snapshot ``module`` when it is at least as good as the kept weights
        (on a tie the later, longer-trained weights win), reset the patience only on a strict improvement of
        the metric or the loss. True = stop now."""
        value, loss = scores[self.metric], scores.get("bce")
        improved = self.top is None or value > self.top
        self.top = value if self.top is None else max(self.top, value)
        if self.by_loss and loss is not None:
            keep = self.best_loss is None or loss <= self.best_loss
        else:
            keep = self.best is None or value >= self.best
        if loss is not None and (self.best_loss is None or loss < self.best_loss):
            self.best_loss = loss
            improved = True
        if keep:
            self.best, self.best_step = value, step
            if self.select:
                self.weights = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
        self.bad = 0 if improved else self.bad + 1
        return bool(self.patience) and self.bad >= self.patience

    def rule(self) -> str:
        """What the phase keeps, in words for the evaluation line and ``metrics.csv``'s ``kept_by``:
        ``val loss`` (the lowest), ``val <metric>`` (the best) or ``last`` (no selection)."""
        if not self.select:
            return "last"
        return "val loss" if self.by_loss else f"val {self.metric}"

    def kept_step(self, step: int) -> int:
        """The step whose weights the phase would keep if it ended at ``step``."""
        return self.best_step if self.select else step

    def selected(self, full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The full model's weights with the best snapshot of the trained part in place."""
        return {**full, **self.weights} if self.weights is not None else full

    def restore(self, module: torch.nn.Module) -> None:
        """Load the best snapshot into the trained part (no-op without one)."""
        if self.weights is not None:
            module.load_state_dict(self.weights)  # copies onto the module's own device

    def state(self) -> dict[str, Any]:
        """What a checkpoint records to resume the selection (the weights are the checkpoint's model)."""
        return {"metric": self.metric, "best": self.best, "top": self.top, "best_loss": self.best_loss,
                "best_step": self.best_step, "bad": self.bad, "by_loss": self.by_loss}

    def load_state(self, state: dict[str, Any], weights: dict[str, torch.Tensor] | None) -> None:
        self.best, self.best_loss = state.get("best"), state.get("best_loss")
        self.top = state.get("top", self.best)
        self.best_step, self.bad = int(state.get("best_step", 0)), int(state.get("bad", 0))
        self.weights = weights if self.best is not None and self.select else None


def weights_of(weights: dict[str, torch.Tensor] | None, module: nn.Module) -> dict[str, torch.Tensor] | None:
    """The entries of a full model's weights that belong to ``module`` (the part a phase trains)."""
    if weights is None:
        return None
    keys = module.state_dict().keys()
    return {k: weights[k] for k in keys if k in weights}

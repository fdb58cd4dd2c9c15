"""Choosing the weights to keep by validation (``Selector``: the best evaluation so far) and early stopping
(``EarlyStopper``): two of the loop's callbacks (``callbacks.py``), joined in a ``Selection`` for checkpoints."""

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


class Selector:
    """Best-by-validation weights of one training phase (a callback of the loop, after the ``Evaluator``).

    The best weights are those of the highest ``metric`` (on a tie the later ones), or with ``by_loss`` those
    of the lowest validation loss (``bce``; on a tie the later ones).

    Args:
        metric: the validation score to maximise (``top1``, ``mAP`` or ``AP_all``).
        select: keep the best weights (False: the last ones; the phase still records its scores).
        by_loss: keep the lowest-loss weights (``selects_by_loss``); ``best`` is then their ``metric``.
        module: the part being trained, snapshot when it is the best so far (None: ``keep`` is given it).
        per_epoch: steps an epoch, to record the kept step's epoch.
    """

    def __init__(
        self,
        metric: str,
        select: bool = True,
        by_loss: bool = False,
        *,
        module: nn.Module | None = None,
        per_epoch: float = 1.0,
    ) -> None:
        self.metric, self.select, self.by_loss, self.module, self.per_epoch = metric, select, by_loss, module, per_epoch
        self.best: float | None = None  # the kept weights' metric
        self.best_loss: float | None = None
        self.best_step = 0
        self.weights: dict[str, torch.Tensor] | None = None

    def on_step(self, state: Any) -> None:
        """After an evaluation: keep the weights if best, and record what is kept (``val_best``, ``kept_step``...)."""
        if state.scores is None:
            return
        self.keep(state.step, state.scores, self.module)
        state.record.update(
            val_best=self.best,
            best_epoch=round(self.best_step / self.per_epoch, 4),
            kept_step=self.kept_step(state.step),
            kept_by=self.rule(),
        )

    def keep(self, step: int, scores: dict[str, float], module: nn.Module | None) -> None:
        """Snapshot ``module`` when the evaluation at ``step`` is at least as good as the kept weights (on a tie
        the later, longer-trained weights win)."""
        value, loss = scores[self.metric], scores.get("bce")
        if self.by_loss and loss is not None:
            keep = self.best_loss is None or loss <= self.best_loss
        else:
            keep = self.best is None or value >= self.best
        if loss is not None and (self.best_loss is None or loss < self.best_loss):
            self.best_loss = loss
        if keep:
            self.best, self.best_step = value, step
            if self.select and module is not None:
                self.weights = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}

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
        return {
            "metric": self.metric,
            "best": self.best,
            "best_loss": self.best_loss,
            "best_step": self.best_step,
            "by_loss": self.by_loss,
        }

    def load_state(self, state: dict[str, Any], weights: dict[str, torch.Tensor] | None) -> None:
        self.best, self.best_loss = state.get("best"), state.get("best_loss")
        self.best_step = int(state.get("best_step", 0))
        self.weights = weights if self.best is not None and self.select else None


class EarlyStopper:
    """Early stopping of one training phase (a callback of the loop, after the ``Evaluator``).

    The patience counts evaluations in which neither the metric nor the validation loss improved: a coarse
    metric on a small validation set (top-1 of a few dozen images) plateaus while the model still improves,
    and the loss sees that. The phase stops after ``patience`` such evaluations (0 = never), and only past
    step ``start_after``.
    """

    def __init__(self, metric: str, patience: int, *, start_after: int = 0) -> None:
        self.metric, self.patience, self.start_after = metric, patience, start_after
        self.top: float | None = None  # the best metric seen
        self.best_loss: float | None = None
        self.bad = 0

    def on_step(self, state: Any) -> None:
        if state.scores is not None:
            state.stop = self.update(state.scores) and state.step > self.start_after

    def update(self, scores: dict[str, float]) -> bool:
        """Count an evaluation; the patience resets only on a strict improvement of the metric or the loss.
        True = out of patience."""
        value, loss = scores[self.metric], scores.get("bce")
        improved = self.top is None or value > self.top
        self.top = value if self.top is None else max(self.top, value)
        if loss is not None and (self.best_loss is None or loss < self.best_loss):
            self.best_loss = loss
            improved = True
        self.bad = 0 if improved else self.bad + 1
        return bool(self.patience) and self.bad >= self.patience

    def state(self) -> dict[str, Any]:
        return {"top": self.top, "best_loss": self.best_loss, "bad": self.bad}

    def load_state(self, state: dict[str, Any]) -> None:
        self.top, self.best_loss = state.get("top", state.get("best")), state.get("best_loss")
        self.bad = int(state.get("bad", 0))


class Selection:
    """A phase's ``Selector`` and ``EarlyStopper`` together: one evaluation updates both, one record holds
    their state in a checkpoint (what ``--resume`` continues).

    Args:
        metric, select, by_loss: the ``Selector``'s; patience: the ``EarlyStopper``'s.
    """

    def __init__(
        self,
        metric: str,
        patience: int,
        select: bool = True,
        by_loss: bool = False,
        *,
        module: nn.Module | None = None,
        per_epoch: float = 1.0,
        start_after: int = 0,
    ) -> None:
        self.selector = Selector(metric, select, by_loss, module=module, per_epoch=per_epoch)
        self.stopper = EarlyStopper(metric, patience, start_after=start_after)

    @property
    def best(self) -> float | None:
        return self.selector.best

    @property
    def best_step(self) -> int:
        return self.selector.best_step

    @property
    def best_loss(self) -> float | None:
        return self.selector.best_loss

    @property
    def weights(self) -> dict[str, torch.Tensor] | None:
        return self.selector.weights

    @property
    def top(self) -> float | None:
        return self.stopper.top

    @property
    def bad(self) -> int:
        return self.stopper.bad

    def update(self, step: int, scores: dict[str, float], module: torch.nn.Module) -> bool:
        """Record an evaluation at ``step`` (``Selector.keep``, ``EarlyStopper.update``). True = stop now."""
        self.selector.keep(step, scores, module)
        return self.stopper.update(scores)

    def rule(self) -> str:
        return self.selector.rule()

    def kept_step(self, step: int) -> int:
        return self.selector.kept_step(step)

    def selected(self, full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.selector.selected(full)

    def restore(self, module: torch.nn.Module) -> None:
        self.selector.restore(module)

    def state(self) -> dict[str, Any]:
        """What a checkpoint records to resume the selection (the weights are the checkpoint's model)."""
        sel, stop = self.selector, self.stopper
        return {
            "metric": sel.metric,
            "best": sel.best,
            "top": stop.top,
            "best_loss": sel.best_loss,
            "best_step": sel.best_step,
            "bad": stop.bad,
            "by_loss": sel.by_loss,
        }

    def load_state(self, state: dict[str, Any], weights: dict[str, torch.Tensor] | None) -> None:
        self.selector.load_state(state, weights)
        self.stopper.load_state(state)


def weights_of(weights: dict[str, torch.Tensor] | None, module: nn.Module) -> dict[str, torch.Tensor] | None:
    """The entries of a full model's weights that belong to ``module`` (the part a phase trains)."""
    if weights is None:
        return None
    keys = module.state_dict().keys()
    return {k: weights[k] for k in keys if k in weights}

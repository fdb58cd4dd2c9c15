"""What a training phase does after each optimisation step, as small objects the loop calls in order
(Lightning's callbacks as the model): count epochs, evaluate on validation, keep the best weights
(``selection.Selector``), stop early (``selection.EarlyStopper``), checkpoint, log. Each reads and writes
one ``StepState``, so the loop (``loop.train_loop``) stays one screen and knows none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from ..distributed import DistContext, broadcast_state
from .evaluate import evaluate
from .log import RunLog


@dataclass
class StepState:
    """One finished step as the callbacks see it: its number (1-based), its record (which they add to: epoch,
    ``val_*``, what is kept), the validation scores when it was evaluated, and whether to stop the phase."""

    step: int
    record: dict[str, Any]
    scores: dict[str, Any] | None = None
    stop: bool = False


class Callback(Protocol):
    def on_step(self, state: StepState) -> None: ...


@dataclass
class EpochCounter:
    """Records the step's epoch (passes over the phase's noisy set)."""

    per_epoch: int

    def on_step(self, state: StepState) -> None:
        state.record["epoch"] = round(state.step / self.per_epoch, 4)


@dataclass
class Evaluator:
    """Scores ``model`` on the validation set every ``every`` steps and at the phase's last step (one model
    scored: rank 0's weights are broadcast first); puts the scores in the state and as ``val_*`` in the record."""

    model: nn.Module
    eval_set: Any
    pre: Any
    images: Any
    device: torch.device
    ctx: DistContext
    every: int
    total: int

    def on_step(self, state: StepState) -> None:
        if self.eval_set is None or not (state.step % self.every == 0 or state.step == self.total):
            return
        broadcast_state(self.model, self.ctx)  # a layer left per process: rank 0's
        state.scores = evaluate(self.model, self.eval_set, self.pre, device=self.device, images=self.images)
        state.record.update({f"val_{k}": v for k, v in state.scores.items() if k != "classes_skipped"})


@dataclass
class EvaluationHook:
    """Hands each evaluation's scores and the part being trained to ``fit``'s ``on_evaluation`` (tuning's
    pruner, which may raise to stop the run)."""

    hook: Callable[[dict, nn.Module], None] | None
    model: nn.Module

    def on_step(self, state: StepState) -> None:
        if self.hook is not None and state.scores is not None:
            self.hook(state.scores, self.model)


@dataclass
class Checkpointer:
    """Every ``every`` steps (0: never) before the phase's end, unless it stops there: ``save(step)`` writes
    the checkpoint ``--resume`` continues from (the phase's end saves its own)."""

    save: Callable[[int], None]
    every: int
    total: int

    def on_step(self, state: StepState) -> None:
        if self.every and state.step % self.every == 0 and state.step < self.total and not state.stop:
            self.save(state.step)


@dataclass
class Logger:
    """Hands the finished record to the run's logs (metrics.csv, TensorBoard, the evaluation line)."""

    log: RunLog
    history: list[dict[str, Any]]
    name: str
    total: int

    def on_step(self, state: StepState) -> None:
        self.log.step(state.record, self.history, name=self.name, total=self.total)

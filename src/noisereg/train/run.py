"""One ``fit``'s stages and phases: ``Run`` trains a model through its method's phases, each a loop over
mixed batches with its callbacks (``callbacks.py``); ``RunRecord`` is what the run's checkpoints record
besides the weights and the config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import save_checkpoint
from ..config import TrainConfig
from ..data.images import Preprocess
from ..data.labelset import LabelledSet
from ..distributed import DistContext, barrier, broadcast_state, current, data_parallel, resolve_device
from ..methods.base import Phase, PhaseContext
from ..models.batchnorm import global_batch_norm
from .batches import iter_training_batches
from .callbacks import Callback, Checkpointer, EpochCounter, EvaluationHook, Evaluator, Logger
from .evaluate import f1_thresholds_on, outputs_of
from .imbalance import pos_weight_for, sampler_for
from .length import eval_interval, length_line, patience_evaluations, phase_steps
from .log import RunLog
from .loop import make_optimizer, train_loop
from .model import Classifier, in_chans_of
from .resume import data_fingerprint
from .selection import Selection, metric_name, selects_by_loss, weights_of


@dataclass
class RunRecord:
    """What a run's checkpoints record besides the weights and the config (``meta``), kept as it trains."""

    multi_label: bool
    fingerprint: dict[str, Any] | None = None  # what --resume checks
    history: list[dict[str, float]] = field(default_factory=list)  # one record per step
    thresholds: list[float] | None = None  # multi-label: per class, chosen on validation
    thresholds_from: list[str] | None = None  # per class: "validation" or "default" (few positives)
    overrides: dict[str, Any] = field(default_factory=dict)  # options --resume changed (device, workers, ...)
    length: dict[str, dict[str, int]] = field(default_factory=dict)  # per phase: steps, an epoch's, eval interval
    from_data: tuple[str, ...] = ()  # the options left to the data (batch, length)
    from_method: tuple[str, ...] = ()  # the fields left unset, holding the method's defaults (all of them)
    choices: list[dict[str, Any]] = field(default_factory=list)  # values chosen on validation (train/choice.py)
    final: dict[str, Any] = field(default_factory=dict)  # the last phase's checkpoint record

    def meta(
        self,
        cfg: TrainConfig,
        train: LabelledSet,
        model: Classifier,
        pre: Preprocess,
        stage: str,
        step: int,
        selection: Selection | None = None,
    ) -> dict[str, Any]:
        return {
            "config": cfg.to_dict(),
            "classes": train.classes,
            "preprocess": pre.to_dict(),
            "in_chans": in_chans_of(train),
            "backbone": model.backbone.name,
            "feature_dim": int(model.backbone.feature_dim),
            "stage": stage,
            "step": step,
            "selection": selection.state() if selection else None,
            "history": self.history,
            "multi_label": self.multi_label,
            "thresholds": self.thresholds,
            "thresholds_from": self.thresholds_from,
            "data": self.fingerprint,
            "overrides": self.overrides,
            "length": self.length,
            "method_defaults": list(self.from_method),
            "chosen_on_validation": self.choices,
        }


class Run:
    """What the stages of one ``fit`` share: config, data, validation set, device, output folder, the logs
    (rank 0 writes and prints) and the ``RunRecord``."""

    def __init__(
        self,
        train: LabelledSet,
        cfg: TrainConfig,
        eval_set: LabelledSet | None,
        out: Path | None,
        print_evaluations: bool = True,
        on_evaluation: Callable[[dict, nn.Module], None] | None = None,
    ) -> None:
        self.train, self.cfg, self.eval_set, self.out = train, cfg, eval_set, out
        self.on_evaluation = on_evaluation  # sees each validation score and the model (a pruner may raise to stop)
        self.device = resolve_device(cfg.device)
        self.ctx: DistContext = current()
        if not self.ctx.is_main:
            self.cfg = cfg = cfg.replace(quiet=True)  # one progress bar, on rank 0
        self.metric, self.by_loss = metric_name(cfg.val_metric, eval_set), selects_by_loss(cfg.val_metric, eval_set)
        self.log = RunLog(
            out if self.ctx.is_main else None,
            metric=self.metric,
            tensorboard=cfg.tensorboard and self.ctx.is_main,
            print_evaluations=print_evaluations and not cfg.quiet,
        )
        self.record = RunRecord(not train.is_single_label, data_fingerprint(train) if out is not None else None)

    @property
    def history(self) -> list[dict[str, float]]:
        return self.record.history

    def save(
        self,
        model: Classifier,
        pre: Preprocess,
        stage: str,
        step: int,
        optimizer: torch.optim.Optimizer | None,
        selection: Selection | None = None,
        last: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Checkpoint: the selected weights as the model, the last step's (default: the current ones)
        as ``last``, what ``--resume`` continues from (rank 0 writes)."""
        if self.out is not None and self.ctx.is_main:
            current_weights = model.state_dict()
            best = selection.selected(current_weights) if selection else current_weights
            save_checkpoint(
                self.out,
                best,
                self.record.meta(self.cfg, self.train, model, pre, stage, step, selection),
                optimizer,
                last=current_weights if last is None else last,
            )
        barrier(self.ctx)

    def stage(
        self,
        model: Classifier,
        train_model: Classifier,
        images: Any,
        eval_images: Any,
        pre: Preprocess,
        stage: str,
        total: int,
        resume: dict | None = None,
    ) -> None:
        """Train ``train_model`` (sharing weights with ``model``) through its method's phases, each for at
        most ``total`` steps; ``resume`` (stage label, step, optimizer and selection state) continues
        inside a phase."""
        method = train_model.method
        method.check_data(self.train, f"method '{self.cfg.method}' ({stage} stage)")
        phases = method.phases()
        labels = [stage if len(phases) == 1 else f"{stage}:{p.name}" for p in phases]
        first = labels.index(resume["stage"]) if resume else 0
        train_model.to(self.device)
        for i in range(first, len(phases)):
            state = resume if resume and i == first else None
            if state is None or state["step"] == 0:
                method.start_phase(
                    phases[i].name,
                    PhaseContext(self.train, lambda rows: outputs_of(train_model, images, pre, rows, self.device)),
                )
            method.phase = phases[i].name
            self.train_phase(model, train_model, (images, eval_images), pre, labels[i], phases[i], total, state)

    def train_phase(
        self,
        model: Classifier,
        train_model: Classifier,
        inputs: tuple[Any, Any],
        pre: Preprocess,
        label: str,
        phase: Phase,
        total: int,
        state: dict | None,
    ) -> None:
        """One phase: its batches and length, then the loop with its callbacks in order (epoch, evaluation,
        selection, early stopping, ``on_evaluation``, checkpoint, log), then the kept weights restored and saved."""
        cfg, (images, eval_images) = self.cfg, inputs
        sampler = sampler_for(cfg, self.train, phase, self.ctx)
        per_epoch = sampler.steps_per_epoch()
        total = phase_steps(cfg, per_epoch, total)
        every = eval_interval(cfg, per_epoch, total)
        length = self.record.length[label] = dict(
            steps=total,
            steps_per_epoch=per_epoch,
            eval_every=every,
            batch_size=cfg.batch_size,
            patience_evaluations=patience_evaluations(cfg, per_epoch, every),
        )
        if state is None:
            self.log.note(length_line(label, length, self.record.from_data, len(self.train)))
        optimizer = make_optimizer(train_model, cfg)
        selection = Selection(
            self.metric,
            length["patience_evaluations"],
            phase.select and not cfg.keep_last,
            self.by_loss and label.startswith("heads"),
            module=train_model,
            per_epoch=per_epoch,
            start_after=max(int(cfg.warmup * total), total // 5),
        )  # early stopping only after
        if state is not None:
            if state.get("optimizer") is not None:
                optimizer.load_state_dict(state["optimizer"])
            selection.load_state(state.get("selection") or {}, weights_of(state["best"], train_model))
        steps = range(state["step"] if state else 0, total)
        batches = iter_training_batches(
            self.train,
            images,
            pre,
            sampler,
            steps,
            cfg.num_workers,
            pin=self.device.type == "cuda",
            augment_seed=cfg.seed if cfg.augment else None,
            pos_weight=pos_weight_for(cfg, self.train),
        )
        callbacks: list[Callback] = [
            EpochCounter(per_epoch),
            Evaluator(train_model, self.eval_set, pre, eval_images, self.device, self.ctx, every, total),
            selection.selector,
            selection.stopper,
            EvaluationHook(self.on_evaluation, train_model),
            Checkpointer(lambda step: self.save(model, pre, label, step, optimizer, selection), cfg.save_every, total),
            Logger(self.log, self.history, f"{cfg.method}:{label}", total),
        ]
        with global_batch_norm(train_model, self.device, self.ctx):  # the global batch's statistics
            stepper = data_parallel(train_model, self.device, self.ctx)
            train_loop(
                torch.compile(stepper) if cfg.compile else stepper,
                batches,
                optimizer,
                cfg,
                steps,
                device=self.device,
                desc=f"{cfg.method}:{label}",
                total=total,
                history=self.history,
                tag={"stage": label},
                callbacks=callbacks,
            )
        self._end_phase(model, train_model, pre, label, total, optimizer, selection, eval_images)

    def _end_phase(
        self,
        model: Classifier,
        train_model: Classifier,
        pre: Preprocess,
        label: str,
        total: int,
        optimizer: torch.optim.Optimizer,
        selection: Selection,
        eval_images: Any,
    ) -> None:
        """The kept weights back in place on every rank, multi-label thresholds chosen on validation, and the
        phase's checkpoint (the kept weights, and the last step's as ``last``)."""
        last = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        selection.restore(train_model)
        broadcast_state(train_model, self.ctx)  # every rank leaves the phase with the weights rank 0 saves
        if self.eval_set is not None and self.record.multi_label:
            self.record.thresholds, self.record.thresholds_from = f1_thresholds_on(
                train_model, self.eval_set, pre, device=self.device, images=eval_images
            )
        self.record.final = self.record.meta(self.cfg, self.train, model, pre, label, total, selection)
        self.save(model, pre, label, total, optimizer, selection, last=last)

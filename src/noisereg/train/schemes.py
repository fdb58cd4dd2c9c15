"""Fitting, knowing no method by name: the two schemes of the paper (sec. 3.3) and resume.

- ``end-to-end``: backbone and method trained together on mixed clean:noisy batches;
- ``frozen``: stage one trains the backbone with a linear classifier on the noisy labels
  (Backbone (Noisy)); the backbone is then frozen, its features computed once, and the method's
  heads train on those cached features.
"""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from ..checkpoint import save_checkpoint, write_config
from ..config import TrainConfig
from ..data.decode import UnreadableImage, drop_unreadable, with_skip_hint
from ..data.images import Preprocess
from ..data.labelset import LabelledSet, split_validation
from ..distributed import DistContext, barrier, broadcast_state, current, data_parallel, resolve_device
from ..progress import echo, warn
from ..safe_io import OutputLock
from ..features import SharedFeatures, freeze
from ..models.batchnorm import global_batch_norm
from ..methods import get_method_spec
from ..methods.base import Phase, PhaseContext
from .batches import iter_training_batches
from .imbalance import pos_weight_for, sampler_for
from .length import (auto_batch_size, defaults_line, eval_interval, left_to_data, length_line, patience_evaluations,
                     phase_steps)
from .evaluate import evaluate, f1_thresholds_on, outputs_of
from .log import RunLog
from .loop import make_optimizer, train_loop
from .model import Classifier, FitResult, build_backbone, in_chans_of, stage_one_model, with_method
from .partial import check_train_blocks, heads_features, train_top
from .checks import check_method_data, check_task, small_validation
from .choice import choose_on_validation, resumed_choices
from .resume import data_fingerprint, prepare_output, resume_state
from .selection import Selection, metric_name, selects_by_loss, weights_of


class Run:
    """State shared by the stages of one ``fit``: config, data, validation set, device, output, history
    and the logs written from it (rank 0 writes and prints)."""

    def __init__(self, train: LabelledSet, cfg: TrainConfig, eval_set: Optional[LabelledSet],
                 out: Optional[Path], print_evaluations: bool = True,
                 on_evaluation: Optional[Callable[[dict, nn.Module], None]] = None) -> None:
        self.train, self.cfg, self.eval_set, self.out = train, cfg, eval_set, out
        self.on_evaluation = on_evaluation  # sees each validation score and the model (a pruner may raise to stop)
        self.device = resolve_device(cfg.device)
        self.ctx: DistContext = current()
        if not self.ctx.is_main:
            self.cfg = cfg = cfg.replace(quiet=True)  # one progress bar, on rank 0
        self.history: list[dict[str, float]] = []
        self.metric, self.by_loss = metric_name(cfg.val_metric, eval_set), selects_by_loss(cfg.val_metric, eval_set)
        main = self.ctx.is_main
        self.log = RunLog(out if main else None, metric=self.metric, tensorboard=cfg.tensorboard and main,
                          print_evaluations=print_evaluations and not cfg.quiet)
        self.multi_label = not train.is_single_label
        self.thresholds: Optional[list[float]] = None  # multi-label: per class, chosen on validation
        self.thresholds_from: Optional[list[str]] = None  # per class: "validation" or "default" (few positives)
        self.final: dict[str, Any] = {}  # the last phase's checkpoint record
        self.fingerprint = data_fingerprint(train) if out is not None else None  # what --resume checks
        self.overrides: dict[str, Any] = {}  # options --resume changed (device, workers, ...)
        self.length: dict[str, dict[str, int]] = {}  # per phase: steps, steps an epoch, evaluation interval, batch
        self.from_data: tuple[str, ...] = ()  # the options left to the data (batch, length)
        self.from_method: tuple[str, ...] = ()  # the fields left unset, holding the method's defaults (all of them)
        self.choices: list[dict[str, Any]] = []  # values chosen on validation (train/choice.py)

    def meta(self, model: Classifier, pre: Preprocess, stage: str, step: int,
             selection: Optional[Selection] = None) -> dict[str, Any]:
        return {"config": self.cfg.to_dict(), "classes": self.train.classes, "preprocess": pre.to_dict(),
                "in_chans": in_chans_of(self.train), "backbone": model.backbone.name,
                "feature_dim": int(model.backbone.feature_dim), "stage": stage, "step": step,
                "selection": selection.state() if selection else None, "history": self.history,
                "multi_label": self.multi_label, "thresholds": self.thresholds,
                "thresholds_from": self.thresholds_from, "data": self.fingerprint,
                "overrides": self.overrides, "length": self.length, "method_defaults": list(self.from_method),
                "chosen_on_validation": self.choices}

    def save(self, model: Classifier, pre: Preprocess, stage: str, step: int,
             optimizer: Optional[torch.optim.Optimizer], selection: Optional[Selection] = None,
             last: Optional[dict[str, torch.Tensor]] = None) -> None:
        """Checkpoint: the selected weights as the model, the last step's (default: the current ones)
        as ``last``, what ``--resume`` continues from (rank 0 writes)."""
        if self.out is not None and self.ctx.is_main:
            current_weights = model.state_dict()
            best = selection.selected(current_weights) if selection else current_weights
            save_checkpoint(self.out, best, self.meta(model, pre, stage, step, selection), optimizer,
                            last=current_weights if last is None else last)
        barrier(self.ctx)

    def stage(self, model: Classifier, train_model: Classifier, images: Any, eval_images: Any, pre: Preprocess,
              stage: str, total: int, resume: Optional[dict] = None) -> None:
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
                method.start_phase(phases[i].name, PhaseContext(self.train, lambda rows: outputs_of(
                    train_model, images, pre, rows, self.device)))
            method.phase = phases[i].name
            self._phase(model, train_model, images, eval_images, pre, labels[i], phases[i], total, state)

    def _phase(self, model: Classifier, train_model: Classifier, images: Any, eval_images: Any, pre: Preprocess,
               label: str, phase: Phase, total: int, state: Optional[dict]) -> None:
        cfg = self.cfg
        sampler = sampler_for(cfg, self.train, phase, self.ctx)
        per_epoch = sampler.steps_per_epoch()
        total = phase_steps(cfg, per_epoch, total)
        every = eval_interval(cfg, per_epoch, total)
        self.length[label] = dict(steps=total, steps_per_epoch=per_epoch, eval_every=every, batch_size=cfg.batch_size,
                                  patience_evaluations=patience_evaluations(cfg, per_epoch, every))
        if state is None:
            self.log.note(length_line(label, self.length[label], self.from_data, len(self.train)))
        start_stopping = max(int(cfg.warmup * total), total // 5)  # early stopping only after this step
        optimizer = make_optimizer(train_model, cfg)
        selection = Selection(self.metric, self.length[label]["patience_evaluations"], select=phase.select and
                              not cfg.keep_last, by_loss=self.by_loss and label.startswith("heads"))
        if state is not None:
            if state.get("optimizer") is not None:
                optimizer.load_state_dict(state["optimizer"])
            selection.load_state(state.get("selection") or {}, weights_of(state["best"], train_model))
        steps = range(state["step"] if state else 0, total)
        batches = iter_training_batches(self.train, images, pre, sampler, steps, cfg.num_workers,
                                        pin=self.device.type == "cuda", augment_seed=cfg.seed if cfg.augment else None,
                                        pos_weight=pos_weight_for(cfg, self.train))

        def on_step(step: int, record: dict) -> bool:
            record["epoch"] = round(step / per_epoch, 4)
            stop = False
            if self.eval_set is not None and (step % every == 0 or step == total):
                broadcast_state(train_model, self.ctx)  # one model scored (a layer left per process: rank 0's)
                scores = evaluate(train_model, self.eval_set, pre, device=self.device, images=eval_images)
                record.update({f"val_{k}": v for k, v in scores.items() if k != "classes_skipped"})
                stop = selection.update(step, scores, train_model) and step > start_stopping
                record["val_best"] = selection.best
                record["best_epoch"] = round(selection.best_step / per_epoch, 4)  # where the kept weights are
                record["kept_step"], record["kept_by"] = selection.kept_step(step), selection.rule()
                if self.on_evaluation is not None:
                    self.on_evaluation(scores, train_model)
            if cfg.save_every and step % cfg.save_every == 0 and step < total and not stop:
                self.save(model, pre, label, step, optimizer, selection)
            self.log.step(record, self.history, name=f"{cfg.method}:{label}", total=total)
            return stop

        with global_batch_norm(train_model, self.device, self.ctx):  # the global batch's statistics
            stepper = data_parallel(train_model, self.device, self.ctx)
            train_loop(torch.compile(stepper) if cfg.compile else stepper, batches, optimizer, cfg, steps,
                       device=self.device, desc=f"{cfg.method}:{label}", total=total, history=self.history,
                       tag={"stage": label}, on_step=on_step)
        last = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        selection.restore(train_model)
        broadcast_state(train_model, self.ctx)  # every rank leaves the phase with the weights rank 0 saves
        if self.eval_set is not None and self.multi_label:
            self.thresholds, self.thresholds_from = f1_thresholds_on(train_model, self.eval_set, pre, device=self.device, images=eval_images)
        self.final = self.meta(model, pre, label, total, selection)
        self.save(model, pre, label, total, optimizer, selection, last=last)


def fit(train: LabelledSet, cfg: TrainConfig, *, eval_set: Optional[LabelledSet] = None,
        out: Optional[str | Path] = None, resume: bool = False, overwrite: bool = False,
        stage_one: Optional[Classifier] = None, print_evaluations: bool = True,
        on_evaluation: Optional[Callable[[dict, nn.Module], None]] = None, checked: bool = False,
        features: Optional[SharedFeatures] = None) -> FitResult:
    """Train ``cfg.method`` on ``train`` with ``cfg.scheme``; checkpoints go to ``out`` when given.

    Args:
        train: D_c ∪ D_n.
        cfg: the run's configuration.
        eval_set: the validation set: clean-labelled images that choose the best step and stop a phase
            early (never the test set). None: a seeded ``cfg.val_fraction`` of the clean set is held
            out of ``train`` for it (0: no validation, the last step is kept).
        out: checkpoint folder (written atomically; the JSON records config, classes and history),
            also holding ``metrics.csv`` (one row per step) and with ``cfg.tensorboard`` TensorBoard files.
        resume: continue the run whose newest complete checkpoint is in ``out`` (same data, classes and
            options; see ``train/resume.py``).
        overwrite: replace a checkpoint already in ``out`` (otherwise refused). ``out`` is locked for the
            run: a second run on it is refused.
        stage_one: for the frozen scheme, an already trained Backbone (Noisy) to reuse (its backbone is
            shared, not copied), so one stage one serves many methods.
        print_evaluations: print one line per evaluation and each stage's start (unless ``cfg.quiet``).
        on_evaluation: called with each evaluation's validation scores and the part being trained, in eval
            mode (tuning's pruner; a study of how selection rules fare); raising stops the run.
        checked: the data were checked by a calling ``fit`` (a candidate of ``train/choice.py``): its
            warnings are not repeated and nothing more is chosen on validation.
        features: for the frozen scheme, the features of ``stage_one``'s backbone on these very ``train`` and
            ``eval_set``, computed by a calling ``fit`` (``features.frozen_features``): not extracted again.

    For multi-label data with a validation set, per-class thresholds on g that maximise F1 there are
    chosen after training and recorded (``FitResult.thresholds``, ``checkpoint.json``).
    """
    train, eval_set = drop_unreadable(train, eval_set, cfg)  # skip_unreadable: once per set (LabelledSet.decoded)
    check_task(train, warn if current().is_main and not checked else lambda line: None)  # quiet never hides these
    if eval_set is None and cfg.val_fraction > 0:
        train, eval_set = split_validation(train, cfg.val_fraction, cfg.seed)
    check_method_data(train, cfg)  # before any extraction or write into out
    check_train_blocks(cfg, train)
    from_data, from_method, used = left_to_data(cfg), cfg.unset(), cfg.left_to_method()
    choices: list = []
    if resume:
        cfg = resumed_choices(cfg, out)
    elif not checked:  # each candidate: this fit, in memory and silent, sharing one stage one and its features
        note = echo if print_evaluations and not cfg.quiet and current().is_main else lambda line: None
        try:  # the choice extracts the features: a file that does not decode stops it as it stops a run
            cfg, choices, stage_one, shared = choose_on_validation(cfg, train, eval_set, stage_one, lambda c, s1, f: fit(
                train, c, eval_set=eval_set, stage_one=s1, print_evaluations=False, checked=True, features=f), note)
        except UnreadableImage as e:
            raise with_skip_hint(e) from None
        features = shared if shared is not None else features
    used = tuple(n for n in used if getattr(cfg, n) is None)  # not those chosen on validation
    cfg = cfg.resolved().replace(batch_size=cfg.batch_size or auto_batch_size(len(train)))  # recorded as chosen,
    # so --resume and the checkpoint's config see the values the run trained with
    folder = Path(out) if out is not None else None
    with OutputLock(folder) if folder is not None and current().is_main else nullcontext():
        state = resume_state(folder, cfg, train) if resume else None
        run = Run(train, cfg, eval_set, folder, print_evaluations, on_evaluation)
        run.from_data, run.from_method = from_data, from_method
        run.choices = [c.to_dict() for c in choices]
        for line in (defaults_line(cfg, used) if used else None, *(c.line(cfg.method) for c in choices),
                     small_validation(eval_set)):
            if line and state is None:
                run.log.note(line)
        if folder is not None and run.ctx.is_main and state is None:
            prepare_output(folder, overwrite=overwrite)
            write_config(cfg.to_dict(), folder / "config.yaml")  # --resume keeps the run's own config
        if state is not None:
            run.history, run.overrides = state["meta"]["history"], state["overrides"]
            run.from_method = tuple(state["meta"].get("method_defaults", ()))  # the first sitting's unset fields
        run.log.begin(run.history)
        try:
            result = (_fit_end_to_end(run, state) if cfg.scheme == "end-to-end"
                      else _fit_frozen(run, state, stage_one, features))
        except UnreadableImage as e:  # one line: the file, and the option that trains without such files
            raise with_skip_hint(e) from None
        finally:
            run.log.close()
    result.eval_set, result.meta = run.eval_set, run.final
    return result


def _fit_end_to_end(run: Run, state: Optional[dict]) -> FitResult:
    cfg = run.cfg
    model = state["model"] if state else with_method(build_backbone(cfg, run.train), cfg, run.train.num_classes)
    pre = model.backbone.preprocess
    if cfg.train_blocks:  # the top of the backbone and the method on cached trunk activations
        train_top(run, model, "end-to-end", cfg.steps, state)
    else:
        run.stage(model, model, run.train.images, None if run.eval_set is None else run.eval_set.images, pre,
                  "end-to-end", cfg.steps, state)
    return FitResult(model.cpu(), pre, run.history)


def _fit_frozen(run: Run, state: Optional[dict], stage_one: Optional[Classifier],
                features: Optional[SharedFeatures] = None) -> FitResult:
    cfg, k = run.cfg, run.train.num_classes
    in_heads = bool(state) and state["stage"].startswith("heads")
    acts = None  # the trunk activations stage one trained the top on (--train-blocks)
    if in_heads:
        model = state["model"]
        backbone = model.backbone
    else:
        if stage_one is None:
            stage_one = state["model"] if state else stage_one_model(build_backbone(cfg, run.train), k)
            if cfg.backbone_steps and cfg.train_blocks:
                acts = train_top(run, stage_one, "backbone", cfg.backbone_steps, state)
            elif cfg.backbone_steps and not run.train.holds_features:
                run.log.note(f"backbone stage: fine-tuning the whole {cfg.backbone} backbone on the noisy labels for "
                             f"up to {cfg.backbone_steps} steps (Backbone (Noisy)) before training the heads on its "
                             "frozen features; --backbone-steps 0 keeps the backbone as created")
                run.stage(stage_one, stage_one, run.train.images, None, stage_one.backbone.preprocess,
                          "backbone", cfg.backbone_steps, state)
        backbone = stage_one.backbone
        if get_method_spec(cfg.method).is_backbone_noisy and cfg.backbone_steps and not run.train.holds_features:
            return FitResult(stage_one.cpu(), backbone.preprocess, run.history, stage_one)
        model = with_method(backbone, cfg, k)
    broadcast_state(backbone, run.ctx)  # the ranks extract (and key the cache) with one backbone
    freeze(backbone)
    pre = backbone.preprocess
    if features is not None and features.serves(backbone, run.train, run.eval_set):  # a choice's, shared
        feats, eval_feats = features.train, features.eval
    else:
        feats, eval_feats = heads_features(run, backbone, acts)
    heads = Classifier(nn.Identity(), model.method)
    run.stage(model, heads, feats, eval_feats, pre, "heads", cfg.steps, state if in_heads else None)
    return FitResult(model.cpu(), pre, run.history, stage_one)

"""Fitting, knowing no method by name: the two schemes of the paper (sec. 3.3) and resume.

- ``end-to-end``: backbone and method trained together on mixed clean:noisy batches;
- ``frozen``: stage one trains the backbone with a linear classifier on the noisy labels
  (Backbone (Noisy)); the backbone is then frozen, its features computed once, and the method's
  heads train on those cached features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import NamedTuple

from torch import nn

from ..checkpoint import write_config
from ..config import TrainConfig
from ..data.decode import UnreadableImage, drop_unreadable, with_skip_hint
from ..data.labelset import LabelledSet, split_validation
from ..distributed import broadcast_state, current
from ..features import SharedFeatures, freeze
from ..methods import get_method_spec
from ..progress import echo, warn
from ..safe_io import OutputLock
from .checks import check_method_data, check_task, small_validation
from .choice import Choice, choose_on_validation, resumed_choices
from .length import auto_batch_size, defaults_line, left_to_data
from .model import Classifier, FitResult, build_backbone, stage_one_model, with_method
from .partial import check_train_blocks, heads_features, train_top
from .resume import prepare_output, resume_state
from .run import Run


class Unset(NamedTuple):
    """What the user left unset, as the run's first lines and its checkpoint say: the options left to the data
    (batch, length), the fields holding the method's defaults, and those the first line names."""

    from_data: tuple[str, ...]
    from_method: tuple[str, ...]
    used: tuple[str, ...]

    @classmethod
    def of(cls, cfg: TrainConfig) -> Unset:
        return cls(left_to_data(cfg), cfg.unset(), cfg.left_to_method())


def fit(
    train: LabelledSet,
    cfg: TrainConfig,
    *,
    eval_set: LabelledSet | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    stage_one: Classifier | None = None,
    print_evaluations: bool = True,
    on_evaluation: Callable[[dict, nn.Module], None] | None = None,
) -> FitResult:
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

    For multi-label data with a validation set, per-class thresholds on g that maximise F1 there are
    chosen after training and recorded (``FitResult.thresholds``, ``checkpoint.json``). Fields the method
    chooses on validation (``train/choice.py``) are chosen first, each candidate trained by ``train_checked``.
    """
    train, eval_set = checked_data(train, cfg, eval_set)
    unset, features = Unset.of(cfg), None
    choices: list[Choice] = []
    if resume:
        cfg = resumed_choices(cfg, out)
    else:  # each candidate: the run in memory and silent, sharing one stage one and its features
        note = echo if print_evaluations and not cfg.quiet and current().is_main else lambda line: None
        try:  # the choice extracts the features: a file that does not decode stops it as it stops a run
            cfg, choices, stage_one, features = choose_on_validation(
                cfg,
                train,
                eval_set,
                stage_one,
                lambda c, s1, f: train_checked(
                    train, c, eval_set, Unset.of(c), stage_one=s1, print_evaluations=False, features=f
                ),
                note,
            )
        except UnreadableImage as e:
            raise with_skip_hint(e) from None
    return train_checked(
        train,
        cfg,
        eval_set,
        unset,
        choices,
        out=out,
        resume=resume,
        overwrite=overwrite,
        stage_one=stage_one,
        print_evaluations=print_evaluations,
        on_evaluation=on_evaluation,
        features=features,
    )


def checked_data(
    train: LabelledSet, cfg: TrainConfig, eval_set: LabelledSet | None
) -> tuple[LabelledSet, LabelledSet | None]:
    """``train`` and the validation set as the run uses them, refused before any extraction or write when the
    method or ``--train-blocks`` cannot use them: without the files that do not decode (``skip_unreadable``),
    warned about (degenerate tasks), with a share of the clean set held out when no validation set is given."""
    train, eval_set = drop_unreadable(train, eval_set, cfg)  # skip_unreadable: once per set (LabelledSet.decoded)
    check_task(train, warn if current().is_main else lambda line: None)  # quiet never hides these
    if eval_set is None and cfg.val_fraction > 0:
        train, eval_set = split_validation(train, cfg.val_fraction, cfg.seed)
    check_method_data(train, cfg)
    check_train_blocks(cfg, train)
    return train, eval_set


def train_checked(
    train: LabelledSet,
    cfg: TrainConfig,
    eval_set: LabelledSet | None,
    unset: Unset,
    choices: Sequence[Choice] = (),
    *,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    stage_one: Classifier | None = None,
    print_evaluations: bool = True,
    on_evaluation: Callable[[dict, nn.Module], None] | None = None,
    features: SharedFeatures | None = None,
) -> FitResult:
    """``fit`` on data ``checked_data`` returned, nothing left to choose on validation: the config resolved,
    ``out`` locked and prepared (or resumed), the scheme run. ``features``: for the frozen scheme, the features
    of ``stage_one``'s backbone on these very ``train`` and ``eval_set`` (a choice's), not extracted again."""
    used = tuple(n for n in unset.used if getattr(cfg, n) is None)  # not those chosen on validation
    cfg = cfg.resolved().replace(batch_size=cfg.batch_size or auto_batch_size(len(train)))  # recorded as chosen,
    # so --resume and the checkpoint's config see the values the run trained with
    folder = Path(out) if out is not None else None
    with OutputLock(folder) if folder is not None and current().is_main else nullcontext():
        state = resume_state(folder, cfg, train) if resume else None
        run = Run(train, cfg, eval_set, folder, print_evaluations, on_evaluation)
        record = run.record
        record.from_data, record.from_method, record.choices = (
            unset.from_data,
            unset.from_method,
            [c.to_dict() for c in choices],
        )
        for line in (
            defaults_line(cfg, used) if used else None,
            *(c.line(cfg.method) for c in choices),
            small_validation(eval_set),
        ):
            if line and state is None:
                run.log.note(line)
        if folder is not None and run.ctx.is_main and state is None:
            prepare_output(folder, overwrite=overwrite)
            write_config(cfg.to_dict(), folder / "config.yaml")  # --resume keeps the run's own config
        if state is not None:
            record.history, record.overrides = state["meta"]["history"], state["overrides"]
            record.from_method = tuple(state["meta"].get("method_defaults", ()))  # the first sitting's unset fields
        run.log.begin(record.history)
        try:
            result = (
                _fit_end_to_end(run, state)
                if cfg.scheme == "end-to-end"
                else _fit_frozen(run, state, stage_one, features)
            )
        except UnreadableImage as e:  # one line: the file, and the option that trains without such files
            raise with_skip_hint(e) from None
        finally:
            run.log.close()
    result.eval_set, result.meta = run.eval_set, record.final
    return result


def _fit_end_to_end(run: Run, state: dict | None) -> FitResult:
    cfg = run.cfg
    model = state["model"] if state else with_method(build_backbone(cfg, run.train), cfg, run.train.num_classes)
    pre = model.backbone.preprocess
    if cfg.train_blocks:  # the top of the backbone and the method on cached trunk activations
        train_top(run, model, "end-to-end", cfg.steps, state)
    else:
        run.stage(
            model,
            model,
            run.train.images,
            None if run.eval_set is None else run.eval_set.images,
            pre,
            "end-to-end",
            cfg.steps,
            state,
        )
    return FitResult(model.cpu(), pre, run.history)


def _fit_frozen(
    run: Run, state: dict | None, stage_one: Classifier | None, features: SharedFeatures | None = None
) -> FitResult:
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
                run.log.note(
                    f"backbone stage: fine-tuning the whole {cfg.backbone} backbone on the noisy labels for "
                    f"up to {cfg.backbone_steps} steps (Backbone (Noisy)) before training the heads on its "
                    "frozen features; --backbone-steps 0 keeps the backbone as created"
                )
                run.stage(
                    stage_one,
                    stage_one,
                    run.train.images,
                    None,
                    stage_one.backbone.preprocess,
                    "backbone",
                    cfg.backbone_steps,
                    state,
                )
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

"""Values chosen on the validation set when the user leaves them unset (``MethodSpec.chosen_on_val``).

One value can be right for one kind of noise and wrong for another: for the paper's method, alpha (the
weight of L_clean) at the paper's 0.2 is best on machine-annotated labels, while lighter human noise and
tile-labelled mosaics gain from 0.02-0.05 (the figures: benchmarks/RESULTS.md, "alpha on validation").
So a run that leaves such a field unset trains the heads once per candidate on frozen features, keeps the
candidate whose kept weights score best on validation (on a tie the earlier one: the method's default
first), and then trains its own run with it. Validation comes from the clean budget, never the test set.

The backbone is the same for every candidate and for the final run (as created, or a given stage one), so
its features of the training and validation sets are computed once, before the first candidate, and handed
to each (``features.SharedFeatures``): the choice costs heads phases only, as the module's premise says.
It says what it chooses when it starts and each candidate's score as that candidate ends, like the phases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..config import TrainConfig
from ..distributed import current, resolve_device
from ..features import SharedFeatures, frozen_features
from ..methods import get_method_spec
from .evaluate import evaluate
from .model import Classifier, build_backbone, stage_one_model
from .selection import metric_name

# (config, shared stage one, its shared features) -> FitResult, in memory and silent
TrainOne = Callable[[TrainConfig, Any, SharedFeatures], Any]
Note = Callable[[str], None]  # prints a line about the run (or nothing, for a quiet one)


@dataclass(frozen=True)
class Choice:
    """What validation chose for one field: the candidates in order, each one's validation score (the
    weights its run kept, ``metric``), and the value kept."""

    name: str
    candidates: tuple[Any, ...]
    scores: tuple[float, ...]
    chosen: Any
    metric: str

    def line(self, method: str) -> str:
        """The line a run starts with."""
        scored = ", ".join(f"{c:g}: {s:.4f}" for c, s in zip(self.candidates, self.scores))
        return (
            f"{method}: {self.name} {self.chosen:g} chosen on validation ({self.metric} of each candidate's "
            f"kept weights: {scored}; a tie keeps the earlier); --{self.name.replace('_', '-')} sets it"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "candidates": list(self.candidates), "scores": list(self.scores)}


def pending(cfg: TrainConfig, eval_set: Any, train: Any = None, stage_one: Any = None) -> tuple[str, ...]:
    """The fields of ``cfg.method`` to choose on validation: unset, with a validation set, and only where a
    candidate costs a heads phase: the frozen scheme on features, with ``--backbone-steps 0`` or a given
    stage one. The end-to-end scheme and a backbone stage trained in this run (a candidate would retrain
    the backbone, or train it without its checkpoints) and a torchrun launch keep the method's default."""
    spec = get_method_spec(cfg.method)
    if not spec.chosen_on_val or eval_set is None or len(eval_set) == 0 or not eval_set.has_clean.any():
        return ()
    trains_backbone = stage_one is None and cfg.stage_one_steps() and not getattr(train, "holds_features", True)
    if cfg.scheme != "frozen" or trains_backbone or current().enabled:
        return ()
    return tuple(n for n in spec.chosen_on_val if getattr(cfg, n) is None)


def choose_on_validation(
    cfg: TrainConfig, train: Any, eval_set: Any, stage_one: Any, train_one: TrainOne, note: Note = lambda line: None
) -> tuple[TrainConfig, list[Choice], Any, SharedFeatures | None]:
    """``cfg`` with every ``pending`` field set to its best candidate on ``eval_set``, the choices, the stage
    one the candidates shared (the backbone as created, built once, when none was given) and the features
    they shared (None when nothing was chosen), for the final run to train on. ``note`` gets a line when
    the choice starts and one per candidate as it ends (value, validation score)."""
    names = pending(cfg, eval_set, train, stage_one)
    if not names:
        return cfg, [], stage_one, None
    spec, device = get_method_spec(cfg.method), resolve_device(cfg.device)
    if stage_one is None:  # what each candidate's fit would build: seeded, so the same backbone
        stage_one = stage_one_model(build_backbone(cfg.resolved(), train), train.num_classes)
    for name in names:
        note(start_line(cfg.method, name, spec.chosen_on_val[name], int(eval_set.has_clean.sum())))
    shared = frozen_features(
        stage_one.backbone,
        train,
        eval_set,
        device=device,
        cache_dir=cfg.cache_dir,
        num_workers=cfg.num_workers,
        quiet=cfg.quiet,
    )
    choices: list[Choice] = []
    metric = metric_name(cfg.val_metric, eval_set)
    for name in names:
        candidates = tuple(spec.chosen_on_val[name])
        scores = []
        for i, value in enumerate(candidates):
            result = train_one(cfg.replace(**{name: value}, quiet=True, tensorboard=False), stage_one, shared)
            scores.append(_score(result, shared, metric, device))
            note(f"{cfg.method}: {name} {value:g} ({i + 1}/{len(candidates)}): validation {metric} {scores[-1]:.4f}")
        best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        choices.append(Choice(name, candidates, tuple(scores), candidates[best], metric))
        cfg = cfg.replace(**{name: candidates[best]})
    return cfg, choices, stage_one, shared


def _score(result: Any, shared: SharedFeatures, metric: str, device: Any) -> float:
    """A candidate's ``metric`` on validation: its kept heads on the shared validation features, those its
    phase selected on (on a CPU without a cache, bit for bit the full model's score on the images)."""
    heads = Classifier(nn.Identity(), result.model.method)
    return float(evaluate(heads, shared.eval_data, result.preprocess, device=device, images=shared.eval)[metric])


def start_line(method: str, name: str, candidates: tuple[Any, ...], n_val: int) -> str:
    """The line a choice starts with: what it chooses, among what, on how many validation images."""
    values = ", ".join(f"{c:g}" for c in candidates)
    return (
        f"{method}: choosing {name} on validation: the heads train once with each of {len(candidates)} "
        f"candidates ({values}) on the frozen features, computed once, and are scored on {n_val} validation "
        f"images; --{name.replace('_', '-')} skips it"
    )


def resumed_choices(cfg: TrainConfig, out: str | Path | None) -> TrainConfig:
    """``--resume`` of a run that chose on validation: the fields still unset take the values its first
    sitting chose (recorded in its config), so the choice is not made again."""
    from .resume import saved_config

    names = get_method_spec(cfg.method).chosen_on_val
    unset = [n for n in names if getattr(cfg, n) is None]
    if not unset or out is None:
        return cfg
    saved = saved_config(out)
    return cfg.replace(**{n: saved[n] for n in unset if saved.get(n) is not None})

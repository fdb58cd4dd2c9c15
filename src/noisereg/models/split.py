"""A backbone cut in two: the frozen trunk below the cut, and the top (its last K blocks and head) that trains.

``split_backbone(backbone, k)`` returns two views of one ``Backbone``: they share its modules, never copy
them, so training the top trains the backbone itself, and the model saved afterwards is the ordinary
``Classifier(backbone, method)`` that ``evaluate``, ``predict`` and ``export`` run on image files. In eval
mode ``top(trunk(x)) == backbone(x)``. The trunk runs once over the images into the feature cache (its
float16 activations, ``features.cached_features``); the top then trains on those activations at a
fraction of the whole network's cost per step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import UserError
from .units import Unit, Units, backbone_units, run_units


class Trunk(nn.Module):
    """The frozen part below the cut: preprocessed images (N, C, S, S) -> activations (N, C', H', W').

    Its own modules are registered (``parts``) so that their weights, and ``cut``, key the cache of its
    activations; ``output_shape`` is (C', H', W') at the backbone's image size.
    """

    def __init__(self, backbone: nn.Module, units: list[Unit], cut: dict[str, Any]) -> None:
        super().__init__()
        self.parts = nn.ModuleList([m for u in units for m in u.modules])
        self._units = units
        self.name, self.preprocess, self.cut = backbone.name, backbone.preprocess, cut
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_units(self._units, x)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """(C', H', W') of one image's activations, measured once on a blank image in eval mode."""
        if self._shape is None:
            pre, was = self.preprocess, [m.training for m in self.parts]
            self.parts.eval()
            with torch.no_grad():
                shape = self(torch.zeros(1, pre.channels, pre.image_size, pre.image_size)).shape[1:]
            for m, mode in zip(self.parts, was):
                m.train(mode)
            self._shape = tuple(int(s) for s in shape)
        return self._shape


class Top(nn.Module):
    """The trained part above the cut: trunk activations (N, C', H', W') -> features f(x) (N, D).

    The backbone's ``body`` is registered under the name ``Backbone`` gives it, so ``Classifier(top, method)``
    has exactly the state-dict keys of ``Classifier(backbone, method)`` (selection snapshots and checkpoints
    match); the trunk's parameters in it are frozen by ``split_backbone``. In train mode only the top's
    modules train; with ``frozen_bn`` its BatchNorm layers stay in eval mode (running statistics frozen,
    their scale and shift still trained): the policy and why are in ``train/partial.py``
    (``top_batchnorm_frozen``).
    """

    def __init__(self, backbone: nn.Module, units: list[Unit], *, frozen_bn: bool) -> None:
        super().__init__()
        self.body = backbone.body
        self._units, self._trained = units, [m for u in units for m in u.modules]
        self.frozen_bn = frozen_bn
        self.name, self.feature_dim, self.preprocess = backbone.name, backbone.feature_dim, backbone.preprocess
        self.cut: dict[str, Any] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(run_units(self._units, x), 1)

    def train(self, mode: bool = True) -> Top:
        self.training = mode
        self.body.train(False)  # the trunk never trains
        for m in self._trained:
            m.train(mode)
            for sub in m.modules() if mode and self.frozen_bn else ():
                if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                    sub.eval()
        return self


def count_blocks(backbone: nn.Module) -> int:
    """How many blocks (timm: stages) ``--train-blocks`` can train in ``backbone``."""
    return len(backbone_units(backbone).blocks)


def describe_top(backbone: nn.Module, k: int) -> str:
    """The trained part in words: ``the last 5 of 16 blocks (block 11 to block 15) and the head convolution``."""
    units = backbone_units(backbone)
    n, kind = len(units.blocks), units.kind
    names = [u.name for u in units.blocks[n - k :]]
    span = names[0] if k == 1 else f"{names[0]} to {names[-1]}"
    return f"the last {k} of {n} {kind} ({span}) and the {units.head.name}"


def split_backbone(backbone: nn.Module, k: int, *, frozen_bn: bool = False) -> tuple[Trunk, Top]:
    """(trunk, top) of ``backbone`` with its last ``k`` blocks in the top; the trunk's parameters are frozen,
    the top's trainable.

    Raises:
        UserError: ``k`` outside 1..the number of blocks (naming the maximum); a backbone that cannot be cut.
    """
    units: Units = backbone_units(backbone)
    n = len(units.blocks)
    if not 1 <= k <= n:
        raise UserError(
            f"--train-blocks {k}: {backbone.name} has {n} {units.kind}, so at most {n} can train "
            f"(0 trains the whole backbone)"
        )
    below, above = [units.stem, *units.blocks[: n - k]], [*units.blocks[n - k :], units.head]
    cut = {"train_blocks": k, "of": n}
    trunk, top = Trunk(backbone, below, cut), Top(backbone, above, frozen_bn=frozen_bn)
    top.cut = {**cut, "reads": "float16 trunk activations"}  # keys the cache of the features it computes
    for p in trunk.parameters():
        p.requires_grad_(False)
    for m in top._trained:
        for p in m.parameters():
            p.requires_grad_(True)
    return trunk, top

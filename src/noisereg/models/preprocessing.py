"""The preprocessing a torchvision or timm backbone's own weights expect, as a ``Preprocess``.

``create_backbone`` feeds every torchvision and timm model as its config says (resize, centre crop, mean,
std, interpolation), so features match what the weights were trained on; ``--image-size`` changes the crop
side and keeps the model's crop ratio.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn
from torchvision.transforms import InterpolationMode

from ..data.images import Preprocess


def _scaled(crop: int, resize_over_crop: float, interpolation: str, mean: Any, std: Any, image_size: int) -> Preprocess:
    """A model's own preprocessing (centre ``crop``, the short side resized to ``crop *
    resize_over_crop`` first), with ``image_size`` (> 0, ``--image-size``) replacing the crop side
    while keeping the model's crop ratio."""
    side = image_size or crop
    modes = {m.value for m in InterpolationMode}
    return Preprocess(
        side,
        3,
        tuple(float(v) for v in mean),
        tuple(float(v) for v in std),
        resize_size=math.floor(side * resize_over_crop + 1e-6),
        interpolation=interpolation if interpolation in modes else "bilinear",
    )


def torchvision_preprocess(name: str, image_size: int = 0) -> Preprocess:
    """The preprocessing of torchvision model ``name``'s default weights (``weights.transforms()``: resize,
    crop, mean, std, interpolation), whether or not they are loaded (``--weights`` files and
    ``--no-pretrained`` runs are fed alike); ImageNet's mean and std at 224 px for a model without
    weights."""
    import torchvision

    try:
        t = torchvision.models.get_model_weights(name).DEFAULT.transforms()
        crop, resize = int(t.crop_size[0]), int(t.resize_size[0])
        mean, std, mode = t.mean, t.std, InterpolationMode(t.interpolation).value
    except (ValueError, KeyError, AttributeError, TypeError, IndexError):
        return Preprocess(image_size or 224)
    return _scaled(crop, resize / crop, mode, mean, std, image_size)


def timm_preprocess(model: nn.Module, image_size: int = 0) -> Preprocess:
    """The preprocessing in a timm model's own config (``timm.data.resolve_model_data_config``: input
    size, crop_pct, mean, std, interpolation), as timm's eval transform applies it: the short side
    resized to floor(size / crop_pct), then a centre crop."""
    from timm.data import resolve_model_data_config

    c = resolve_model_data_config(model=model)
    return _scaled(
        int(c["input_size"][-1]),
        1.0 / float(c.get("crop_pct") or 1.0),
        str(c.get("interpolation")),
        c["mean"],
        c["std"],
        image_size,
    )

"""ImageNet classifiers used as machine annotators (the paper's noisy-label source for MS COCO).

The paper uses an ImageNet Inception V3; any torchvision classifier name (``inception_v3``,
``resnet50``, ...), ``timm/NAME`` or the offline ``efficientnet-lite0/1/2`` works, with ImageNet
weights downloaded by torchvision/timm or read from a local file (``weights``).
"""

from __future__ import annotations

from torch import nn

from ..data.images import Preprocess
from ..errors import UserError
from .backbones import LITE_VARIANTS, TF_MEAN, TF_STD, efficientnet_lite, load_state_dict_file, pretrained_download


def create_imagenet_classifier(
    name: str, *, weights: str | None = None, image_size: int = 0
) -> tuple[nn.Module, Preprocess]:
    """(model mapping images to 1000 ImageNet logits, its preprocessing)."""
    if name in LITE_VARIANTS:  # offline: Lite0 installs with noisereg, Lite1/Lite2 with the ``lite`` extra
        return efficientnet_lite(name, weights=weights, with_head=True).eval(), Preprocess(
            image_size or LITE_VARIANTS[name], 3, TF_MEAN, TF_STD
        )
    if name.startswith("timm/"):
        try:
            import timm
        except ImportError:
            raise UserError(f"annotator '{name}' needs timm: pip install 'noisereg[timm]'") from None
        with pretrained_download(name):
            model = timm.create_model(
                name[5:], pretrained=True, pretrained_cfg_overlay={"file": weights} if weights else None
            )
        cfg = model.pretrained_cfg
        size = image_size or int(cfg.get("input_size", (3, 224, 224))[-1])
        return model.eval(), Preprocess(size, 3, tuple(cfg.get("mean")), tuple(cfg.get("std")))
    import torchvision

    if name.lower() not in torchvision.models.list_models():
        raise UserError(
            f"unknown annotator '{name}': expected efficientnet-lite0/1/2, a torchvision classifier "
            "name (e.g. inception_v3) or timm/NAME"
        )
    # a local file overwrites every weight: skip Inception/GoogLeNet's slow default initialisation
    skip_init = {"init_weights": False} if weights and name.lower() in ("inception_v3", "googlenet") else {}
    with pretrained_download(name):
        model = torchvision.models.get_model(name.lower(), weights=None if weights else "DEFAULT", **skip_init)
    if weights:
        model.load_state_dict(load_state_dict_file(weights))
    if getattr(model, "fc", None) is not None and getattr(model.fc, "out_features", 1000) != 1000:
        raise UserError(f"annotator '{name}' does not output the 1000 ImageNet classes")
    return model.eval(), Preprocess(image_size or (299 if name.lower() == "inception_v3" else 224))

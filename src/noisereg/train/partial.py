"""Partial fine-tuning (``--train-blocks K``): the top of the backbone trains on cached trunk activations.

The backbone is cut so that only its last K blocks and its head train (``models/split.py``); the trunk
below the cut is frozen and run once over the training and validation images into the feature cache
(float16 activations, the cut in the key). The top then trains on those activations as heads train on
cached features: Backbone (Noisy) in the frozen scheme's stage one, every method's own loss in the
end-to-end scheme. The model trained and saved is the ordinary ``Classifier(backbone, method)``.
"""

from __future__ import annotations

from typing import Any

from ..config import TrainConfig
from ..data.labelset import LabelledSet
from ..errors import UserError
from ..features import cached_features, freeze
from ..models.backbones import Backbone, create_backbone
from ..models.split import Top, Trunk, count_blocks, describe_top, split_backbone
from .model import Classifier, in_chans_of

UNTRAINED = ("small-cnn",)  # backbones created with random weights (unless --weights gives some)


def top_batchnorm_frozen(cfg: TrainConfig) -> bool:
    """Whether the top's BatchNorm layers keep their running statistics (eval mode) while the top trains.

    Yes for a backbone whose weights were loaded (ImageNet or ``--weights``), the usual practice when
    fine-tuning part of a pretrained network on small batches (torchvision's detection references and
    detectron2 freeze BatchNorm statistics): a batch of 32-128 images mixed 1:9 clean:noisy gives a noisy
    estimate of them, the pretrained statistics are what the trained weights expect, and the top then
    computes the same function in training as in evaluation, so validation scores what trains. Their
    scale and shift still train. No for a backbone trained from scratch (``small-cnn``, ``--no-pretrained``):
    its running statistics are the initial (0, 1), which only batch statistics can replace.
    """
    return bool(cfg.weights) or (cfg.pretrained and cfg.backbone not in UNTRAINED)


def check_train_blocks(cfg: TrainConfig, data: LabelledSet) -> None:
    """Refuse ``--train-blocks K`` that the backbone cannot honour, before any work: precomputed features,
    an architecture that cannot be cut, K above its number of blocks (the message names the maximum).
    Builds the backbone's structure only (no weights loaded or downloaded)."""
    if not cfg.train_blocks:
        return
    if data.holds_features:
        raise UserError("--train-blocks needs images: precomputed --features have no blocks to train")
    backbone = create_backbone(cfg.backbone, pretrained=False, in_chans=in_chans_of(data), image_size=cfg.image_size)
    n = count_blocks(backbone)
    if cfg.train_blocks > n:
        raise UserError(
            f"--train-blocks {cfg.train_blocks}: {cfg.backbone} has {n} blocks, so at most {n} can "
            "train (0 trains the whole backbone)"
        )


def split_for_run(cfg: TrainConfig, backbone: Backbone) -> tuple[Trunk, Top]:
    """The run's (trunk, top) of ``backbone``: its last ``cfg.train_blocks`` blocks train, BatchNorm statistics
    as ``top_batchnorm_frozen`` says."""
    return split_backbone(backbone, cfg.train_blocks, frozen_bn=top_batchnorm_frozen(cfg))


def activations(run: Any, trunk: Trunk) -> tuple[Any, Any | None]:
    """The trunk's float16 activations (N, C, H, W) of the training and validation images: from the cache
    (``--cache-dir``) when its key (trunk weights, cut, preprocessing, images) matches, else computed once."""
    cfg = run.cfg
    opts = dict(device=run.device, cache_dir=cfg.cache_dir, quiet=cfg.quiet, num_workers=cfg.num_workers)
    train = cached_features(trunk, run.train, **opts)
    return train, None if run.eval_set is None else cached_features(trunk, run.eval_set, **opts)


def train_top(run: Any, model: Classifier, stage: str, total: int, state: dict | None) -> tuple[Any, Any]:
    """Train ``model``'s top (its backbone's last K blocks and head) with its method on the cached trunk
    activations through ``run.stage``: validation on the clean set chooses the step kept and stops the phase
    early, as for heads; the checkpoint is ``model``'s. Returns the activations (train, validation)."""
    trunk, top = split_for_run(run.cfg, model.backbone)
    acts, eval_acts = activations(run, trunk)
    if state is None:
        kept = (
            "no validation set: the last step is kept"
            if run.eval_set is None
            else f"the clean validation set chooses the step kept ({run.metric} of what trains) and may stop it early"
        )
        run.log.note(
            f"{stage} stage: training the top of {model.backbone.name}, "
            f"{describe_top(model.backbone, run.cfg.train_blocks)}, on the cached activations of the "
            f"frozen trunk below it ({'x'.join(map(str, acts.shape[1:]))} float16 per image; BatchNorm "
            f"statistics {'frozen' if top.frozen_bn else 'updated'}); {kept}"
        )
    run.stage(model, Classifier(top, model.method), acts, eval_acts, model.backbone.preprocess, stage, total, state)
    return acts, eval_acts


def heads_features(run: Any, backbone: Backbone, acts: tuple[Any, Any] | None = None) -> tuple[Any, Any | None]:
    """Features f(x) (N, D) of the training and validation images for the frozen scheme's heads, from the
    cache in ``--cache-dir`` when its key matches, else computed once. With ``--train-blocks`` the frozen top
    computes them from the trunk activations (``acts``: those ``train_top`` used; else from the cache or
    the trunk), so the whole network never runs over the images again."""
    cfg = run.cfg
    opts = dict(device=run.device, cache_dir=cfg.cache_dir, quiet=cfg.quiet, num_workers=cfg.num_workers)
    if not cfg.train_blocks:
        return cached_features(backbone, run.train, **opts), None if run.eval_set is None else cached_features(
            backbone, run.eval_set, **opts
        )
    trunk, top = split_for_run(cfg, backbone)
    freeze(backbone)
    acts = acts or activations(run, trunk)
    feats = cached_features(top, run.train, inputs=acts[0], **opts)
    eval_feats = None if run.eval_set is None else cached_features(top, run.eval_set, inputs=acts[1], **opts)
    return feats, eval_feats

"""Experiment tasks by name: each builds (clean fraction, seed) -> ``Task`` and says how to train on it.

``digits`` / ``digits-multi``: scikit-learn's digit scans (no download); ``cifar10n`` /
``cifar10n-multi``: CIFAR-10 with CIFAR-10N human labels on frozen ImageNet features (or images);
``voc``: PASCAL VOC 2007 photos labelled by an ImageNet classifier (the paper's protocol), on frozen
features; ``manifest``: any manifest. A new dataset is one module plus one entry in ``TASKS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry is read by the CLI's parser, which must not import torch
    import torch

    from .base import Task

Builder = Callable[[float, int], "Task"]


@dataclass(frozen=True)
class TaskSpec:
    """How to build a task from experiment options (``opts``: data_root, labels, noise, manifest,
    feature_backbone, feature_image_size, features, mosaics, annotator, annotator_image_size, cache_dir,
    out) and its training defaults."""

    builder: Callable[[Any, torch.device], Builder]
    default_train: Callable[[Any], dict[str, Any]]


def _cache(opts: Any) -> str:
    return opts.cache_dir or str(Path(opts.out) / "cache")


def _digits(multi: bool) -> Callable[[Any, torch.device], Builder]:
    def make(opts: Any, device: torch.device) -> Builder:
        from .digits import digits_multi_label, digits_single_label

        fn = digits_multi_label if multi else digits_single_label
        return lambda f, s: fn(clean_fraction=f, seed=s)

    return make


def _cifar(multi: bool) -> Callable[[Any, torch.device], Builder]:
    def make(opts: Any, device: torch.device) -> Builder:
        from .cifar10n import cifar10n_builder

        return cifar10n_builder(
            opts.data_root,
            opts.labels,
            noise=opts.noise,
            multi_label=multi,
            backbone=opts.feature_backbone,
            image_size=opts.feature_image_size,
            mosaics=opts.mosaics,
            cache_dir=_cache(opts),
            device=device,
            features=opts.features,
            annotator=getattr(opts, "annotator", "efficientnet-lite2"),
            annotator_image_size=getattr(opts, "annotator_image_size", 0) or 160,
        )

    return make


def _voc(opts: Any, device: torch.device) -> Builder:
    from .voc import voc_builder

    return voc_builder(
        opts.data_root,
        backbone=opts.feature_backbone,
        image_size=opts.feature_image_size,
        annotator=getattr(opts, "annotator", "efficientnet-lite2"),
        annotator_image_size=getattr(opts, "annotator_image_size", 0),
        cache_dir=_cache(opts),
        device=device,
    )


def _manifest(opts: Any, device: torch.device) -> Builder:
    from .manifest import manifest_builder

    return manifest_builder(opts.manifest, opts.data_root)


def _cifar_train(opts: Any) -> dict[str, Any]:
    if not opts.features:  # a backbone trained end to end on the images
        return dict(scheme="end-to-end", backbone="small-cnn", image_size=32, hidden=256, steps=2000, lr=1e-3)
    return dict(scheme="frozen", backbone_steps=0, hidden=256, steps=2000, lr=1e-3)


TASKS: dict[str, TaskSpec] = {
    # the 8x8 digit scans: a small CNN trained from scratch (an ImageNet backbone would see them at 8-16 px)
    "digits": TaskSpec(
        _digits(False), lambda o: dict(scheme="end-to-end", backbone="small-cnn", image_size=8, hidden=128, steps=500)
    ),
    "digits-multi": TaskSpec(
        _digits(True),
        lambda o: dict(scheme="frozen", backbone="small-cnn", image_size=16, hidden=128, steps=500, backbone_steps=500),
    ),
    "cifar10n": TaskSpec(_cifar(False), _cifar_train),
    "cifar10n-multi": TaskSpec(_cifar(True), _cifar_train),
    "voc": TaskSpec(_voc, lambda o: dict(scheme="frozen", backbone_steps=0, hidden=256, steps=2000, lr=1e-3)),
    # frozen ImageNet features of the images, cached and shared by every run
    "manifest": TaskSpec(
        _manifest,
        lambda o: dict(
            scheme="frozen",
            backbone=o.feature_backbone,
            image_size=o.feature_image_size,
            backbone_steps=0,
            hidden=256,
            steps=2000,
            lr=1e-3,
            cache_dir=_cache(o),
        ),
    ),
}


def list_tasks() -> list[str]:
    """The task names ``noisereg experiment --data`` accepts."""
    return list(TASKS)


__all__ = ["TASKS", "TaskSpec", "list_tasks"]

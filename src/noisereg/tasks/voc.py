"""PASCAL VOC 2007 labelled by a machine: the paper's MS COCO protocol (sec. 4.1) on real photos.

- the photos of ``shared/data/voc2007`` (the COCO layout; VOC's human labels, 20 classes, 1.5 a photo);
- ``person``, which no ImageNet class names, is dropped with the photos it alone labels, as the paper
  drops COCO's uncovered classes (the shipped ``voc`` map; ``annotation.drop_unmapped_classes``);
- noisy labels on every photo: each mapped class among the top-8 of an ImageNet classifier
  (``annotator``: EfficientNet-Lite2 at its own input size by default; never the feature backbone, as
  Inception V3 annotates and ResNet-50 learns in the paper);
- train: the ``train`` split; test: ``val`` + ``test`` (never trained on, never used to choose anything);
  a seeded clean fraction of train keeps its clean label, and, as the protocol gives them, its machine
  labels too;
- features of the frozen ImageNet backbone are extracted once for every photo into the feature cache
  and shared by every run, as is the annotator's top-k; the test photos' files stay with the task for
  the report's figures.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..annotation import annotator_topk, assign_labels, class_lookup, drop_unmapped_classes, read_class_map
from ..data.labelset import LabelledSet, clean_subset, multi_hot
from ..data.noise import noise_rates
from ..data.sources import open_dataset
from ..data.table import LabelTable
from ..errors import UserError
from ..features import cached_features
from ..models.backbones import create_backbone
from .base import Task
from .cifar10n import SHARED

TOP_K = 8  # the paper's top-8


def voc_table(root: str | None) -> LabelTable:
    """The VOC photos with the 19 classes the ``voc`` map covers (photos only ``person`` labels removed)."""
    path = Path(root) if root else SHARED / "voc2007"
    if not (path / "annotations").is_dir():
        raise UserError(f"PASCAL VOC 2007 (COCO layout) not found: {path} (expected annotations/ and images/)")
    table, _ = drop_unmapped_classes(open_dataset("coco", root=path), read_class_map("voc"))
    return table


def machine_labels(
    table: LabelTable, *, annotator: str, image_size: int, cache_dir: str, device: torch.device
) -> np.ndarray:
    """(N, K) multi-hot noisy labels: every class of the ``voc`` map among the annotator's top-8."""
    index, _ = annotator_topk(
        table.image_paths(),
        cache=Path(cache_dir) / f"annotator-{annotator}-{image_size}-voc",
        annotator=annotator,
        image_size=image_size,
        device=str(device),
    )
    lookup = class_lookup(read_class_map("voc"), table.classes, where="imagenet_to_voc.csv")
    return multi_hot(assign_labels(index, lookup, top_k=TOP_K, mode="multi"), table.num_classes)


def voc_builder(
    root: str | None,
    *,
    backbone: str,
    image_size: int,
    annotator: str,
    annotator_image_size: int,
    cache_dir: str,
    device: torch.device,
) -> Callable[[float, int], Task]:
    """Annotate and extract (or reuse both caches) once; return (clean fraction, seed) -> task."""
    if annotator == backbone:
        raise UserError(
            f"the annotator ({annotator}) must not be the feature backbone (the paper: Inception V3 "
            "annotates, ResNet-50 learns)"
        )
    table = voc_table(root)
    clean = table.clean.toarray().astype(np.float32)
    noisy = machine_labels(
        table, annotator=annotator, image_size=annotator_image_size, cache_dir=cache_dir, device=device
    )
    paths, ids = table.image_paths(), [str(i) for i in table.ids]
    every = LabelledSet(
        images=paths,
        classes=list(table.classes),
        clean=clean,
        noisy=noisy,
        has_noisy=np.ones(len(table), bool),
        has_clean=np.ones(len(table), bool),
        ids=ids,
    )
    net = create_backbone(backbone, image_size=image_size).eval()
    feats = np.asarray(
        cached_features(net, every, device=device, cache_dir=cache_dir, batch_size=64, quiet=False), dtype=np.float32
    )
    train_rows, test_rows = np.flatnonzero(table.split_mask("train")), np.flatnonzero(~table.split_mask("train"))

    def labelled(rows: np.ndarray, has_clean: np.ndarray) -> LabelledSet:
        return LabelledSet(
            images=feats[rows],
            classes=list(table.classes),
            clean=clean[rows],
            noisy=noisy[rows],
            has_noisy=np.ones(len(rows), bool),
            has_clean=has_clean,
            ids=[ids[i] for i in rows],
        )

    def build(fraction: float, seed: int) -> Task:
        is_clean = clean_subset(len(train_rows), fraction, seed, stream=13)
        return Task(
            "voc2007",
            labelled(train_rows, is_clean),
            labelled(test_rows, np.ones(len(test_rows), bool)),
            noise_rates(noisy[train_rows], clean[train_rows]),
            single_label=False,
            photos=[paths[i] for i in test_rows],
        )

    return build

"""CIFAR-10 with CIFAR-10N human labels as experiment tasks, on frozen ImageNet features.

- single-label: the 50,000 training images; a seeded clean fraction keeps its clean label and leaves
  the noisy set; the rest carry the chosen human label set; test on the 10,000 test images.
- multi-label: seeded 2x2 mosaics of CIFAR-10 images (1-4 distinct classes each); every training
  image is a tile of exactly one training mosaic and every test image of one test mosaic, so the
  clean, noisy, validation and test mosaics (seeded subsets of them) never share a tile; clean labels
  are the union of the tiles' true classes, noisy labels the union of their human (noisy) labels.
- ``noise="annotated"``: machine-annotated labels instead of human ones (the paper's regime): an
  ImageNet classifier (``annotator``, EfficientNet-Lite2 by default, never the feature backbone)
  labels each training image with its highest-ranked top-8 prediction that the shipped ImageNet ->
  CIFAR-10 map covers (images with none leave D_n), and each mosaic, seen as a whole image, with
  every mapped class among its top-8.
Features of a frozen backbone are extracted once into the feature cache and shared by every run; so
are the annotator's predictions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..annotation import annotator_topk, assign_labels, class_lookup, read_class_map
from ..data.images import load_image
from ..data.labelset import LabelledSet, clean_subset, one_hot
from ..data.noise import noise_rates
from ..data.sources.cifar_n import CIFAR10_CLASSES, load_cifar_n_labels, noisy_labels, test_images, train_image_paths
from ..errors import UserError
from ..features import cached_features
from ..models.backbones import create_backbone
from .base import Task
from .mosaics import assemble, disjoint_mosaics, union_labels

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"


ANNOTATED = "annotated"


def _labelled(
    images, clean: np.ndarray, noisy: np.ndarray | None, is_clean: np.ndarray, labelled: np.ndarray | None = None
) -> LabelledSet:
    """``labelled``: rows that have a noisy label at all (the annotator may give none)."""
    n = len(clean)
    has_noisy = (~is_clean & (labelled if labelled is not None else True)) if noisy is not None else np.zeros(n, bool)
    return LabelledSet(
        images=images,
        classes=list(CIFAR10_CLASSES),
        clean=clean,
        noisy=noisy if noisy is not None else np.zeros_like(clean),
        has_noisy=has_noisy,
        has_clean=is_clean,
    )


def machine_labels(
    images, *, what: str, annotator: str, image_size: int, cache_dir: str, mode: str, device: torch.device
) -> np.ndarray:
    """(N, 10) multi-hot noisy labels from the annotator's top-8 through the shipped CIFAR-10 map;
    single mode leaves a row all zero where no top-8 prediction is mapped."""
    in_memory = not isinstance(images, list)  # mosaics: ``what`` names their tiles
    index, _ = annotator_topk(
        images,
        cache=Path(cache_dir) / f"annotator-{annotator}-{image_size}-{what}",
        annotator=annotator,
        image_size=image_size,
        device=str(device),
        ids=[what] if in_memory else None,
        content=what if in_memory else "",
    )
    lookup = class_lookup(read_class_map("cifar10"), CIFAR10_CLASSES, where="imagenet_to_cifar10.csv")
    labels = assign_labels(index, lookup, top_k=8, mode=mode)
    out = np.zeros((len(index), len(CIFAR10_CLASSES)), np.float32)
    for i, row in enumerate(labels if mode == "multi" else ([c] if c >= 0 else [] for c in labels)):
        out[i, row] = 1.0
    return out


def _mosaic_pixels(paths: list[str], tiles: np.ndarray) -> torch.Tensor:
    """(n, 3, 64, 64) float32 [0, 1]: the 2x2 mosaics of the JPEGs ``tiles`` (n, 4) index, row-major."""
    t = np.stack([np.asarray(load_image(paths[i]), dtype=np.float32) / 255.0 for i in tiles.ravel()])
    mosaic = assemble(t.reshape(len(tiles), 4, *t.shape[1:]))  # (n, 64, 64, 3)
    return torch.from_numpy(mosaic).permute(0, 3, 1, 2).contiguous()


def cifar10n_builder(
    root: str | None,
    labels_path: str | None,
    *,
    noise: str,
    multi_label: bool,
    backbone: str,
    image_size: int,
    mosaics: int,
    cache_dir: str,
    device: torch.device,
    features: bool = True,
    annotator: str = "efficientnet-lite2",
    annotator_image_size: int = 160,
) -> Callable[[float, int], Task]:
    """Extract (or reuse) the features once; return (clean fraction, seed) -> task.

    With ``features=False`` the tasks hold the images themselves (file paths, or mosaic pixels) for
    training a backbone end to end. ``noise="annotated"`` labels the training images with
    ``annotator`` at ``annotator_image_size`` px instead of a CIFAR-N label set.
    """
    root_path = Path(root) if root else SHARED / "cifar10"
    labels_file = Path(labels_path) if labels_path else root_path.parent / "cifar10n" / "CIFAR-10_human.pt"
    if not (root_path / "train").is_dir():
        raise UserError(f"CIFAR-10 image folder not found: {root_path} (expected train/ and test/)")
    table = load_cifar_n_labels(labels_file)
    machine = noise == ANNOTATED
    if machine and annotator == backbone:
        raise UserError(
            f"the annotator ({annotator}) must not be the feature backbone (the paper: Inception V3 "
            "annotates, ResNet-50 learns)"
        )
    clean = table["clean_label"]
    noisy = None if machine else noisy_labels(table, noise)
    label = dict(annotator=annotator, image_size=annotator_image_size, cache_dir=cache_dir, device=device)
    train_paths = train_image_paths(root_path, clean)
    test_paths, test_y = test_images(root_path)
    net = create_backbone(backbone, image_size=image_size).eval() if features else None

    def feats(images):
        if not features:
            return images
        n = len(images)
        return cached_features(
            net,
            _labelled(images, np.zeros((n, 10), np.float32), None, np.zeros(n, bool)),
            device=device,
            cache_dir=cache_dir,
            batch_size=128,
            quiet=False,
        )

    if multi_label:  # each image is a tile of one mosaic: seeded subsets of mosaics share no tile
        train_tiles = disjoint_mosaics(len(train_paths), mosaics, seed=0)
        test_tiles = disjoint_mosaics(len(test_paths), max(1, mosaics // 5), seed=1)
        m_train = _mosaic_pixels(train_paths, train_tiles)
        m_test = _mosaic_pixels(test_paths, test_tiles)
        y_clean, y_test = union_labels(clean, train_tiles, 10), union_labels(test_y, test_tiles, 10)
        if machine:  # the whole mosaic is one image to the annotator
            what = f"mosaics-train-{len(train_tiles)}-{hashlib.sha256(train_tiles.tobytes()).hexdigest()[:12]}"
            y_noisy = machine_labels(m_train, what=what, mode="multi", **label)
        else:
            y_noisy = union_labels(noisy, train_tiles, 10)
        f_train, f_test = feats(m_train), feats(m_test)
    else:
        y_clean, y_test = one_hot(clean, 10), one_hot(test_y, 10)
        y_noisy = (
            machine_labels(train_paths, what="cifar10-train", mode="single", **label) if machine else one_hot(noisy, 10)
        )
        f_train, f_test = feats(train_paths), feats(test_paths)
    labelled = y_noisy.any(axis=1) if machine and not multi_label else None

    def build(fraction: float, seed: int) -> Task:
        is_clean = clean_subset(len(y_clean), fraction, seed, stream=11)
        train = _labelled(f_train, y_clean, y_noisy, is_clean, labelled)
        test = _labelled(f_test, y_test, None, np.ones(len(y_test), bool))
        noisy_rows = train.has_noisy
        return Task(
            f"cifar10n-{'multi' if multi_label else 'single'}",
            train,
            test,
            noise_rates(y_noisy[noisy_rows], y_clean[noisy_rows]),
            single_label=not multi_label,
        )

    return build

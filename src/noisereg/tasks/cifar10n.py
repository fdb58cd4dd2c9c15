"""CIFAR-10 with CIFAR-10N human labels as experiment tasks, on frozen ImageNet features.

- single-label: the 50,000 training images; a seeded clean fraction keeps its clean label and leaves
  the noisy set; the rest carry the chosen human label set; test on the 10,000 test images.
- multi-label: seeded 2x2 mosaics of CIFAR-10 images (1-4 distinct classes each; tiles drawn from a
  seeded pool of 4 images per mosaic, test mosaics from test images); clean labels are
  the union of the tiles' true classes, noisy labels the union of their human (noisy) labels.
Features of a frozen backbone are extracted once into the feature cache and shared by every run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..data.images import load_image
from ..data.labelset import LabelledSet, clean_subset, one_hot
from ..data.noise import noise_rates
from ..data.sources.cifar_n import (CIFAR10_CLASSES, load_cifar_n_labels, noisy_labels, test_images,
                                    train_image_paths)
from ..errors import UserError
from ..features import cached_features
from ..models.backbones import create_backbone
from .base import Task
from .mosaics import mosaics as make_mosaics
from .mosaics import union_labels

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"


def _labelled(images, clean: np.ndarray, noisy: Optional[np.ndarray], is_clean: np.ndarray) -> LabelledSet:
    n = len(clean)
    return LabelledSet(images=images, classes=list(CIFAR10_CLASSES), clean=clean,
                       noisy=noisy if noisy is not None else np.zeros_like(clean),
                       has_noisy=~is_clean if noisy is not None else np.zeros(n, bool), has_clean=is_clean)


def _pixels(paths: list[str]) -> np.ndarray:
    """(N, 32, 32, 3) float32 [0, 1] pixels of the JPEGs."""
    return np.stack([np.asarray(load_image(p), dtype=np.float32) / 255.0 for p in paths])


def cifar10n_builder(root: Optional[str], labels_path: Optional[str], *, noise: str, multi_label: bool,
                     backbone: str, image_size: int, mosaics: int, cache_dir: str,
                     device: torch.device, features: bool = True) -> Callable[[float, int], Task]:
    """Extract (or reuse) the features once; return (clean fraction, seed) -> task.

    With ``features=False`` the tasks hold the images themselves (file paths, or mosaic pixels) for
    training a backbone end to end.
    """
    root_path = Path(root) if root else SHARED / "cifar10"
    labels_file = Path(labels_path) if labels_path else root_path.parent / "cifar10n" / "CIFAR-10_human.pt"
    if not (root_path / "train").is_dir():
        raise UserError(f"CIFAR-10 image folder not found: {root_path} (expected train/ and test/)")
    table = load_cifar_n_labels(labels_file)
    clean, noisy = table["clean_label"], noisy_labels(table, noise)
    train_paths = train_image_paths(root_path, clean)
    test_paths, test_y = test_images(root_path)
    net = create_backbone(backbone, image_size=image_size).eval() if features else None

    def feats(images):
        if not features:
            return images
        n = len(images)
        return cached_features(net, _labelled(images, np.zeros((n, 10), np.float32), None, np.zeros(n, bool)),
                               device=device, cache_dir=cache_dir, batch_size=128, quiet=False)

    if multi_label:  # tiles come from a seeded pool of 4 images per mosaic (each image used about once;
        n_test = max(1, mosaics // 5)  # more mosaics recombine tiles; train and test tiles never mix)
        pool = np.random.default_rng(0).permutation(len(train_paths))[:4 * mosaics]
        test_pool = np.random.default_rng(1).permutation(len(test_paths))[:4 * n_test]
        train_px, test_px = _pixels([train_paths[i] for i in pool]), _pixels([test_paths[i] for i in test_pool])
        m_train, tiles, y_clean = make_mosaics(train_px, clean[pool], mosaics, seed=0)
        m_test, _, y_test = make_mosaics(test_px, test_y[test_pool], n_test, seed=1)
        y_noisy = union_labels(noisy[pool], tiles, 10)
        f_train = feats(torch.from_numpy(m_train).permute(0, 3, 1, 2).contiguous())
        f_test = feats(torch.from_numpy(m_test).permute(0, 3, 1, 2).contiguous())
    else:
        y_clean, y_noisy, y_test = one_hot(clean, 10), one_hot(noisy, 10), one_hot(test_y, 10)
        f_train, f_test = feats(train_paths), feats(test_paths)

    def build(fraction: float, seed: int) -> Task:
        is_clean = clean_subset(len(y_clean), fraction, seed, stream=11)
        train = _labelled(f_train, y_clean, y_noisy, is_clean)
        test = _labelled(f_test, y_test, None, np.ones(len(y_test), bool))
        return Task(f"cifar10n-{'multi' if multi_label else 'single'}", train, test,
                        noise_rates(y_noisy[~is_clean], y_clean[~is_clean]), single_label=not multi_label)

    return build

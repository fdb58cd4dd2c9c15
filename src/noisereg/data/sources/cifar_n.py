"""CIFAR-10 images (ImageFolder copy) with the CIFAR-10N human noisy labels (Wei et al., ICLR 2022).

The official ``CIFAR-10_human.pt`` is a pickle of numpy arrays; it is read with
``torch.load(weights_only=True)`` allowing only numpy's array reconstruction, never with
``weights_only=False``. Its arrays follow the original training order; training image i lives at
``train/{class of i}/{k:04d}.jpg`` where k counts the earlier images of that class.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import UserError

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
NOISE_LABELS = {"clean": "clean_label", "aggre": "aggre_label", "random1": "random_label1",
                "random2": "random_label2", "random3": "random_label3", "worse": "worse_label"}
CIFAR10N_URL = "https://github.com/UCSC-REAL/cifar-10-100n/raw/main/data/CIFAR-10_human.pt"


def _numpy_globals() -> list:
    """The only globals a numpy-array pickle needs (numpy 1 and 2 spell the module differently)."""
    core = getattr(np, "_core", None) or np.core
    return [(core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
            (core.multiarray._reconstruct, "numpy._core.multiarray._reconstruct"),
            np.ndarray, np.dtype, type(np.dtype("int64"))]


def load_cifar_n_labels(path: str | Path) -> dict[str, np.ndarray]:
    """All label arrays of a CIFAR-N file (``clean_label``, ``worse_label``, ...), safely unpickled."""
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"CIFAR-N label file not found: {path} (official file: {CIFAR10N_URL})") from None
    except Exception as e:
        raise UserError(f"{path} is not a CIFAR-N label file readable without unsafe unpickling: "
                        f"{str(e).splitlines()[-1][:200]}") from None
    if not isinstance(data, dict) or "clean_label" not in data:
        raise UserError(f"{path}: expected a dict with 'clean_label' and the noisy label arrays")
    return {k: np.asarray(v, dtype=np.int64) for k, v in data.items()}


def noisy_labels(labels: dict[str, np.ndarray], noise: str) -> np.ndarray:
    """The label set named ``noise`` (aggre, random1-3, worse, or clean)."""
    if noise not in NOISE_LABELS or NOISE_LABELS[noise] not in labels:
        raise UserError(f"unknown CIFAR-N label set '{noise}': expected one of {list(NOISE_LABELS)}")
    return labels[NOISE_LABELS[noise]]


def train_image_paths(root: str | Path, clean: np.ndarray, classes: list[str] = CIFAR10_CLASSES) -> list[str]:
    """Path of every training image in the original order (see the module docstring)."""
    seen = np.zeros(len(classes), dtype=np.int64)
    paths = []
    for c in clean:
        paths.append(str(Path(root) / "train" / classes[c] / f"{seen[c]:04d}.jpg"))
        seen[c] += 1
    return paths


def test_images(root: str | Path, classes: list[str] = CIFAR10_CLASSES) -> tuple[list[str], np.ndarray]:
    """Test image paths and labels from ``root/test/{class}/*.jpg``."""
    paths, labels = [], []
    for k, name in enumerate(classes):
        files = sorted((Path(root) / "test" / name).glob("*.jpg"))
        if not files:
            raise UserError(f"no test images in {Path(root) / 'test' / name}")
        paths += [str(f) for f in files]
        labels += [k] * len(files)
    return paths, np.asarray(labels)

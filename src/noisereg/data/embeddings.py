"""Precomputed embeddings as a dataset: an (N, D) float array on disk plus a manifest of labels.

The heads train on the rows directly (no backbone); the label file is a manifest whose rows follow
the feature rows (``path`` optional). Arrays are read without unpickling: ``.npy`` with
``allow_pickle=False`` (memory-mapped) or one tensor of a ``.safetensors`` file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from .manifest import read_table
from .table import LabelTable

if TYPE_CHECKING:
    from .labelset import LabelledSet


def read_features(
    features: str | Path, labels: str | Path, *, split: str, classes: Sequence[str] | None = None
) -> LabelledSet:
    """Precomputed embeddings (``.npy`` or ``.safetensors``, one row per label-file row) + labels.

    The label file is a manifest whose rows follow the feature rows (``path`` optional).
    """
    table = features_table(features, labels, classes=classes)
    return table.to_labelled_set(split)


def features_table(features: str | Path, labels: str | Path, *, classes: Sequence[str] | None = None) -> LabelTable:
    """A ``LabelTable`` over precomputed features: the heads train on them directly."""
    table = read_table(labels, classes=classes, need_paths=False)
    table.features = load_feature_array(features)
    if len(table.features) != len(table):
        raise UserError(f"{features}: {len(table.features)} feature rows but {labels} has {len(table)} label rows")
    table.source = f"{features} + {labels}"
    return table


def load_feature_array(path: str | Path) -> np.ndarray:
    """An (N, D) float array from ``.npy`` (memory-mapped, no pickle) or ``.safetensors`` (one tensor)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"feature file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            tensors = load_file(str(path))
            if len(tensors) != 1:
                raise UserError(f"{path}: expected one tensor, found {sorted(tensors)}")
            arr = next(iter(tensors.values()))
        else:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"cannot read features {path}: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
        raise UserError(f"{path}: expected a 2-D float array (N, D), got {arr.dtype} {arr.shape}")
    return arr

"""What the Python API accepts as data, as ``LabelledSet``s: image folders (ImageFolder or Hugging Face
``imagefolder`` layout), manifests, tables read by ``open_dataset`` (any layout), ``LabelledSet``s, or
(features, labels) arrays.

Training data comes as a noisy part and a clean part (either may hold both kinds of label: a
manifest or a ``LabelledSet`` usually does); a manifest's ``val`` split, or an explicit validation
source, becomes the validation set. Labels given as arrays keep their own values (ints or strings)
as the classes; folders and manifests name their classes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..errors import UserError
from .classes import unknown_class, warn_look_alike_classes
from .folders import folder_images, image_paths
from .labelset import LabelledSet, concat_sets, multi_hot
from .sources import open_dataset
from .table import LabelTable

Source = Union[str, "os.PathLike[str]", LabelledSet, LabelTable, tuple]


def is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def is_arrays(x: Any) -> bool:
    """A (features, labels) pair."""
    return isinstance(x, tuple) and len(x) == 2 and not is_path(x[0]) and not isinstance(x[0], LabelledSet)


def table_of(
    source: str | os.PathLike[str] | LabelTable,
    role: str,
    classes: Sequence[str] | None = None,
    image_root: str | Path | None = None,
) -> LabelTable:
    """A folder (its labels in ``role``: noisy, clean, val or test) or a manifest (its paths relative to
    ``image_root``, default its folder), read by ``open_dataset``; a ``LabelTable`` as it is."""
    if isinstance(source, LabelTable):
        return source
    path = Path(source)
    if path.is_dir():
        return open_dataset("folders", **{f"{role}_dir": path}, classes=classes)
    if not path.is_file():
        raise UserError(f"{source}: no such image folder or manifest")
    return open_dataset("csv", manifest=path, image_root=image_root, classes=classes)


def training_sets(
    noisy: Source | None,
    clean: Source | None = None,
    eval_set: Source | None = None,
    *,
    classes: Sequence[str] | None = None,
    image_root: str | Path | None = None,
) -> tuple[LabelledSet, LabelledSet | None]:
    """(D_c ∪ D_n, the validation set or None) from folders, manifests (paths relative to ``image_root``,
    default each manifest's folder), tables from ``open_dataset`` or ``LabelledSet``s."""
    if noisy is None and clean is None:
        raise UserError("no training data: give noisy=... and/or clean=...")
    if all(s is None or (is_path(s) and Path(s).is_dir()) for s in (noisy, clean, eval_set)):
        table = open_dataset(
            "folders",
            noisy_dir=noisy,
            clean_dir=clean,
            val_dir=eval_set,  # one scan, shared images
            classes=classes,
        )
        if classes is None:  # the classes are the folders' names: a misspelt one is said before any work
            warn_look_alike_classes(table.classes, table.source)
        return table.to_labelled_set("train"), _val(table, None)
    parts = [(s, role) for s, role in ((noisy, "noisy"), (clean, "clean")) if s is not None]
    sets = [s for s, _ in parts if isinstance(s, LabelledSet)]
    tables = [table_of(s, role, classes, image_root) for s, role in parts if is_path(s) or isinstance(s, LabelTable)]
    if len(sets) + len(tables) != len(parts):
        raise UserError(
            "noisy= and clean= take a folder, a manifest, a LabelTable (open_dataset), a LabelledSet, "
            "or both a (features, labels) pair"
        )
    names = list(classes) if classes is not None else sets[0].classes if sets else _union([t.classes for t in tables])
    if classes is None and not sets:
        warn_look_alike_classes(names, ", ".join(t.source for t in tables))
    train = sets + [t.to_labelled_set("train", classes=names) for t in tables if "train" in t.splits()]
    if not train:
        raise UserError(f"no train split in {', '.join(t.source for t in tables)}")
    out = train[0]
    for part in train[1:]:
        out = concat_sets(out, part)
    if isinstance(eval_set, LabelledSet):
        val: LabelledSet | None = eval_set
    elif eval_set is not None:
        val = _val(table_of(eval_set, "val", names, image_root), names)
    else:  # a manifest's own val split
        val = next((v for v in (_val(t, names) for t in tables) if v is not None), None)
    return out, val


def _union(lists: list[list[str]]) -> list[str]:
    """The first list's classes in its order (a manifest's class file), then the others' new ones, sorted."""
    first = list(lists[0])
    return first + sorted({c for names in lists[1:] for c in names} - set(first))


def _val(table: LabelTable, classes: list[str] | None) -> LabelledSet | None:
    """The table's clean-labelled ``val`` split, or None."""
    if "val" not in table.splits():
        return None
    val = table.to_labelled_set("val", classes=classes)
    return val if val.has_clean.any() else None


def array_sets(
    noisy: tuple | None, clean: tuple | None, eval_set: tuple | None = None, *, classes: Sequence[Any] | None = None
) -> tuple[LabelledSet, LabelledSet | None, np.ndarray]:
    """(D_c ∪ D_n, validation set or None, the classes as given) from (features (N, D), labels) pairs.

    Labels are (N,) class values (single-label), an (N, K) 0/1 indicator matrix, or N lists of
    class values (multi-label). Classes are sorted unless ``classes`` fixes them.
    """
    parts = {role: p for role, p in (("noisy", noisy), ("clean", clean), ("val", eval_set)) if p is not None}
    xs = {role: _features(p[0]) for role, p in parts.items()}
    for role, p in parts.items():
        if len(xs[role]) != len(p[1]):
            raise UserError(f"{role}: {len(xs[role])} feature rows but {len(p[1])} labels")
    known = _array_classes([p[1] for p in parts.values()], classes)
    sets = {role: _array_set(xs[role], parts[role][1], known, role) for role in parts}
    train = [sets[r] for r in ("noisy", "clean") if r in sets]
    if not train:
        raise UserError("no training data: give noisy=(X, y) and/or clean=(X, y)")
    out = train[0] if len(train) == 1 else concat_sets(*train)
    return out, sets.get("val"), known


def _features(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise UserError(f"X must be an (N, D) array of features, got shape {x.shape}")
    return x


def _is_lists(y: Any) -> bool:
    return len(y) > 0 and isinstance(y[0], (list, tuple, set, frozenset))


def _array_classes(labels: list[Any], classes: Sequence[Any] | None) -> np.ndarray:
    """The class values: given, the indicator's column numbers, or every value used, sorted."""
    if classes is not None:
        return np.asarray(list(classes))
    if any(not _is_lists(y) and np.ndim(y) == 2 for y in labels):
        return np.arange(np.shape(next(y for y in labels if not _is_lists(y) and np.ndim(y) == 2))[1])
    values = [v for y in labels for v in (y if not _is_lists(y) else [c for row in y for c in row])]
    return np.unique(np.asarray(values))


def label_matrix(y: Any, classes: np.ndarray, where: str) -> np.ndarray:
    """(N, K) multi-hot labels of ``y`` (values, indicator matrix or lists) over ``classes``."""
    index = {c: k for k, c in enumerate(classes.tolist())}

    def code(v: Any) -> int:
        v = v.item() if hasattr(v, "item") else v
        if v not in index:
            raise unknown_class(str(v), [str(c) for c in classes], where)
        return index[v]

    if _is_lists(y):
        return multi_hot([[code(v) for v in row] for row in y], len(classes), what=where)
    arr = np.asarray(y)
    if arr.ndim == 2:
        if arr.shape[1] != len(classes) or not np.isin(arr, (0, 1)).all():
            raise UserError(f"{where}: an indicator matrix must be (N, {len(classes)}) of 0/1, got {arr.shape}")
        return arr.astype(np.float32)
    return multi_hot([[code(v)] for v in arr.tolist()], len(classes), what=where)


def _array_set(x: np.ndarray, y: Any, classes: np.ndarray, role: str) -> LabelledSet:
    labels = label_matrix(y, classes, role)
    n, noisy = len(x), role == "noisy"
    return LabelledSet(
        images=x,
        classes=[str(c) for c in classes.tolist()],
        noisy=labels,
        clean=labels,
        has_noisy=np.full(n, noisy),
        has_clean=np.full(n, not noisy),
    )


def prediction_inputs(X: Any) -> tuple[Any, list[list[str]] | None]:
    """(what the model reads, one row per row of ``X``; the clean label names of each row, or None unless
    every row has them) for image paths, a folder, a glob, a ``LabelledSet`` (every row, noisy-only ones
    too) or a feature / pixel array."""
    if isinstance(X, LabelledSet):
        return X.images, (prediction_labels(X) if X.has_clean.all() else None)
    if is_path(X):
        return folder_images(X) if Path(X).is_dir() else (image_paths([X]), None)
    if isinstance(X, (list, tuple)) and X and all(is_path(p) for p in X):
        return image_paths(X), None
    import torch

    if isinstance(X, torch.Tensor) and X.dim() == 4:
        return X.float(), None
    return _features(X), None


def prediction_labels(X: Any) -> list[list[str]] | None:
    """The clean label names of each row of ``X`` (what ``score`` compares the predictions with), None
    when ``X`` carries no labels. A ``LabelledSet`` with rows that have no clean label is refused: every
    row is predicted, so none may silently drop out of the score."""
    if not isinstance(X, LabelledSet):
        return prediction_inputs(X)[1]
    missing = int((~X.has_clean).sum())
    if missing:
        raise UserError(
            f"{missing} of the {len(X)} rows of X have no clean label to score against: give y, "
            "or score X.subset(X.clean_indices)"
        )
    return [[X.classes[k] for k in np.flatnonzero(row)] for row in X.clean_rows(np.arange(len(X)))]


class BadFeatureType(UserError, TypeError):
    """Features of a type scikit-learn refuses with a ``TypeError`` (sparse, objects that are not numbers)."""


def checked_features(x: Any) -> np.ndarray:
    """A feature array as scikit-learn checks one (2-D, real, finite, dense, not empty), as float32/64;
    scikit-learn's message, on one line, as a ``UserError``."""
    from sklearn.utils.validation import check_array

    try:
        return check_array(x, dtype=[np.float32, np.float64], input_name="X")
    except (TypeError, ValueError) as e:
        raise (BadFeatureType if isinstance(e, TypeError) else UserError)(" ".join(str(e).split())) from None


def checked_labels(y: Any, role: str) -> Any:
    """Labels given with a feature array: array-likes as arrays, a column of class values ravelled (with
    scikit-learn's warning; a 0/1 column stays a one-class indicator), continuous values refused."""
    import warnings

    from sklearn.exceptions import DataConversionWarning
    from sklearn.utils.multiclass import type_of_target

    if y is None:
        raise UserError(f"{role}: NoiseRegClassifier requires y to be passed, but the target y is None")
    y = np.asarray(y) if hasattr(y, "__array__") else y
    if isinstance(y, np.ndarray) and y.ndim == 2 and y.shape[1] == 1 and not np.isin(y, (0, 1)).all():
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected: ravelled", DataConversionWarning, stacklevel=3
        )
        y = y.ravel()
    if isinstance(y, np.ndarray) and y.dtype.kind == "f" and type_of_target(y).startswith("continuous"):
        raise UserError(f"{role}: the labels are continuous (e.g. {float(y[y % 1 != 0].flat[0])!r}); give class values")
    return y

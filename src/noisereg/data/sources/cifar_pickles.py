"""Reading CIFAR's python release without unsafe unpickling: torchvision's ``cifar-10-batches-py`` /
``cifar-100-python`` pickles.

A pickle can run any code it names, so these files go through an unpickler that admits numpy's array
reconstruction only (and ``_codecs.encode``, how Python 3 spells bytes in protocol-2 pickles);
``numpy_globals`` are the same globals for ``torch.load(weights_only=True)`` of the CIFAR-N label files.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import UserError

PICKLE_DIRS = {
    "cifar-10-batches-py": (
        "cifar10",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        "batches.meta",
        "labels",
        "label_names",
    ),
    "cifar-100-python": ("cifar100", ["train"], ["test"], "meta", "fine_labels", "fine_label_names"),
}


def numpy_globals() -> list:
    """The only globals a numpy-array pickle needs (numpy 1 and 2 spell the module differently)."""
    core = getattr(np, "_core", None) or np.core
    return [
        (core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
        (core.multiarray._reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        type(np.dtype("int64")),
    ]


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and numpy arrays; refuses every other global.

    ``_codecs.encode`` is how protocol-2 pickles written by Python 3 spell bytes (pure, no side effects).
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed")
        import codecs

        core = getattr(np, "_core", None) or np.core
        return {
            "_reconstruct": core.multiarray._reconstruct,
            "ndarray": np.ndarray,
            "dtype": np.dtype,
            "encode": codecs.encode,
        }[name]


def safe_unpickle(path: Path) -> dict:
    """A CIFAR python pickle (a dict of arrays and lists), read without running any code in it."""
    try:
        data = _NumpyOnlyUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except FileNotFoundError:
        raise UserError(f"CIFAR batch file not found: {path}") from None
    except Exception as e:
        raise UserError(f"{path} is not a CIFAR pickle readable without unsafe unpickling: {e}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a dict, found {type(data).__name__}")
    return data


def read_pickles(folder: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """torchvision's python release: (classes, train pixels, train labels, test pixels, test labels).

    Pixels are (N, 32, 32, 3) uint8 in the original order.
    """
    _, train_files, test_files, meta_file, label_key, names_key = PICKLE_DIRS[folder.name]
    classes = [str(c) for c in safe_unpickle(folder / meta_file).get(names_key, [])]

    def load(files: list[str]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for name in files:
            batch = safe_unpickle(folder / name)
            if "data" not in batch or label_key not in batch:
                raise UserError(f"{folder / name}: expected keys 'data' and '{label_key}'")
            xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            ys.append(np.asarray(batch[label_key], dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    x_train, y_train = load(train_files)
    x_test, y_test = load(test_files)
    return classes, x_train, y_train, x_test, y_test

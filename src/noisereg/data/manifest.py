"""The user-data format: a CSV manifest with columns ``path,noisy,clean,split``.

Labels are ``;``-separated class names; either label column may be empty (D_c and D_n are
unpaired); ``split`` is train, val or test; paths are relative to the image root.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import UserError
from .images import check_images
from .labelset import LabelledSet

COLUMNS = ("path", "noisy", "clean", "split")
SPLITS = ("train", "val", "test")


def _names(cell: Optional[str]) -> list[str]:
    return [n.strip() for n in (cell or "").split(";") if n.strip()]


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """The manifest's rows, checked for the required columns and split values."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"{path}: missing column(s) {missing}; expected header {','.join(COLUMNS)}")
            rows = list(reader)
    except FileNotFoundError:
        raise UserError(f"manifest not found: {path}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text CSV file") from None
    for line, row in enumerate(rows, start=2):
        if not (row.get("path") or "").strip():
            raise UserError(f"{path}:{line}: empty path")
        if (row.get("split") or "").strip() not in SPLITS:
            raise UserError(f"{path}:{line}: split '{row.get('split')}' is not one of {list(SPLITS)}")
    return rows


def manifest_classes(rows: Sequence[dict[str, str]]) -> list[str]:
    """All class names used anywhere in the manifest, sorted."""
    return sorted({n for r in rows for col in ("noisy", "clean") for n in _names(r[col])})


def read_manifest(path: str | Path, *, split: str, image_root: Optional[str | Path] = None,
                  classes: Optional[Sequence[str]] = None, check_files: bool = True) -> LabelledSet:
    """Read one split of a manifest into a ``LabelledSet``.

    Args:
        path: the CSV file.
        split: ``train`` | ``val`` | ``test``.
        image_root: folder the paths are relative to (default: the manifest's folder).
        classes: the class list to use (a checkpoint's); names outside it are errors. Default:
            every class named in the whole manifest, so all splits share one label space.
        check_files: fail early when image files are missing.
    """
    if split not in SPLITS:
        raise UserError(f"split '{split}' is not one of {list(SPLITS)}")
    rows = read_rows(path)
    classes = list(classes) if classes is not None else manifest_classes(rows)
    index = {c: k for k, c in enumerate(classes)}
    root = Path(image_root) if image_root is not None else Path(path).parent
    picked = [(line, r) for line, r in enumerate(rows, start=2) if r["split"].strip() == split]
    if not picked:
        raise UserError(f"{path}: no rows with split '{split}'")
    noisy = np.zeros((len(picked), len(classes)), np.float32)
    clean = np.zeros_like(noisy)
    has_noisy = np.zeros(len(picked), bool)
    has_clean = np.zeros(len(picked), bool)
    for i, (line, r) in enumerate(picked):
        for col, matrix, has in (("noisy", noisy, has_noisy), ("clean", clean, has_clean)):
            for name in _names(r[col]):
                if name not in index:
                    raise UserError(f"{path}:{line}: unknown class '{name}' in column {col}; "
                                    f"known classes: {_short(classes)}")
                matrix[i, index[name]] = 1.0
                has[i] = True
    paths = [str(root / r["path"].strip()) for _, r in picked]
    if check_files:
        check_images(paths, what=str(path))
    return LabelledSet(images=paths, classes=classes, noisy=noisy, clean=clean, has_noisy=has_noisy,
                       has_clean=has_clean, ids=[r["path"].strip() for _, r in picked])


def _short(names: Sequence[str], limit: int = 10) -> str:
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def manifest_splits(path: str | Path) -> set[str]:
    """The split names that occur in the manifest."""
    return {r["split"].strip() for r in read_rows(path)}

"""Clothing1M (Xiao et al., CVPR 2015) from its official annotation files: 14 classes.

``noisy_label_kv.txt`` / ``clean_label_kv.txt`` hold ``<image path> <class index>`` lines; the
key lists name the images of each part: ``noisy_train`` (1M noisy), ``clean_train`` (47,570),
``clean_val`` (14,313), ``clean_test`` (10,526). Every label either file gives an image is kept,
so images carrying both (about 37k) measure the real noise rate; training uses the train split
only: the 1M noisy images plus the clean training images as the clean set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...options import option
from ..files import check_images
from ..table import LabelTable, csr_from_lists
from .registry import Layout

FILES = {
    "noisy_kv": "noisy_label_kv.txt",
    "clean_kv": "clean_label_kv.txt",
    "noisy_train": "noisy_train_key_list.txt",
    "clean_train": "clean_train_key_list.txt",
    "clean_val": "clean_val_key_list.txt",
    "clean_test": "clean_test_key_list.txt",
    "names": "category_names_eng.txt",
}
PARTS = (("noisy_train", 0), ("clean_train", 0), ("clean_val", 1), ("clean_test", 2))


def _find(root: Path, name: str) -> Path:
    for folder in (root, root / "annotations"):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"Clothing1M file {name} not found in {root} or {root / 'annotations'}")


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    return [(i, s.strip()) for i, s in enumerate(text.splitlines(), start=1) if s.strip()]


def _read_kv(path: Path, k: int) -> dict[str, int]:
    """``path label`` lines -> {path: label}; malformed lines, bad labels and duplicates are errors."""
    out: dict[str, int] = {}
    for line, s in _lines(path):
        parts = s.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise UserError(f"{path}:{line}: expected '<image path> <class index>', got '{s[:80]}'")
        label = int(parts[1])
        if not 0 <= label < k:
            raise UserError(f"{path}:{line}: class index {label} is outside 0..{k - 1}")
        if parts[0] in out:
            raise UserError(f"{path}:{line}: duplicate image '{parts[0]}'")
        out[parts[0]] = label
    return out


def read_clothing1m(root: str | Path, *, check_files: bool = True) -> LabelTable:
    """The official Clothing1M annotation files (at ``root`` or ``root/annotations``) as a table.

    Image paths in the files are relative to ``root``.
    """
    root = Path(root)
    classes = [s for _, s in _lines(_find(root, FILES["names"]))]
    if len(classes) != 14:
        raise UserError(f"{_find(root, FILES['names'])}: expected 14 class names, found {len(classes)}")
    noisy = _read_kv(_find(root, FILES["noisy_kv"]), len(classes))
    clean = _read_kv(_find(root, FILES["clean_kv"]), len(classes))
    split_of: dict[str, int] = {}
    part_of: dict[str, str] = {}
    for part, split in PARTS:
        path = _find(root, FILES[part])
        kv = noisy if part == "noisy_train" else clean
        for line, key in _lines(path):
            if key not in kv:
                raise UserError(
                    f"{path}:{line}: image '{key}' has no label in "
                    f"{FILES['noisy_kv' if part == 'noisy_train' else 'clean_kv']}"
                )
            if key in split_of and split_of[key] != split:
                raise UserError(f"{path}:{line}: image '{key}' is also in {FILES[part_of[key]]} (another split)")
            if key in split_of and part_of[key] == part:
                raise UserError(f"{path}:{line}: duplicate image '{key}'")
            split_of.setdefault(key, split)
            part_of.setdefault(key, part)
    keys = list(split_of)
    table = LabelTable(
        classes=classes,
        ids=np.asarray(keys, dtype=object),
        split=np.fromiter((split_of[k] for k in keys), dtype=np.uint8, count=len(keys)),
        noisy=csr_from_lists([[noisy[k]] if k in noisy else [] for k in keys], len(classes)),
        clean=csr_from_lists([[clean[k]] if k in clean else [] for k in keys], len(classes)),
        has_noisy=np.fromiter((k in noisy for k in keys), dtype=bool, count=len(keys)),
        has_clean=np.fromiter((k in clean for k in keys), dtype=bool, count=len(keys)),
        paths=np.asarray(keys, dtype=object),
        root=root,
        multi_label=False,
        source=f"clothing1m {root}",
    )
    if check_files:
        check_images(table.image_paths(), what=f"clothing1m {root}")
    return table


@dataclass
class Clothing1MOptions:
    """``--format clothing1m``: the folder of the official annotation files."""

    root: str | None = option(None, "dataset folder: the official *_kv.txt and *_key_list.txt files")
    check_images: bool = option(True, "do not check that every image file exists", flag="--no-image-check")


def _read(o: Clothing1MOptions, *, classes: list[str] | None, quiet: bool) -> LabelTable:
    return read_clothing1m(str(o.root), check_files=o.check_images)


LAYOUT = Layout("clothing1m", Clothing1MOptions, _read, required=("root",))

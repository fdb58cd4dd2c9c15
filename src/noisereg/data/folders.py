"""Folders of images as datasets, wherever a manifest is accepted.

Two layouts:

- torchvision's ``ImageFolder`` (``DIR/<class>/<image>``): one class per image, the folder's name;
- Hugging Face's ``imagefolder`` with metadata: a ``metadata.csv`` or ``metadata.jsonl`` in ``DIR``
  whose ``file_name`` column names each image (relative to ``DIR``) and whose ``label`` (or
  ``labels``) column holds its class, or its classes for multi-label data (a JSON list, or
  ``;``-separated names in CSV; an empty list is a known empty label set).

Each folder plays one role: its labels are noisy (D_n) or clean (D_c) training labels, or clean
validation / test labels. ``folders_table`` joins the folders of one task into one ``LabelTable``
(an image in both the noisy and the clean folder keeps both labels), so training, evaluation and
tuning read folders exactly as they read a manifest. Folders are scanned as ``ImageFolder`` scans them (same
extensions, same order), skipping hidden folders and ``__MACOSX`` (``scan.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..progress import warn
from .classes import unknown_class
from .files import check_images
from .scan import class_folders, image_extensions, images_in, subfolders
from .table import LabelTable, csr_from_lists, split_codes

METADATA = ("metadata.jsonl", "metadata.csv")
LABEL_COLUMNS = ("labels", "label")
ROLES = {
    "noisy": ("noisy", "train"),
    "clean": ("clean", "train"),
    "val": ("clean", "val"),
    "test": ("clean", "test"),
}  # role -> (which label, split)


def folder_labels(folder: str | Path) -> tuple[list[str], list[list[str]]]:
    """(image paths, class names of each image) of one folder in either layout."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"image folder not found: {folder}")
    meta = [folder / name for name in METADATA if (folder / name).is_file()]
    return _metadata_labels(meta[0]) if meta else _image_folder_labels(folder)


def _image_folder_labels(folder: Path) -> tuple[list[str], list[list[str]]]:
    """``DIR/<class>/<image>``, scanned as torchvision's ``ImageFolder`` does, except that hidden folders and
    ``__MACOSX`` are skipped and a class is a sub-folder holding images (``scan.py``). Images directly in
    ``DIR`` belong to no class: said in one line on stderr, not read."""
    names = class_folders(folder)
    if not names:
        read = subfolders(folder)
        if not read:
            raise UserError(
                f"{folder}: no class folders (expected {folder}/<class>/<image>, or a metadata.csv / "
                "metadata.jsonl naming each image's labels)"
            )
        raise UserError(
            f"{folder}: no images in its class folders ({', '.join(read[:5])}); "
            f"expected files ending in {', '.join(image_extensions())}"
        )
    loose = images_in(folder, recursive=False)
    if loose:
        warn(
            f"note: {folder}: {len(loose)} image(s) directly inside it, beside its class folders "
            f"({', '.join(names[:5])}), belong to no class: not read"
        )
    samples = [(p, name) for name in names for p in images_in(folder / name)]
    return [p for p, _ in samples], [[name] for _, name in samples]


def _label_names(value: object) -> list[str]:
    """A metadata label cell as class names: a list, ``a;b``, one name, or empty."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [s.strip() for s in str(value).split(";") if s.strip()]


def _metadata_rows(path: Path) -> list[dict]:
    """The rows of ``metadata.csv`` (string cells) or ``metadata.jsonl``."""
    if path.suffix == ".csv":
        import pandas as pd

        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")
        except (ValueError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: not a readable CSV ({str(e).splitlines()[0]})") from None
    rows = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.strip():
            try:
                rows.append(json.loads(text))
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{line}: malformed JSON ({e.msg})") from None
            if not isinstance(rows[-1], dict):
                raise UserError(f"{path}:{line}: expected an object with keys file_name, label")
    return rows


def _metadata_labels(path: Path) -> tuple[list[str], list[list[str]]]:
    """Hugging Face ``imagefolder`` metadata: ``file_name`` + ``label`` or ``labels`` per image."""
    rows = _metadata_rows(path)
    if not rows:
        raise UserError(f"{path}: no rows")
    column = next((c for c in LABEL_COLUMNS if c in rows[0]), None)
    if "file_name" not in rows[0] or column is None:
        raise UserError(f"{path}: expected columns file_name and label (or labels), got {sorted(rows[0])}")
    paths = [str(path.parent / str(r.get("file_name") or "")) for r in rows]
    check_images(paths, what=str(path))
    return paths, [_label_names(r.get(column)) for r in rows]


def folders_table(
    *,
    noisy: str | Path | None = None,
    clean: str | Path | None = None,
    val: str | Path | None = None,
    test: str | Path | None = None,
    classes: Sequence[str] | None = None,
) -> LabelTable:
    """The folders of one task as a ``LabelTable`` (train = noisy + clean folders, val, test).

    Args:
        noisy / clean: training images with noisy labels (D_n) / clean labels (D_c).
        val / test: clean-labelled validation / test images.
        classes: the fixed class list (``--classes FILE``): any other class name is refused with a
            did-you-mean. Default: every class name used, sorted.

    Raises:
        UserError: a missing or empty folder, an unknown class, a test image also used for training.
    """
    given = {role: Path(d) for role, d in (("noisy", noisy), ("clean", clean), ("val", val), ("test", test)) if d}
    if not given:
        raise UserError("no image folder given (--noisy-dir, --clean-dir, --val-dir or --test-dir)")
    rows: dict[str, dict] = {}
    for role, folder in given.items():
        which, split = ROLES[role]
        for path, names in zip(*folder_labels(folder)):
            row = rows.setdefault(path, {"split": split, "noisy": None, "clean": None, "role": role})
            if row["split"] != split:
                raise UserError(
                    f"{path} is in both the {row['role']} folder and the {role} folder "
                    "(an image is either trained on, validated on or tested on)"
                )
            row[which] = names
    known = (
        list(classes)
        if classes is not None
        else sorted({c for r in rows.values() for k in ("noisy", "clean") for c in r[k] or ()})
    )
    _check_classes(rows, known, given)
    return _table(rows, known, " + ".join(f"{role} {d}" for role, d in given.items()))


def _check_classes(rows: dict[str, dict], known: Sequence[str], given: dict[str, Path]) -> None:
    """Refuse a class name outside ``known``, naming the folder (or metadata file) it came from."""
    index = set(known)
    for path, row in rows.items():
        for which in ("noisy", "clean"):
            for name in row[which] or ():
                if name not in index:
                    raise unknown_class(name, known, f"{given[row['role']]} ({Path(path).name})")


def _table(rows: dict[str, dict], classes: list[str], source: str) -> LabelTable:
    """Rows (path -> split, noisy names, clean names) as a ``LabelTable``."""
    index = {c: k for k, c in enumerate(classes)}
    paths = list(rows)
    labels = {w: [[index[c] for c in rows[p][w] or ()] for p in paths] for w in ("noisy", "clean")}
    has = {w: np.asarray([rows[p][w] is not None for p in paths]) for w in ("noisy", "clean")}
    multi = any(len(set(ls)) > 1 for w in labels for ls in labels[w])
    return LabelTable(
        classes=classes,
        ids=np.asarray(paths, dtype=object),
        split=split_codes([rows[p]["split"] for p in paths], what=source),
        noisy=csr_from_lists(labels["noisy"], len(classes)),
        clean=csr_from_lists(labels["clean"], len(classes)),
        has_noisy=has["noisy"],
        has_clean=has["clean"],
        paths=np.asarray(paths, dtype=object),
        root=None,
        multi_label=multi,
        source=source,
    )


def folder_images(folder: str | Path) -> tuple[list[str], list[list[str]] | None]:
    """The images of a folder to predict on, with their labels when it has a labelled layout, else None.

    A metadata file, or class folders (sub-folders holding images) and no image directly inside: the
    labelled layout. Any image directly inside: a flat folder, whose images are read with those of every
    sub-folder, at any depth (hidden folders and ``__MACOSX`` skipped), unlabelled."""
    folder = Path(folder)
    if any((folder / m).is_file() for m in METADATA):
        return folder_labels(folder)
    if not images_in(folder, recursive=False) and class_folders(folder):
        return folder_labels(folder)
    files = images_in(folder)
    if not files:
        raise UserError(f"{folder}: no image files (expected files ending in {', '.join(image_extensions())})")
    return files, None


def image_paths(entries: Sequence[str | Path]) -> list[str]:
    """Files, folders (their images, as ``folder_images`` lists them) and glob patterns -> image paths,
    in the order given. A path that does not exist is kept: reading it reports it as not found."""
    import glob

    out: list[str] = []
    for entry in map(str, entries):
        matches = sorted(glob.glob(entry, recursive=True)) if glob.has_magic(entry) else [entry]
        if not matches:
            raise UserError(f"no file matches {entry}")
        for m in matches:
            out.extend(folder_images(m)[0] if Path(m).is_dir() else [m])
    return out

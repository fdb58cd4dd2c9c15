"""The user-data format: a CSV or JSONL manifest with fields ``path,noisy,clean,split[,verified]``.

CSV labels are ``;``-separated class names (JSONL: lists of names or the same string); either
label field may be empty (D_c and D_n are unpaired); ``split`` is train, val or test; paths are
relative to the image root (default: the manifest's folder) unless absolute. The optional
``verified`` field names the classes a human checked for the clean label (OpenImages style): the
others count as unknown in L_clean. Every dataset reader can write this format (``write_manifest``),
and training reads only this format, so a protocol is rebuilt once and trained on many times.
"""
from __future__ import annotations

import csv
import json
import os
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

import numpy as np

from ..errors import UserError
from .files import check_images
from .table import SPLITS, LabelTable, csr_from_parts

if TYPE_CHECKING:
    from .labelset import LabelledSet

COLUMNS = ("path", "noisy", "clean", "split")
LABEL_FIELDS = ("noisy", "clean", "verified")
CHUNK_ROWS = 200_000
NONE = "<none>"  # CSV cell of a known empty label set (an image verified to hold none of the classes)


def _names(cell: object) -> Optional[list[str]]:
    """Class names of a label cell; None = no label, [] = a known empty label set (``<none>`` / [])."""
    if isinstance(cell, list):
        return [str(n).strip() for n in cell if str(n).strip()]
    if cell is None or (isinstance(cell, float) and cell != cell):
        return None
    text = str(cell).strip()
    if text == NONE:
        return []
    names = [n.strip() for n in text.split(";") if n.strip()]
    return names or None


def _is_jsonl(path: str | Path) -> bool:
    return str(path).lower().endswith((".jsonl", ".ndjson"))


def _csv_records(path: Path, need_paths: bool) -> Iterator[tuple[int, dict]]:
    """(line number, row) of a CSV manifest, streamed in chunks with every cell as a string."""
    import pandas as pd
    try:
        header = pd.read_csv(path, nrows=0, dtype=str).columns.tolist()
        required = [c for c in COLUMNS if need_paths or c != "path"]
        missing = [c for c in required if c not in header]
        if missing:
            raise UserError(f"{path}: missing column(s) {missing}; expected header {','.join(COLUMNS)}")
        line = 2
        for chunk in pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=CHUNK_ROWS):
            for row in chunk.to_dict("records"):
                yield line, row
                line += 1
    except FileNotFoundError:
        raise UserError(f"manifest not found: {path}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text CSV file") from None
    except pd.errors.ParserError as e:
        raise UserError(f"{path}: malformed CSV: {str(e).strip().splitlines()[-1]}") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: empty file; expected header {','.join(COLUMNS)}") from None


def _jsonl_records(path: Path, need_paths: bool) -> Iterator[tuple[int, dict]]:
    """(line number, object) of a JSON-lines manifest; blank lines are skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as e:
                    raise UserError(f"{path}:{line}: malformed JSON ({e.msg})") from None
                if not isinstance(row, dict) or "split" not in row or (need_paths and "path" not in row):
                    raise UserError(f"{path}:{line}: expected an object with keys "
                                    f"{'path, ' if need_paths else ''}split[, noisy, clean, verified]")
                yield line, row
    except FileNotFoundError:
        raise UserError(f"manifest not found: {path}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None


class _LabelColumn:
    """Accumulates one label field as CSR parts with provisional class ids."""

    def __init__(self) -> None:
        self.indptr = array("q", [0])
        self.indices = array("i")
        self.present = array("b")

    def add(self, ids: Optional[list[int]]) -> None:
        self.indices.extend(sorted(set(ids or [])))
        self.indptr.append(len(self.indices))
        self.present.append(0 if ids is None else 1)


def read_table(path: str | Path, *, image_root: Optional[str | Path] = None,
               classes: Optional[Sequence[str]] = None, need_paths: bool = True) -> LabelTable:
    """Read a whole manifest (every split) into a ``LabelTable``.

    Args:
        path: ``.csv`` (or ``.jsonl`` / ``.ndjson``) manifest.
        image_root: folder the paths are relative to (default: the manifest's folder).
        classes: a fixed class list; a name outside it is an error. Default: the list in
            ``<manifest stem>.classes.txt`` when present (``write_manifest`` writes it), else every
            name used, sorted.
        need_paths: False for label files of precomputed features (rows follow the feature rows;
            ``path`` then is optional and only names the row).

    Raises:
        UserError: malformed rows, unknown split or class, empty or duplicate path, with the line.
    """
    path = Path(path)
    records = _jsonl_records(path, need_paths) if _is_jsonl(path) else _csv_records(path, need_paths)
    if classes is None and classes_file(path).is_file():
        classes = [c for c in classes_file(path).read_text(encoding="utf-8").splitlines() if c.strip()]
    fixed = list(classes) if classes is not None else None
    index: dict[str, int] = {c: k for k, c in enumerate(fixed)} if fixed else {}
    cols = {f: _LabelColumn() for f in LABEL_FIELDS}
    has_verified = False
    split_of = {s: i for i, s in enumerate(SPLITS)}
    splits, ids, first_line = array("B"), [], {}
    for line, row in records:
        split = str(row.get("split") or "").strip()
        if split not in split_of:
            raise UserError(f"{path}:{line}: split '{row.get('split')}' is not one of {list(SPLITS)}")
        rid = str(row.get("path") or "").strip()
        if need_paths and not rid:
            raise UserError(f"{path}:{line}: empty path")
        rid = rid or str(len(ids))
        if rid in first_line:
            raise UserError(f"{path}:{line}: duplicate path '{rid}' (first at line {first_line[rid]})")
        first_line[rid] = line
        splits.append(split_of[split])
        ids.append(rid)
        for f in LABEL_FIELDS:
            names = _names(row.get(f))
            has_verified |= f == "verified" and f in row
            for name in names or []:
                if name not in index:
                    if fixed is not None:
                        raise UserError(f"{path}:{line}: unknown class '{name}' in column {f}; "
                                        f"known classes: {_short(fixed)}")
                    index[name] = len(index)
            cols[f].add(None if names is None else [index[n] for n in names])
    if not ids:
        raise UserError(f"{path}: no rows")
    names_in_order = list(index)
    final = fixed if fixed is not None else sorted(names_in_order)
    position = {c: k for k, c in enumerate(final)}
    remap = np.asarray([position[n] for n in names_in_order] or [0], dtype=np.int32)
    mats = {}
    for f, col in cols.items():
        indices = remap[np.frombuffer(col.indices, dtype=np.int32)] if len(col.indices) else np.zeros(0, np.int32)
        m = csr_from_parts(np.frombuffer(col.indptr, dtype=np.int64), indices, len(final))
        m.sort_indices()
        mats[f] = m
    has_clean = np.frombuffer(cols["clean"].present, dtype=np.int8).astype(bool)
    root = Path(image_root) if image_root is not None else path.parent
    return LabelTable(classes=final, ids=np.asarray(ids, dtype=object), split=np.frombuffer(splits, np.uint8).copy(),
                      noisy=mats["noisy"], clean=mats["clean"],
                      has_noisy=np.frombuffer(cols["noisy"].present, dtype=np.int8).astype(bool),
                      has_clean=has_clean, verified=mats["verified"] if has_verified else None,
                      paths=np.asarray(ids, dtype=object) if need_paths else None, root=root,
                      multi_label=_looks_multi_label(mats["clean"], mats["noisy"]), source=str(path))


def _looks_multi_label(*mats) -> bool:
    """A manifest is single-label when no label row holds more than one class."""
    return any(len(m.indptr) > 1 and np.diff(m.indptr).max() > 1 for m in mats)


def read_manifest(path: str | Path, *, split: str, image_root: Optional[str | Path] = None,
                  classes: Optional[Sequence[str]] = None, check_files: bool = True) -> LabelledSet:
    """Read one split of a manifest into a ``LabelledSet``.

    Args:
        path: the CSV or JSONL file.
        split: ``train`` | ``val`` | ``test``.
        image_root: folder the paths are relative to (default: the manifest's folder).
        classes: the class list to use (a checkpoint's); names outside it are errors. Default:
            every class named in the whole manifest, so all splits share one label space.
        check_files: fail early when image files are missing.
    """
    if split not in SPLITS:
        raise UserError(f"split '{split}' is not one of {list(SPLITS)}")
    table = read_table(path, image_root=image_root, classes=classes)
    if not table.split_mask(split).any():
        raise UserError(f"{path}: no rows with split '{split}'")
    data = table.to_labelled_set(split)
    if check_files:
        check_images(data.images, what=str(path))
    return data


def read_features(features: str | Path, labels: str | Path, *, split: str,
                  classes: Optional[Sequence[str]] = None) -> LabelledSet:
    """Precomputed embeddings (``.npy`` or ``.safetensors``, one row per label-file row) + labels.

    The label file is a manifest whose rows follow the feature rows (``path`` optional).
    """
    table = features_table(features, labels, classes=classes)
    return table.to_labelled_set(split)


def features_table(features: str | Path, labels: str | Path, *,
                   classes: Optional[Sequence[str]] = None) -> LabelTable:
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


def write_manifest(table: LabelTable, path: str | Path) -> Path:
    """Write a table as a manifest (CSV, or JSONL for ``.jsonl``) with absolute image paths.

    Images held in memory (CIFAR's python pickles) are first saved as PNG files in
    ``<manifest stem>_images/<split>/``; a features table writes its row ids as paths.
    Written to a temporary name and renamed, so an interrupted write never leaves half a manifest.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if table.paths is None and table.pixels is not None:
        table = export_pixels(table, path.parent / f"{path.stem}_images")
    paths = [os.path.abspath(p) for p in table.image_paths()] if table.paths is not None else \
        [str(i) for i in table.ids]
    fields = list(COLUMNS) + (["verified"] if table.verified is not None else [])
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = None if _is_jsonl(path) else csv.writer(f)
        if writer:
            writer.writerow(fields)
        for i in range(len(table)):
            row = {"path": paths[i], "noisy": table.label_names(table.noisy, i) if table.has_noisy[i] else None,
                   "clean": table.label_names(table.clean, i) if table.has_clean[i] else None,
                   "split": SPLITS[table.split[i]]}
            if table.verified is not None:
                row["verified"] = table.label_names(table.verified, i) if table.has_clean[i] else None
            if writer:
                writer.writerow([_cell(row[k]) for k in fields])
            else:
                f.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")
    os.replace(tmp, path)
    classes_file(path).write_text("".join(f"{c}\n" for c in table.classes), encoding="utf-8")
    return path


def classes_file(manifest: str | Path) -> Path:
    """The optional class list beside a manifest (``data.csv`` -> ``data.classes.txt``): it fixes the
    class order and keeps classes that no row happens to use."""
    return Path(manifest).with_suffix(".classes.txt")


def export_pixels(table: LabelTable, folder: Path) -> LabelTable:
    """Save in-memory uint8 images as ``folder/<split>/<row>.png``; the table with those paths."""
    from dataclasses import replace
    from PIL import Image
    rel = []
    for i, pixels in enumerate(table.pixels):
        name = f"{SPLITS[table.split[i]]}/{i:06d}.png"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(folder / name)
        rel.append(name)
    return replace(table, paths=np.asarray(rel, dtype=object), root=folder, pixels=None)


def _cell(value: object) -> str:
    if isinstance(value, list):
        return ";".join(value) if value else NONE
    return "" if value is None else str(value)


def _short(names: Sequence[str], limit: int = 10) -> str:
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def manifest_splits(path: str | Path) -> set[str]:
    """The split names that occur in the manifest."""
    return set(read_table(path).splits())

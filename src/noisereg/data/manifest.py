"""The user-data format: a CSV or JSONL manifest with fields ``path,noisy,clean,split[,verified]``.

CSV labels are ``;``-separated class names (JSONL: lists of names or the same string); either
label field may be empty (D_c and D_n are unpaired); ``split`` is train, val or test; paths are
relative to the image root (default: the manifest's folder) unless absolute. The optional
``verified`` field names the classes a human checked for the clean label (OpenImages style): the
others count as unknown in L_clean. Every dataset reader can write this format (``write_manifest``),
and training reads only this format, so a protocol is rebuilt once and trained on many times.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from .classes import read_classes, unknown_class
from .csvio import csv_chunks
from .files import check_images
from .table import SPLITS, LabelTable, csr_from_parts

if TYPE_CHECKING:
    import pandas as pd

    from .labelset import LabelledSet

COLUMNS = ("path", "noisy", "clean", "split")
LABEL_FIELDS = ("noisy", "clean", "verified")
CHUNK_ROWS = 200_000
NONE = "<none>"  # CSV cell of a known empty label set (an image verified to hold none of the classes)


def is_jsonl(path: str | Path) -> bool:
    return str(path).lower().endswith((".jsonl", ".ndjson"))


def _csv_chunks(path: Path, need_paths: bool) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """(line numbers, chunk of string cells) of a CSV manifest, streamed."""
    required = [c for c in COLUMNS if need_paths or c != "path"]
    for line, chunk in csv_chunks(
        path, required=required, chunk_rows=CHUNK_ROWS, expected=",".join(COLUMNS), kind="manifest"
    ):
        yield np.arange(line, line + len(chunk)), chunk


def _json_cell(value: object, path: Path, line: int, key: str) -> str:
    """A JSONL label field as the CSV cell it stands for: a list -> 'a;b', [] -> <none>, absent -> ''.
    Anything but a string or a list of strings (an object, a number) is refused, naming the line and key."""
    if value is None:
        return ""
    if not isinstance(value, (str, list)) or (isinstance(value, list) and not all(isinstance(v, str) for v in value)):
        raise UserError(
            f"{path}:{line}: '{key}' must be a class name or a list of class names, got {json.dumps(value)[:60]}"
        )
    if isinstance(value, list):
        names = [str(v).strip() for v in value]
        if any(";" in n for n in names):
            raise UserError(f"{path}:{line}: class names may not contain ';'")
        return ";".join(n for n in names if n) or NONE
    return str(value)


def _jsonl_chunks(path: Path, need_paths: bool) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """(line numbers, chunk) of a JSON-lines manifest, as the same string cells as the CSV."""
    import pandas as pd

    lines, rows = [], []
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
                    raise UserError(
                        f"{path}:{line}: expected an object with keys "
                        f"{'path, ' if need_paths else ''}split[, noisy, clean, verified]"
                    )
                cells = {"path": str(row.get("path") or ""), "split": str(row["split"])}
                cells.update({k: _json_cell(row[k], path, line, k) for k in LABEL_FIELDS if k in row})
                lines.append(line)
                rows.append(cells)
                if len(rows) == CHUNK_ROWS:
                    yield np.asarray(lines), pd.DataFrame(rows)
                    lines, rows = [], []
    except FileNotFoundError:
        raise UserError(f"manifest not found: {path}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    if rows:
        yield np.asarray(lines), pd.DataFrame(rows)


class _Classes:
    """Class name -> id: a fixed list (unknown names are errors) or one growing in order of appearance."""

    def __init__(self, fixed: Sequence[str] | None) -> None:
        self.fixed = list(fixed) if fixed is not None else None
        self.index: dict[str, int] = {c: k for k, c in enumerate(self.fixed or [])}

    def ids(self, names: pd.Series, lines: np.ndarray, field_name: str, path: Path) -> np.ndarray:
        """Class ids of an exploded name column (its index = row positions)."""
        import pandas as pd

        codes, uniques = pd.factorize(names.to_numpy(dtype=object))  # hash once, look up each distinct name once
        unknown = [u for u in uniques if u not in self.index]
        if unknown and self.fixed is not None:
            j = int(np.flatnonzero(codes == list(uniques).index(unknown[0]))[0])
            raise unknown_class(unknown[0], self.fixed, f"{path}:{lines[names.index[j]]} column {field_name}")
        for name in unknown:
            self.index[name] = len(self.index)
        return np.asarray([self.index[u] for u in uniques] or [0], dtype=np.int32)[codes]


def _label_field(
    chunk: pd.DataFrame, field_name: str, classes: _Classes, lines: np.ndarray, path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(per-row counts, class ids in row order, present) of one label column of a chunk."""
    n = len(chunk)
    if field_name not in chunk:
        return np.zeros(n, np.int64), np.zeros(0, np.int32), np.zeros(n, bool)
    cells = chunk[field_name].fillna("").astype(str).str.strip()
    empty_set = (cells == NONE).to_numpy()
    names = cells.where(~empty_set, "").str.split(";").explode().str.strip()
    names = names[names.notna() & (names != "")]
    names.index = np.asarray(names.index) - chunk.index[0]  # row positions within the chunk
    ids = classes.ids(names, lines, field_name, path)
    counts = np.bincount(np.asarray(names.index, dtype=np.int64), minlength=n)
    return counts, ids, (counts > 0) | empty_set


def read_table(
    path: str | Path,
    *,
    image_root: str | Path | None = None,
    classes: Sequence[str] | None = None,
    need_paths: bool = True,
    allow_outside_root: bool = False,
) -> LabelTable:
    """Read a whole manifest (every split) into a ``LabelTable``, in vectorised chunks.

    Args:
        path: ``.csv`` (or ``.jsonl`` / ``.ndjson``) manifest.
        image_root: folder the paths are relative to (default: the manifest's folder).
        classes: a fixed class list; a name outside it is an error (with a did-you-mean). Default: the list in
            ``<manifest stem>.classes.txt`` when present (``write_manifest`` writes it), else every
            name used, sorted.
        need_paths: False for label files of precomputed features (rows follow the feature rows;
            ``path`` then is optional and only names the row).
        allow_outside_root: accept paths that leave the image root, through ``..`` or as absolute paths
            outside it (refused by default, so a manifest cannot make a command read files it was not
            pointed at; an absolute path inside the root is accepted).

    Raises:
        UserError: malformed rows, unknown split or class, empty or duplicate path, with the line.
    """
    import pandas as pd

    from ..progress import progress

    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    chunks = _jsonl_chunks(path, need_paths) if is_jsonl(path) else _csv_chunks(path, need_paths)
    # progress only for reads that last (a 9M-row manifest takes about a minute): a bar or plain lines
    bar = progress(desc=f"reading {path.name}", unit="rows", unit_scale=True, delay=2)
    if classes is None and classes_file(path).is_file():
        classes = read_classes(classes_file(path))
    names = _Classes(classes)
    split_of = {s: i for i, s in enumerate(SPLITS)}
    parts: dict[str, list] = {
        f: []
        for f in ("ids", "lines", "split", *(f"{x}_{y}" for x in LABEL_FIELDS for y in ("counts", "ids", "present")))
    }
    has_verified = False
    for lines, chunk in chunks:
        if not len(chunk):  # a header without rows
            continue
        chunk = chunk.reset_index(drop=True)
        split = chunk["split"].fillna("").astype(str).str.strip().map(split_of)
        if split.isna().any():
            j = int(np.flatnonzero(split.isna().to_numpy())[0])
            raise UserError(f"{path}:{lines[j]}: split '{chunk['split'].iat[j]}' is not one of {list(SPLITS)}")
        rid = chunk["path"].fillna("").astype(str).str.strip() if "path" in chunk else pd.Series([""] * len(chunk))
        blank = (rid == "").to_numpy()
        if need_paths and blank.any():
            raise UserError(f"{path}:{lines[int(np.flatnonzero(blank)[0])]}: empty path")
        if need_paths:  # 'img//a.png' and 'img/./a.png' name one image: found as duplicates below
            rid = rid.map(os.path.normpath)
            if not allow_outside_root:
                _refuse_escapes(rid, lines, path, root)
        offset = sum(len(a) for a in parts["ids"])
        rid = rid.where(~blank, pd.Series(np.arange(offset, offset + len(chunk)).astype(str)))
        parts["ids"].append(rid.to_numpy(dtype=object))
        parts["lines"].append(lines)
        parts["split"].append(split.to_numpy(dtype=np.uint8))
        has_verified |= "verified" in chunk
        for f in LABEL_FIELDS:
            for key, value in zip(("counts", "ids", "present"), _label_field(chunk, f, names, lines, path)):
                parts[f"{f}_{key}"].append(value)
        bar.update(len(chunk))
    bar.close()
    if not parts["ids"]:
        raise UserError(f"{path}: no rows (a header only, or an empty file)")
    ids = np.concatenate(parts.pop("ids"))
    lines = np.concatenate(parts.pop("lines"))
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        j = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(ids == ids[j])[0])
        raise UserError(f"{path}:{lines[j]}: duplicate path '{ids[j]}' (first at line {lines[first]})")
    final = names.fixed if names.fixed is not None else sorted(names.index)
    position = {c: k for k, c in enumerate(final)}
    remap = np.asarray([position[c] for c in names.index] or [0], dtype=np.int32)
    mats, present = {}, {}
    for f in LABEL_FIELDS:
        counts = np.concatenate(parts[f"{f}_counts"])
        indptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        m = csr_from_parts(indptr, remap[np.concatenate(parts[f"{f}_ids"])], len(final))
        m.sum_duplicates()  # 'a;a' counts once
        mats[f], present[f] = m, np.concatenate(parts[f"{f}_present"])
    return LabelTable(
        classes=final,
        ids=ids,
        split=np.concatenate(parts["split"]),
        noisy=mats["noisy"],
        clean=mats["clean"],
        has_noisy=present["noisy"],
        has_clean=present["clean"],
        verified=mats["verified"] if has_verified else None,
        paths=ids if need_paths else None,
        root=root,
        multi_label=_looks_multi_label(mats["clean"], mats["noisy"]),
        source=str(path),
    )


def _refuse_escapes(paths: pd.Series, lines: np.ndarray, manifest: Path, root: Path) -> None:
    """Refuse a path (already normalised) that leaves the image root: a relative one through '..', an
    absolute one outside it. Names the first such line."""
    inside = os.path.abspath(root)
    prefix = inside.rstrip(os.sep) + os.sep
    climbs = (paths == "..") | paths.str.startswith("../") | paths.str.startswith("..\\")
    absolute = paths.map(os.path.isabs).astype(bool)
    outside = (absolute & ~(paths.str.startswith(prefix) | (paths == inside))) | climbs
    if outside.any():
        j = int(np.flatnonzero(outside.to_numpy())[0])
        how = "through '..'" if climbs.iat[j] else f"(it is absolute and outside {inside})"
        raise UserError(
            f"{manifest}:{lines[j]}: path '{paths.iat[j]}' leaves the image root {how}; give "
            "--image-root (image_root=) the folder that holds the images, or --allow-outside-root"
        )


def _looks_multi_label(*mats) -> bool:
    """A manifest is single-label when no label row holds more than one class."""
    return any(len(m.indptr) > 1 and np.diff(m.indptr).max() > 1 for m in mats)


def read_manifest(
    path: str | Path,
    *,
    split: str,
    image_root: str | Path | None = None,
    classes: Sequence[str] | None = None,
    check_files: bool = True,
) -> LabelledSet:
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


def classes_file(manifest: str | Path) -> Path:
    """The optional class list beside a manifest (``data.csv`` -> ``data.classes.txt``): it fixes the
    class order and keeps classes that no row happens to use."""
    return Path(manifest).with_suffix(".classes.txt")

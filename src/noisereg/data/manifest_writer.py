"""Writing any ``LabelTable`` as a training manifest (CSV, or JSONL for ``.jsonl``)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from ..safe_io import atomic_write, output_file, write_text
from .manifest import COLUMNS, NONE, classes_file, is_jsonl
from .table import SPLITS, LabelTable


def write_manifest(table: LabelTable, path: str | Path, *, image_root: Path | None = None) -> Path:
    """Write a table as a manifest (CSV, or JSONL for ``.jsonl``) with image paths relative to
    ``image_root`` (default: ``manifest_image_root(table, path)``).

    Relative paths keep a manifest inside the image root that readers confine it to (absolute paths
    outside the root are refused on reading unless allowed). Images held in memory (CIFAR's python
    pickles) are first saved as PNG files in ``<manifest stem>_images/<split>/``; a features table
    writes its row ids as paths. Written to a temporary name and renamed, so an interrupted write never
    leaves half a manifest.
    """
    path = output_file(path)
    if table.paths is None and table.pixels is not None:
        table = export_pixels(table, path.parent / f"{path.stem}_images")
    if table.paths is not None:
        images = [os.path.abspath(p) for p in table.image_paths()]
        root = str(image_root or _image_root(images, path, table.root))
        paths = [_relative(p, root) for p in images]
    else:
        paths = [str(i) for i in table.ids]
    fields = list(COLUMNS) + (["verified"] if table.verified is not None else [])
    atomic_write(path, lambda tmp: _write_rows(table, paths, fields, tmp, jsonl=is_jsonl(path)))
    write_text(classes_file(path), "".join(f"{c}\n" for c in table.classes))
    return path


def manifest_image_root(table: LabelTable, path: str | Path) -> Path:
    """The folder a manifest written at ``path`` holds its image paths relative to: the manifest's own
    folder when every image lies beneath it (the manifest then reads as it is), else the table's image
    root, or the images' common folder (read it with ``--image-root`` that folder). Tables without image
    files (row ids, or pixels saved beside the manifest) use the manifest's folder."""
    if table.paths is None:
        return Path(os.path.abspath(Path(path).parent))
    return _image_root([os.path.abspath(p) for p in table.image_paths()], path, table.root)


def _image_root(images: list[str], path: str | Path, table_root: Path | None) -> Path:
    for candidate in (Path(path).parent, table_root):
        if candidate is not None and all(_under(p, os.path.abspath(candidate)) for p in images):
            return Path(os.path.abspath(candidate))
    return (
        Path(os.path.commonpath([os.path.dirname(p) for p in images]))
        if images
        else Path(os.path.abspath(Path(path).parent))
    )


def image_root_hint(root: Path, path: str | Path) -> str:
    """What a user must add to read a manifest written at ``path`` relative to ``root``: '' when that is
    its own folder, else the ``--image-root`` to give."""
    return (
        ""
        if Path(root) == Path(os.path.abspath(Path(path).parent))
        else f"its paths are relative to {root}: read it with --image-root {root}"
    )


def _under(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def _relative(path: str, root: str) -> str:
    """``path`` relative to ``root`` with '/' separators (absolute if it lies outside ``root``)."""
    return Path(os.path.relpath(path, root)).as_posix() if _under(path, root) else path


def _write_rows(table: LabelTable, paths: list[str], fields: list[str], tmp: str, *, jsonl: bool) -> None:
    """The manifest's rows into the file ``tmp``."""
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = None if jsonl else csv.writer(f)
        if writer:
            writer.writerow(fields)
        for i in range(len(table)):
            row = {
                "path": paths[i],
                "noisy": table.label_names(table.noisy, i) if table.has_noisy[i] else None,
                "clean": table.label_names(table.clean, i) if table.has_clean[i] else None,
                "split": SPLITS[table.split[i]],
            }
            if table.verified is not None:
                row["verified"] = table.label_names(table.verified, i) if table.has_clean[i] else None
            if writer:
                writer.writerow([_cell(row[k]) for k in fields])
            else:
                f.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")


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

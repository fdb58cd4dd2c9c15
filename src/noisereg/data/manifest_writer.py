"""Writing any ``LabelTable`` as a training manifest (CSV, or JSONL for ``.jsonl``)."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from ..safe_io import atomic_write, output_file, write_text
from .manifest import COLUMNS, NONE, is_jsonl, classes_file
from .table import SPLITS, LabelTable


def write_manifest(table: LabelTable, path: str | Path) -> Path:
    """Write a table as a manifest (CSV, or JSONL for ``.jsonl``) with absolute image paths.

    Images held in memory (CIFAR's python pickles) are first saved as PNG files in
    ``<manifest stem>_images/<split>/``; a features table writes its row ids as paths.
    Written to a temporary name and renamed, so an interrupted write never leaves half a manifest.
    """
    path = output_file(path)
    if table.paths is None and table.pixels is not None:
        table = export_pixels(table, path.parent / f"{path.stem}_images")
    paths = [os.path.abspath(p) for p in table.image_paths()] if table.paths is not None else \
        [str(i) for i in table.ids]
    fields = list(COLUMNS) + (["verified"] if table.verified is not None else [])
    atomic_write(path, lambda tmp: _write_rows(table, paths, fields, tmp, jsonl=is_jsonl(path)))
    write_text(classes_file(path), "".join(f"{c}\n" for c in table.classes))
    return path


def _write_rows(table: LabelTable, paths: list[str], fields: list[str], tmp: str, *, jsonl: bool) -> None:
    """The manifest's rows into the file ``tmp``."""
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = None if jsonl else csv.writer(f)
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



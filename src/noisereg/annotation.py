"""Machine annotation: an ImageNet classifier's top-k predictions, mapped to a dataset's classes, as
noisy labels (the paper's sec. 4.1: Inception V3's top-8 mapped to 56 MS COCO classes).

Three pure steps, shared by ``noisereg protocol annotate``, ``protocol coco`` and the benchmark's
machine-annotated CIFAR-10 tasks, so that there is one copy of the logic:

1. ``read_class_map``: ImageNet index -> class name (a class may own many indices);
2. ``annotator_topk``: the annotator's top-k (index, probability) of every image, cached on disk
   under a key of annotator, weights, input size and image list (not k: the cache keeps
   ``CACHED_K`` predictions, so another map or a smaller k needs no new forward pass);
3. ``assign_labels``: ``single`` = the highest-ranked mapped prediction among the top-k (none: -1),
   ``multi`` = every mapped class among the top-k.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .data.table import SPLITS, LabelTable
from .errors import UserError
from .safe_io import atomic_write, output_dir, write_json

CACHED_K = 20  # predictions kept per image in the cache (any top_k up to this reuses it)
SHIPPED_MAPS = {"coco56": "imagenet_to_coco56.csv", "cifar10": "imagenet_to_cifar10.csv", "voc": "imagenet_to_voc.csv"}


def read_class_map(source: str | None = None) -> dict[int, str]:
    """ImageNet class index (0-999) -> class name.

    Args:
        source: a CSV file with columns ``imagenet_index`` and ``class`` (``coco_name`` is read as
            ``class`` for maps written for ``protocol coco``), or a shipped map's name
            (``coco56``, ``cifar10``, ``voc``: PASCAL VOC's 19 classes other than person, each with the
            ImageNet members ``coco56`` gives the same COCO class); None is ``coco56``.
    Raises:
        UserError: one line with file and line of an index outside 0-999, a repeated index, a row
            without a class, or missing columns.
    """
    name = source or "coco56"
    if name in SHIPPED_MAPS:
        text = resources.files("noisereg.data").joinpath("maps", SHIPPED_MAPS[name]).read_text(encoding="utf-8")
        where = SHIPPED_MAPS[name]
    else:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError):
            raise UserError(f"class map not found: {name} (a CSV file, or one of {list(SHIPPED_MAPS)})") from None
        where = name
    reader = csv.DictReader(text.splitlines())
    column = "class" if "class" in (reader.fieldnames or []) else "coco_name"
    if "imagenet_index" not in (reader.fieldnames or []) or column not in (reader.fieldnames or []):
        raise UserError(f"{where}:1: expected columns imagenet_index,class, got {reader.fieldnames}")
    out: dict[int, str] = {}
    for line, row in enumerate(reader, start=2):
        try:
            index = int(row["imagenet_index"])
        except (TypeError, ValueError):
            raise UserError(f"{where}:{line}: ImageNet index {row['imagenet_index']!r} is not an integer") from None
        cls = (row[column] or "").strip()
        if not 0 <= index < 1000:
            raise UserError(f"{where}:{line}: ImageNet index {index} is outside 0-999")
        if index in out:
            raise UserError(f"{where}:{line}: ImageNet index {index} is mapped twice ({out[index]!r}, {cls!r})")
        if not cls:
            raise UserError(f"{where}:{line}: ImageNet index {index} has no class")
        out[index] = cls
    if not out:
        raise UserError(f"{where}: the class map has no rows")
    return out


def class_lookup(class_map: dict[int, str], classes: Sequence[str], *, where: str = "class map") -> np.ndarray:
    """(1000,) int64: the column in ``classes`` of each ImageNet index, -1 where the map has none.

    Raises:
        UserError: the map names a class the dataset does not have.
    """
    column = {c: j for j, c in enumerate(classes)}
    unknown = sorted({c for c in class_map.values() if c not in column})
    if unknown:
        raise UserError(
            f"{where} names class(es) {unknown[:3]} that the dataset does not have "
            f"(its classes: {list(classes)[:5]}{'...' if len(classes) > 5 else ''})"
        )
    lookup = np.full(1000, -1, np.int64)
    for index, cls in class_map.items():
        lookup[index] = column[cls]
    return lookup


def drop_unmapped_classes(table: LabelTable, class_map: dict[int, str]) -> tuple[LabelTable, dict[str, Any]]:
    """The paper's compilation of a machine-annotated dataset (sec. 4.1, MS COCO): the dataset's classes
    that ``class_map`` gives no ImageNet index are dropped (an annotator can never name them, so their
    clean labels would teach what the noisy set cannot), and the images then left without any clean
    label are removed. Images that had no clean label to begin with (noisy-only) stay.

    Returns:
        (the table, JSON-ready counts: ``dropped_classes``, ``removed_images`` with ``removed_per_split``
        and ``removed_ids``).
    Raises:
        UserError: the map covers none of the dataset's classes.
    """
    mapped = set(class_map.values())
    kept = [c for c in table.classes if c in mapped]
    dropped = [c for c in table.classes if c not in mapped]
    info: dict[str, Any] = {"dropped_classes": dropped, "removed_images": 0, "removed_per_split": {}, "removed_ids": []}
    if not dropped:
        return table, info
    if not kept:
        raise UserError(f"the class map covers none of the dataset's classes {table.classes[:5]}")
    cols = np.asarray([table.classes.index(c) for c in kept])
    clean = table.clean[:, cols].tocsr()
    clean.eliminate_zeros()
    had = table.has_clean & (np.diff(table.clean.indptr) > 0)
    removed = had & (np.diff(clean.indptr) == 0)
    out = replace(
        table,
        classes=kept,
        clean=clean,
        noisy=table.noisy[:, cols].tocsr(),
        notes=list(table.notes),
        verified=None if table.verified is None else table.verified[:, cols].tocsr(),
    )
    info.update(
        removed_images=int(removed.sum()),
        removed_ids=[str(i) for i in table.ids[removed]],
        removed_per_split={
            s: int((removed & (table.split == k)).sum())
            for k, s in enumerate(SPLITS)
            if (removed & (table.split == k)).any()
        },
    )
    return out.select(~removed), info


def assign_labels(index: np.ndarray, lookup: np.ndarray, *, top_k: int, mode: str) -> Any:
    """Noisy labels from the annotator's ranked predictions.

    Args:
        index: (N, >= top_k) ImageNet indices, best first.
        lookup: (1000,) from ``class_lookup``.
        mode: ``single`` -> (N,) int64, the first mapped class among the top-k, -1 where none is;
            ``multi`` -> N sorted lists of every mapped class among the top-k (possibly empty).
    """
    if top_k > index.shape[1]:
        raise UserError(f"top-k {top_k} exceeds the {index.shape[1]} cached predictions")
    mapped = lookup[index[:, :top_k].astype(np.int64)]  # (N, k), -1 = outside the map
    if mode == "single":
        has = mapped >= 0
        first = np.argmax(has, axis=1)
        return np.where(has.any(axis=1), mapped[np.arange(len(mapped)), first], -1)
    if mode == "multi":
        return [sorted({int(c) for c in row if c >= 0}) for row in mapped]
    raise UserError(f"label mode must be single or multi, got {mode!r}")


def _file_hash(path: str | None) -> str | None:
    if not path:
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def topk_cache_key(
    *, annotator: str, weights: str | None, image_size: int, ids: Sequence[str], content: str = ""
) -> dict[str, Any]:
    """What decides the annotator's predictions; ``content`` names pixels held in memory (mosaics)."""
    return {
        "annotator": annotator,
        "weights": _file_hash(weights),
        "image_size": image_size,
        "images": hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest(),
        "content": content,
        "cached_k": CACHED_K,
    }


def annotator_topk(
    images: Any,
    *,
    cache: str | Path,
    annotator: str,
    weights: str | None = None,
    image_size: int = 0,
    ids: Sequence[str] | None = None,
    content: str = "",
    device: str = "auto",
    batch_size: int = 32,
    num_workers: int = 0,
    quiet: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, CACHED_K) ImageNet indices (int16) and softmax probabilities (float16), best first.

    Args:
        images: N image paths, or (N, C, H, W) [0, 1] pixels.
        cache: folder of ``annotator_topk.npz`` / ``.json``; reused when the key matches.
        ids: what identifies the images in the key (default: the paths themselves).
    """
    key = topk_cache_key(
        annotator=annotator,
        weights=weights,
        image_size=image_size,
        ids=list(ids) if ids is not None else list(images),
        content=content,
    )
    folder = Path(cache)
    npz, meta = folder / "annotator_topk.npz", folder / "annotator_topk.json"
    if npz.is_file() and meta.is_file() and json.loads(meta.read_text()) == key:
        with np.load(npz, allow_pickle=False) as z:
            return z["index"], z["prob"]
    index, prob = _predict_topk(
        images,
        annotator=annotator,
        weights=weights,
        image_size=image_size,
        device=device,
        batch_size=batch_size,
        num_workers=num_workers,
        quiet=quiet,
    )
    output_dir(folder)

    def savez(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, index=index, prob=prob)

    atomic_write(npz, savez)
    write_json(meta, key)
    return index, prob


def _predict_topk(
    images: Any,
    *,
    annotator: str,
    weights: str | None,
    image_size: int,
    device: str,
    batch_size: int,
    num_workers: int,
    quiet: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """The annotator's forward pass over every image: its CACHED_K best classes."""
    import torch

    from .distributed import resolve_device
    from .features import iter_features
    from .models.annotators import create_imagenet_classifier

    model, pre = create_imagenet_classifier(annotator, weights=weights, image_size=image_size)
    index = np.zeros((len(images), CACHED_K), np.int16)
    prob = np.zeros((len(images), CACHED_K), np.float16)
    for rows, logits in iter_features(
        model, images, pre, device=resolve_device(device), batch_size=batch_size, num_workers=num_workers, quiet=quiet
    ):
        top = torch.topk(torch.softmax(logits.float(), 1), CACHED_K, dim=1)
        index[rows] = top.indices.numpy()
        prob[rows] = top.values.numpy()
    return index, prob

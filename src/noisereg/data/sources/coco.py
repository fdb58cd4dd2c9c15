"""MS COCO from the official ``annotations/instances_<subset>.json`` files (2014 or 2017).

Each image's label set is the set of categories of its object annotations: 80 classes, ordered by
COCO category id (1-90, non-contiguous). Images are looked up at ``root/<subset>/<file_name>``
or ``root/images/<subset>/<file_name>``. COCO labels are human annotations: they are read as
clean labels; ``noisereg protocol coco`` adds machine (noisy) labels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import UserError
from ...options import option
from ..files import check_images
from ..table import LabelTable
from .registry import Layout
from .yolo import split_name


def annotation_file(root: Path, subset: str) -> Path:
    return root / "annotations" / f"instances_{subset}.json"


def find_subsets(root: Path) -> list[str]:
    """The subsets with an instances file, 2014 ones first (the paper's release)."""
    subsets = sorted(p.name[len("instances_") : -len(".json")] for p in (root / "annotations").glob("instances_*.json"))
    if not subsets:
        raise UserError(f"no annotations/instances_<subset>.json in {root}")
    with_2014 = [s for s in subsets if s.endswith("2014")]
    return with_2014 or subsets


def _load(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UserError(f"COCO annotation file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: malformed JSON ({e})") from None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        raise UserError(f"{path}: not a COCO instances file (missing list(s) {missing})")
    return data


def _image_folder(root: Path, subset: str) -> Path:
    for folder in (root / subset, root / "images" / subset):
        if folder.is_dir():
            return folder
    return root / subset


def read_coco(root: str | Path, *, subsets: Sequence[str] | None = None, check_files: bool = True) -> LabelTable:
    """COCO images of the given subsets (default: every instances file, 2014 first) with 80-class labels.

    Raises:
        UserError: malformed files, duplicate image ids, annotations naming an unknown image or
            category, categories differing between subsets, or missing image files (counted).
    """
    root = Path(root)
    subsets = list(subsets or find_subsets(root))
    categories: list[tuple[int, str]] | None = None
    ids, paths, splits, labels = [], [], [], []
    for subset in subsets:
        path = annotation_file(root, subset)
        data = _load(path)
        try:
            cats = sorted((int(c["id"]), str(c["name"])) for c in data["categories"])
            images = [(int(im["id"]), str(im["file_name"])) for im in data["images"]]
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"{path}: malformed category or image entry ({type(e).__name__}: {e})") from None
        if categories is None:
            categories = cats
        elif cats != categories:
            raise UserError(f"{path}: categories differ from those of instances_{subsets[0]}.json")
        cat_index = {cid: k for k, (cid, _) in enumerate(categories)}
        row_of: dict[int, int] = {}
        for image_id, _ in images:
            if image_id in row_of:
                raise UserError(f"{path}: duplicate image id {image_id}")
            row_of[image_id] = len(row_of)
        sets: list[set[int]] = [set() for _ in images]
        for n, ann in enumerate(data["annotations"]):
            try:
                image_id, cat = int(ann["image_id"]), int(ann["category_id"])
            except (KeyError, TypeError, ValueError):
                raise UserError(f"{path}: annotation #{n} is malformed (needs image_id and category_id)") from None
            if image_id not in row_of:
                raise UserError(f"{path}: annotation #{n} names unknown image id {image_id}")
            if cat not in cat_index:
                raise UserError(f"{path}: annotation #{n} names unknown category id {cat}")
            sets[row_of[image_id]].add(cat_index[cat])
        split = split_name(subset) or "train"
        folder = _image_folder(root, subset)
        ids += [f"{subset}/{image_id}" for image_id, _ in images]
        paths += [str((folder / name).relative_to(root)) for _, name in images]
        splits += [split] * len(images)
        labels += [sorted(s) for s in sets]
    assert categories is not None
    classes = [name for _, name in categories]
    table = LabelTable.human_labelled(
        classes=classes,
        ids=ids,
        paths=paths,
        splits=splits,
        labels=labels,
        root=root,
        source=f"coco {root} ({', '.join(subsets)})",
        empty_note="image(s) without annotations (empty label sets)",
    )
    if check_files:
        check_images(table.image_paths(), what=f"coco {root}")
    return table


@dataclass
class CocoOptions:
    """``--format coco``: where the release is and which subsets to read."""

    root: str | None = option(None, "dataset folder: annotations/instances_<subset>.json and the images")
    subsets: list[str] | None = option(None, "comma-separated subsets, e.g. train2014,val2014 (default: all found)")
    check_images: bool = option(True, "do not check that every image file exists", flag="--no-image-check")


def _read(o: CocoOptions, *, classes: list[str] | None, quiet: bool) -> LabelTable:
    return read_coco(str(o.root), subsets=o.subsets, check_files=o.check_images)


LAYOUT = Layout("coco", CocoOptions, _read, required=("root",))

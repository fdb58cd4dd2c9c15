"""The paper's compiled MS COCO protocol (sec. 4.1): 56 classes, machine-annotated noisy labels.

1. Read COCO (2014 by default) with its 80-class human labels.
2. Keep the 56 COCO classes that ImageNet covers, through the class map shipped in
   ``data/maps/imagenet_to_coco56.csv`` (ImageNet index -> COCO class; 309 ImageNet classes).
   Left out, having no ImageNet class that is the object or a kind of it: person, fire hydrant,
   giraffe, suitcase, frisbee, snowboard, kite (ImageNet's kite is the bird), baseball bat,
   baseball glove, skateboard, surfboard, fork, carrot, donut, cake, oven, scissors, toothbrush;
   and, where ImageNet has only a part, a cover or one narrow special case: stop sign (street
   sign), knife (cleaver), sandwich (cheeseburger), toilet (toilet seat), book (book jacket),
   hair drier (hand blower). The clean labels are the COCO labels of the 56 classes.
3. Noisy labels: the top-8 predictions of an ImageNet classifier (Inception V3 in the paper)
   mapped to the 56 classes (predictions outside the map add nothing).
4. Remove images without a clean label among the 56 classes, split the rest at random in the
   paper's proportions (68,213 / 16,714 / 16,763), keep clean labels on a seeded fraction of train.
5. Write ``manifest.csv`` (train with it), ``protocol.json`` (settings, counts, measured noise),
   ``noise.md`` (missing / spurious rates per class) and the annotator's cached top-k.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..annotation import annotator_topk, assign_labels, class_lookup, read_class_map
from ..data.table import LabelTable, csr_from_lists
from ..errors import UserError
from ..safe_io import output_dir, write_json
from .annotate import write_protocol

PAPER_SPLIT = (68213, 16714, 16763)


@dataclass
class CocoProtocolConfig:
    """Settings of ``noisereg protocol coco`` (defaults: the paper's, with the offline annotator)."""

    root: str
    out: str
    annotator: str = "efficientnet-lite0"
    weights: str | None = None
    image_size: int = 0
    top_k: int = 8
    clean_fraction: float = 0.05
    split_sizes: tuple[float, ...] = PAPER_SPLIT
    seed: int = 0
    subsets: list[str] | None = None
    class_map: str | None = None
    batch_size: int = 32
    num_workers: int = 0
    device: str = "auto"
    quiet: bool = False


def split_counts(n: int, sizes: tuple[float, ...]) -> tuple[int, int, int]:
    """Train / val / test counts for n images in the proportions ``sizes`` (counts or fractions)."""
    if len(sizes) != 3 or min(sizes) < 0 or sum(sizes) <= 0:
        raise UserError(f"split sizes must be three non-negative numbers, got {sizes}")
    total = float(sum(sizes))
    n_val, n_test = round(n * sizes[1] / total), round(n * sizes[2] / total)
    return n - n_val - n_test, n_val, n_test


def compile_coco(cfg: CocoProtocolConfig) -> dict:
    """Run the whole protocol; returns the ``protocol.json`` content."""
    from ..data.sources import open_dataset

    started = time.time()
    output_dir(cfg.out)  # an unwritable --out fails before any work
    coco = open_dataset("coco", root=cfg.root, subsets=cfg.subsets)
    class_map = read_class_map(cfg.class_map)
    unknown = sorted(set(class_map.values()) - set(coco.classes))
    if unknown:
        raise UserError(f"class map names COCO class(es) {unknown[:3]} not in the annotation files")
    kept = [c for c in coco.classes if c in set(class_map.values())]
    lookup = class_lookup(class_map, kept, where="class map")
    column = {c: j for j, c in enumerate(kept)}
    old_to_new = {coco.classes.index(c): column[c] for c in kept}
    clean_lists = [
        [old_to_new[k] for k in coco.clean.indices[coco.clean.indptr[i] : coco.clean.indptr[i + 1]] if k in old_to_new]
        for i in range(len(coco))
    ]
    labelled = np.asarray([bool(c) for c in clean_lists])
    if not labelled.any():
        raise UserError(f"{cfg.root}: no image has a label among the {len(kept)} mapped classes")
    rows = np.flatnonzero(labelled)
    paths = coco.image_paths(rows)
    index, _ = annotator_topk(
        paths,
        cache=cfg.out,
        annotator=cfg.annotator,
        weights=cfg.weights,
        image_size=cfg.image_size,
        device=cfg.device,
        batch_size=cfg.batch_size,
        num_workers=cfg.num_workers,
        quiet=cfg.quiet,
    )
    noisy_lists = assign_labels(index, lookup, top_k=cfg.top_k, mode="multi")
    n_train, n_val, n_test = split_counts(len(rows), cfg.split_sizes)
    split = np.zeros(len(rows), np.uint8)
    perm = np.random.default_rng(cfg.seed).permutation(len(rows))
    split[perm[n_train : n_train + n_val]] = 1
    split[perm[n_train + n_val :]] = 2
    full = LabelTable(
        classes=kept,
        ids=coco.ids[rows],
        split=split,
        noisy=csr_from_lists(noisy_lists, len(kept)),
        clean=csr_from_lists([clean_lists[i] for i in rows], len(kept)),
        has_noisy=np.ones(len(rows), bool),
        has_clean=np.ones(len(rows), bool),
        paths=coco.paths[rows],
        root=coco.root,
        multi_label=True,
        source=f"coco-56 {cfg.root} (noisy: top-{cfg.top_k} of {cfg.annotator})",
    )
    images = {
        "coco": len(coco),
        "without_mapped_label_removed": int((~labelled).sum()),
        "kept": int(len(rows)),
        "train": n_train,
        "val": n_val,
        "test": n_test,
        "clean_train": int(full.clean_draw(cfg.clean_fraction, cfg.seed).sum()),
    }  # what the manifest keeps
    empty = int(sum(1 for n in noisy_lists if not n))
    lines = [
        f"{images['coco']:,} COCO images; {images['without_mapped_label_removed']:,} without a label among the "
        f"mapped classes removed; {images['kept']:,} kept: train {images['train']:,} (clean "
        f"{images['clean_train']:,}) / val {images['val']:,} / test {images['test']:,}. {empty:,} images got no "
        "mapped prediction (empty noisy label set)."
    ]
    result = write_protocol(
        full,
        cfg,
        {"classes": kept, "images": images, "empty_noisy_label_sets": empty, "_lines": lines},
        title=f"# Compiled MS COCO protocol: {len(kept)} classes, noisy labels = top-{cfg.top_k} of {cfg.annotator}",
    )
    result["seconds"] = round(time.time() - started, 1)
    write_json(Path(cfg.out) / "protocol.json", result, indent=1)
    return result

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

import csv
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Optional

import numpy as np

from .data.check import format_summary, summarize
from .data.manifest_writer import manifest_image_root, write_manifest
from .data.table import LabelTable, csr_from_lists
from .errors import UserError
from .safe_io import atomic_write, output_dir, write_json, write_text

PAPER_SPLIT = (68213, 16714, 16763)


@dataclass
class CocoProtocolConfig:
    """Settings of ``noisereg protocol coco`` (defaults: the paper's, with the offline annotator)."""

    root: str
    out: str
    annotator: str = "efficientnet-lite0"
    weights: Optional[str] = None
    image_size: int = 0
    top_k: int = 8
    clean_fraction: float = 0.05
    split_sizes: tuple[float, ...] = PAPER_SPLIT
    seed: int = 0
    subsets: Optional[list[str]] = None
    class_map: Optional[str] = None
    batch_size: int = 32
    num_workers: int = 0
    device: str = "auto"
    quiet: bool = False


def read_class_map(path: Optional[str] = None) -> dict[int, str]:
    """ImageNet class index -> COCO class name, from the shipped map or a CSV of the same columns."""
    if path is None:
        text = resources.files("noisereg.data").joinpath("maps/imagenet_to_coco56.csv").read_text(encoding="utf-8")
        source = "imagenet_to_coco56.csv"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"class map not found: {path}") from None
        source = path
    out: dict[int, str] = {}
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        try:
            index = int(row["imagenet_index"])
            name = row["coco_name"].strip()
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{source}:{line}: expected columns imagenet_index,...,coco_name") from None
        if not 0 <= index < 1000 or index in out or not name:
            raise UserError(f"{source}:{line}: bad or repeated ImageNet index {row.get('imagenet_index')}")
        out[index] = name
    return out


def annotate(paths: list[str], cfg: CocoProtocolConfig) -> tuple[np.ndarray, np.ndarray]:
    """(top-k ImageNet indices, their softmax probabilities) of every image, cached in ``out``.

    The cache is reused only when annotator, weights, image size, k and the image list match.
    """
    import torch
    from .models.annotators import create_imagenet_classifier
    from .distributed import resolve_device
    from .features import iter_features
    key = {"annotator": cfg.annotator, "weights": _file_hash(cfg.weights), "image_size": cfg.image_size,
           "top_k": cfg.top_k, "images": hashlib.sha256("\n".join(paths).encode()).hexdigest()}
    out = Path(cfg.out)
    cache, meta = out / "annotator_topk.npz", out / "annotator_topk.json"
    if cache.is_file() and meta.is_file() and json.loads(meta.read_text()) == key:
        with np.load(cache, allow_pickle=False) as z:
            return z["index"], z["prob"]
    model, pre = create_imagenet_classifier(cfg.annotator, weights=cfg.weights, image_size=cfg.image_size)
    device = resolve_device(cfg.device)
    index = np.zeros((len(paths), cfg.top_k), np.int16)
    prob = np.zeros((len(paths), cfg.top_k), np.float16)
    for rows, logits in iter_features(model, paths, pre, device=device, batch_size=cfg.batch_size,
                                      num_workers=cfg.num_workers, quiet=cfg.quiet):
        top = torch.topk(torch.softmax(logits, 1), cfg.top_k, dim=1)
        index[rows] = top.indices.numpy()
        prob[rows] = top.values.numpy()
    output_dir(out)

    def savez(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, index=index, prob=prob)
    atomic_write(cache, savez)
    write_json(meta, key)
    return index, prob


def _file_hash(path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def split_counts(n: int, sizes: tuple[float, ...]) -> tuple[int, int, int]:
    """Train / val / test counts for n images in the proportions ``sizes`` (counts or fractions)."""
    if len(sizes) != 3 or min(sizes) < 0 or sum(sizes) <= 0:
        raise UserError(f"split sizes must be three non-negative numbers, got {sizes}")
    total = float(sum(sizes))
    n_val, n_test = round(n * sizes[1] / total), round(n * sizes[2] / total)
    return n - n_val - n_test, n_val, n_test


def compile_coco(cfg: CocoProtocolConfig) -> dict:
    """Run the whole protocol; returns the ``protocol.json`` content."""
    from .data.sources.coco import read_coco
    started = time.time()
    output_dir(cfg.out)  # an unwritable --out fails before any work
    coco = read_coco(cfg.root, subsets=cfg.subsets)
    class_map = read_class_map(cfg.class_map)
    kept = [c for c in coco.classes if c in set(class_map.values())]
    unknown = sorted(set(class_map.values()) - set(coco.classes))
    if unknown:
        raise UserError(f"class map names COCO class(es) {unknown[:3]} not in the annotation files")
    column = {c: j for j, c in enumerate(kept)}
    to_kept = np.full(1000, -1, np.int64)
    for imagenet, name in class_map.items():
        to_kept[imagenet] = column[name]
    old_to_new = {coco.classes.index(c): column[c] for c in kept}
    clean_lists = [[old_to_new[k] for k in coco.clean.indices[coco.clean.indptr[i]:coco.clean.indptr[i + 1]]
                    if k in old_to_new] for i in range(len(coco))]
    labelled = np.asarray([bool(c) for c in clean_lists])
    if not labelled.any():
        raise UserError(f"{cfg.root}: no image has a label among the {len(kept)} mapped classes")
    rows = np.flatnonzero(labelled)
    paths = coco.image_paths(rows)
    index, prob = annotate(paths, cfg)
    noisy_lists = [[int(to_kept[j]) for j in index[i] if to_kept[j] >= 0] for i in range(len(rows))]
    n_train, n_val, n_test = split_counts(len(rows), cfg.split_sizes)
    split = np.zeros(len(rows), np.uint8)
    perm = np.random.default_rng(cfg.seed).permutation(len(rows))
    split[perm[n_train:n_train + n_val]] = 1
    split[perm[n_train + n_val:]] = 2
    full = LabelTable(classes=kept, ids=coco.ids[rows], split=split,
                      noisy=csr_from_lists(noisy_lists, len(kept)),
                      clean=csr_from_lists([clean_lists[i] for i in rows], len(kept)),
                      has_noisy=np.ones(len(rows), bool), has_clean=np.ones(len(rows), bool),
                      paths=coco.paths[rows], root=coco.root, multi_label=True,
                      source=f"coco-56 {cfg.root} (noisy: top-{cfg.top_k} of {cfg.annotator})")
    noise = summarize(full)
    table = full.with_clean_fraction(cfg.clean_fraction, cfg.seed)
    out = Path(cfg.out)
    image_root = manifest_image_root(table, out / "manifest.csv")
    manifest = write_manifest(table, out / "manifest.csv", image_root=image_root)
    result = {
        "config": asdict(cfg),
        "classes": kept,
        "images": {"coco": len(coco), "without_mapped_label_removed": int((~labelled).sum()),
                   "kept": int(len(rows)), "train": n_train, "val": n_val, "test": n_test,
                   "clean_train": int((table.has_clean & table.split_mask("train")).sum())},
        "empty_noisy_label_sets": int(sum(1 for n in noisy_lists if not n)),
        "noise": {k: noise["noise_rate"][k] for k in ("overall", "missing", "spurious", "per_class")},
        "label_cardinality": noise["label_cardinality"],
        "manifest": str(manifest), "image_root": str(image_root), "seconds": round(time.time() - started, 1),
    }
    write_json(out / "protocol.json", result, indent=1)
    write_text(out / "noise.md", noise_report(result, noise))
    return result


def noise_report(result: dict, summary: dict) -> str:
    """Markdown: the protocol's counts and the machine annotator's noise per class."""
    cfg, img = result["config"], result["images"]
    lines = [f"# Compiled MS COCO protocol: {len(result['classes'])} classes, noisy labels = top-{cfg['top_k']} "
             f"of {cfg['annotator']}", "",
             f"{img['coco']:,} COCO images; {img['without_mapped_label_removed']:,} without a label among the "
             f"mapped classes removed; {img['kept']:,} kept: train {img['train']:,} (clean {img['clean_train']:,}) / "
             f"val {img['val']:,} / test {img['test']:,}. {result['empty_noisy_label_sets']:,} images got no "
             "mapped prediction (empty noisy label set).", "",
             "```", format_summary(summary), "```", ""]
    return "\n".join(lines)

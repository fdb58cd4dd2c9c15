"""``noisereg protocol annotate``: the paper's semi-automatic annotation (sec. 4.1) for any image set.

An ImageNet classifier (the annotator) labels every image: its top-k predictions are mapped to the
dataset's classes through a class map (``imagenet_index,class`` rows; a class may own many ImageNet
indices, predictions outside the map add nothing). ``single`` mode keeps the highest-ranked mapped
prediction (an image with none gets no noisy label and leaves D_n); ``multi`` keeps every mapped
class (possibly none: an empty label set, ``<none>`` in the manifest). The input's clean labels are
kept, except that, as the paper compiles MS COCO, the dataset's classes the map gives no ImageNet index
are dropped and the images then left without a clean label removed (``keep_unmapped_classes`` keeps
them). ``protocol coco`` is this step with the COCO reader and the shipped 56-class map.

Writes ``manifest.csv`` (train with it), ``protocol.json`` (settings, counts, agreement with the
clean labels per class; missing / spurious rates for multi-label), ``noise.md`` and the annotator's
cached top-k (``annotator_topk.npz``), reused by any later run with the same annotator and images.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..annotation import annotator_topk, assign_labels, class_lookup, drop_unmapped_classes, read_class_map
from ..data.check import format_summary, summarize
from ..data.manifest_writer import manifest_image_root, write_manifest
from ..data.table import LabelTable, csr_from_lists
from ..errors import UserError
from ..safe_io import output_dir, write_json, write_text

LABEL_MODES = ("single", "multi")


@dataclass
class AnnotateConfig:
    """How the annotator labels a dataset (``noisereg protocol annotate``'s flags)."""

    out: str
    class_map: str = "cifar10"
    annotator: str = "efficientnet-lite2"
    weights: str | None = None
    image_size: int = 0
    top_k: int = 8
    label_mode: str = "single"
    clean_fraction: float | None = None
    seed: int = 0
    batch_size: int = 32
    num_workers: int = 0
    device: str = "auto"
    quiet: bool = False
    keep_unmapped_classes: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.label_mode not in LABEL_MODES:
            raise UserError(f"label mode must be one of {list(LABEL_MODES)}, got {self.label_mode!r}")
        if not 1 <= self.top_k <= 20:
            raise UserError(f"top-k must be in 1-20, got {self.top_k}")


def refuse_earlier_manifest(out: str | Path, overwrite: bool) -> None:
    """Refuse an ``--out`` that already holds a ``manifest.csv``, unless ``overwrite``.

    A rerun into the same folder would silently replace the earlier labels. With ``overwrite`` the
    folder's cached top-k (``annotator_topk.npz``) is still reused: only the manifest and reports are
    rewritten. Called before the annotator runs, so a refusal costs no forward pass.
    """
    manifest = Path(out) / "manifest.csv"
    if manifest.exists() and not overwrite:
        raise UserError(
            f"--out {out} already holds {manifest.name} (an earlier run's labels): give --overwrite to "
            "replace it (the cached top-k is reused) or another --out"
        )


def annotator_inputs(table: LabelTable) -> Any:
    """What the annotator reads: the image files, or the pixels a table holds in memory."""
    if table.paths is not None:
        return table.image_paths()
    if table.pixels is not None:
        import torch

        return torch.from_numpy(np.ascontiguousarray(table.pixels)).permute(0, 3, 1, 2).float().div_(255)
    raise UserError(f"{table.source}: the annotator needs images, and this dataset has none (features only?)")


def annotate_table(table: LabelTable, cfg: AnnotateConfig) -> tuple[LabelTable, dict[str, Any]]:
    """``table`` with the annotator's labels as its noisy labels, and what happened (JSON-ready).

    Every row is annotated (as in the paper, which labels all images); only train rows are ever
    trained on as noisy. The class map is checked against the table's classes before any forward
    pass, so a bad map writes nothing.
    """
    lookup = class_lookup(read_class_map(cfg.class_map), table.classes, where=f"class map {cfg.class_map}")
    index, _ = annotator_topk(
        annotator_inputs(table),
        cache=cfg.out,
        annotator=cfg.annotator,
        weights=cfg.weights,
        image_size=cfg.image_size,
        ids=[str(i) for i in table.ids],
        content=table.source if table.paths is None else "",
        device=cfg.device,
        batch_size=cfg.batch_size,
        num_workers=cfg.num_workers,
        quiet=cfg.quiet,
    )
    labels = assign_labels(index, lookup, top_k=cfg.top_k, mode=cfg.label_mode)
    if cfg.label_mode == "single":
        has_noisy = labels >= 0
        lists = [[int(c)] if c >= 0 else [] for c in labels]
    else:  # an empty set is a noisy label too ("none of the classes"): the row stays in D_n
        has_noisy, lists = np.ones(len(table), bool), labels
    unlabelled = np.flatnonzero([not row for row in lists])
    out = replace(
        table,
        noisy=csr_from_lists(lists, table.num_classes),
        has_noisy=has_noisy,
        notes=list(table.notes),
        multi_label=table.multi_label or cfg.label_mode == "multi",
        source=f"{table.source} (noisy: top-{cfg.top_k} of {cfg.annotator}, {cfg.label_mode})",
    )
    info = {
        "without_mapped_prediction": int(len(unlabelled)),
        "without_mapped_prediction_ids": [str(table.ids[i]) for i in unlabelled],
        "mapped_imagenet_classes": int((lookup >= 0).sum()),
    }
    return out, info


def agreement(table: LabelTable) -> dict[str, Any]:
    """Where an image has both labels: the share of clean labels the annotator also gave, per class."""
    both = table.has_clean & table.has_noisy
    clean, noisy = table.clean[both].astype(bool), table.noisy[both].astype(bool)
    hits = np.asarray(clean.multiply(noisy).sum(axis=0)).ravel()
    total = np.asarray(clean.sum(axis=0)).ravel()
    return {
        name: {"agreement": round(float(hits[k] / total[k]), 4) if total[k] else None, "images": int(total[k])}
        for k, name in enumerate(table.classes)
    }


def write_protocol(full: LabelTable, cfg: Any, result: dict[str, Any], *, title: str) -> dict[str, Any]:
    """Write manifest.csv (clean fraction applied), protocol.json and noise.md; return protocol.json's dict.

    The noise is measured on ``full`` (every image whose clean label the input knows), before the
    clean fraction hides most of them.
    """
    lines = result.pop("_lines", [])
    noise = summarize(full)
    fraction = getattr(cfg, "clean_fraction", None)
    table = full.with_clean_fraction(fraction, cfg.seed) if fraction is not None else full
    out = Path(cfg.out)
    image_root = manifest_image_root(table, out / "manifest.csv")
    manifest = write_manifest(table, out / "manifest.csv", image_root=image_root)
    rates = noise["noise_rate"] or {}
    result = {
        "config": asdict(cfg),
        **result,
        "noise": {k: rates.get(k) for k in ("overall", "missing", "spurious", "per_class") if k in rates},
        "agreement_per_class": agreement(full),
        "label_cardinality": noise["label_cardinality"],
        "manifest": str(manifest),
        "image_root": str(image_root),
    }
    write_json(out / "protocol.json", result, indent=1)
    write_text(out / "noise.md", "\n".join([title, "", *lines, "", "```", format_summary(noise), "```", ""]))
    return result


def compile_annotated(table: LabelTable, cfg: AnnotateConfig) -> dict[str, Any]:
    """Annotate any dataset read by ``open_dataset`` and write the protocol; returns protocol.json's dict.

    Unless ``cfg.keep_unmapped_classes``, the classes the map gives no ImageNet index are dropped first
    (``drop_unmapped_classes``); every count printed is counted on what is written.
    """
    started = time.time()
    refuse_earlier_manifest(cfg.out, cfg.overwrite)
    class_map = read_class_map(cfg.class_map)
    class_lookup(class_map, table.classes, where=f"class map {cfg.class_map}")  # a bad map
    output_dir(cfg.out)  # and an unwritable --out fail before any work, with nothing written
    dropped = {"dropped_classes": [], "removed_images": 0}
    if not cfg.keep_unmapped_classes:
        table, dropped = drop_unmapped_classes(table, class_map)
    full, info = annotate_table(table, cfg)
    counts = {
        "images": len(full),
        "train": int(full.split_mask("train").sum()),
        "noisy": int(full.has_noisy.sum()),
        "clean": int(full.has_clean.sum()),
    }
    lines = [_dropped_line(dropped, cfg)] if dropped["dropped_classes"] else []
    lines += [
        f"{counts['images']:,} images; {counts['noisy']:,} with a noisy label; "
        f"{info['without_mapped_prediction']:,} without any mapped prediction among the top-{cfg.top_k}"
        + (
            " (no noisy label: left out of D_n)."
            if cfg.label_mode == "single"
            else " (an empty label set, <none> in the manifest)."
        )
    ]
    result = write_protocol(
        full,
        cfg,
        {"classes": list(full.classes), "counts": counts, **dropped, **info, "_lines": lines},
        title=f"# Machine-annotated labels: top-{cfg.top_k} of {cfg.annotator} "
        f"({cfg.label_mode}), class map {cfg.class_map}",
    )
    result["seconds"] = round(time.time() - started, 1)
    write_json(Path(cfg.out) / "protocol.json", result, indent=1)
    return result


def _dropped_line(dropped: dict[str, Any], cfg: AnnotateConfig) -> str:
    """One line: which classes the map leaves out and how many images that removed, split by split."""
    per = ", ".join(f"{s} {n:,}" for s, n in dropped["removed_per_split"].items())
    return (
        f"dropped {len(dropped['dropped_classes'])} class(es) that {cfg.class_map} gives no ImageNet index: "
        f"{', '.join(dropped['dropped_classes'])}; {dropped['removed_images']:,} images left without a clean "
        f"label removed{f' ({per})' if per else ''} (--keep-unmapped-classes keeps them)."
    )
